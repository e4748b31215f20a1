"""Progress is a typed event: `Progress(backend, stage, done, total)`, never a string to parse."""

from __future__ import annotations

import dataclasses

import pytest

from etworkbench import Progress, lower
from etworkbench.errors import UsageError
from etworkbench.lowering._results import BackendResult, LoweringReport
from etworkbench.lowering._triage import Failure
from etworkbench.lowering._worker_protocol import (
    FailedMessage,
    Job,
    ProgressMessage,
    ResultMessage,
    UsageMessage,
    dispatch,
)


def test_lower_reports_each_stage_and_counts_calibration_batches():
    events: list[Progress] = []
    report = lower("teaching_net", ["xnnpack"], "int8", cache=False, progress=events.append)
    assert report["xnnpack"].ok, report.summary()
    assert all(isinstance(e, Progress) and e.backend == "xnnpack" for e in events)
    stages = [e.stage for e in events]
    assert stages[0] == "quantize" and stages[-1] == "done"
    assert stages.index("to_edge+partition") < stages.index("to_executorch")
    counted = [(e.done, e.total) for e in events if e.stage == "calibrate"]
    assert counted == [(1, 1)]  # the example inputs: one batch
    assert all(e.done is None and e.total is None for e in events if e.stage != "calibrate")


def test_progress_reads_as_a_line():
    assert str(Progress("xnnpack", "export")) == "[xnnpack] export"
    assert str(Progress("a+b", "calibrate", 3, 8)) == "[a+b] calibrate 3/8"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Progress("x", "done").stage = "failed"  # type: ignore[misc]


def test_worker_messages_are_dispatched_by_type():
    finished: dict[str, BackendResult] = {}
    events: list[Progress] = []
    jobs = [Job("xnnpack", ["xnnpack"]), Job("vulkan", ["vulkan"])]

    def finish(job: Job, result: BackendResult) -> None:
        finished[job.label] = result

    def send(message) -> None:
        dispatch(message, jobs, finish, events.append, "m")

    send(ProgressMessage(Progress("xnnpack", "export")))
    ok = BackendResult("xnnpack", ["xnnpack"], "fp32", "ok", model="m")
    send(ResultMessage("xnnpack", LoweringReport("m", "", 0, [ok])))
    send(FailedMessage("vulkan", Failure("preprocess", "RuntimeError", "boom")))
    assert events == [Progress("xnnpack", "export")]
    assert finished["xnnpack"] is ok
    failed = finished["vulkan"]
    assert failed.status == "failed" and failed.error.stage == "preprocess"
    with pytest.raises(UsageError, match="bad scheme"):
        send(UsageMessage("vulkan", "bad scheme"))
