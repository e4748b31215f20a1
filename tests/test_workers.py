"""Worker-process isolation: a crash or hang in one lowering leaves the caller alive."""

from __future__ import annotations

import pytest
from _fake_backend import register_failing_backend

from etworkbench import load_model, lower
from etworkbench.lowering._fork_workers import can_fork
from etworkbench.lowering._workers import lower_in_workers

pytestmark = pytest.mark.slow  # real lowerings in worker processes
forked = pytest.mark.skipif(not can_fork(), reason="workers are forked on Linux only")


@pytest.mark.parametrize("start", ["default", "spawn"])  # spawn: what macOS and Windows get
def test_worker_lowering_matches_in_process(teaching_xnnpack, tmp_path, monkeypatch, start):
    if start == "spawn":
        monkeypatch.setenv("ETWB_WORKER_START", "spawn")
    stages = []
    report = lower_in_workers(
        "teaching_net",
        ["xnnpack"],
        out_dir=tmp_path,
        cache=False,  # lower for real in the worker, not from the session's cache
        progress=lambda event: stages.append(event.stage),
    )
    (result,) = report.results
    assert result.ok, result.summary_line()
    assert result.buffer == teaching_xnnpack["xnnpack"].buffer
    assert result.placement.delegated_nodes == teaching_xnnpack["xnnpack"].placement.delegated_nodes
    assert (tmp_path / "teaching_net_xnnpack.pte").exists()
    assert "to_executorch" in stages


def test_crash_in_worker_is_reported_and_caller_survives(fixtures_dir, tmp_path):
    report = lower_in_workers(f"{fixtures_dir}/misbehaving.py:crash", ["xnnpack"], out_dir=tmp_path)
    (result,) = report.results
    assert result.status == "failed"
    assert result.error.type == "WorkerCrashed"
    assert "killed by signal 9" in result.error.message
    assert not list(tmp_path.iterdir()), "a crashed lowering left files behind"


def test_hang_in_worker_times_out(fixtures_dir, tmp_path):
    report = lower_in_workers(
        f"{fixtures_dir}/misbehaving.py:hang", ["xnnpack"], out_dir=tmp_path, timeout=20
    )
    (result,) = report.results
    assert result.status == "failed" and result.error.stage == "timeout"
    assert "longer than 20 s" in result.error.message
    assert not list(tmp_path.iterdir())


@forked
def test_parallel_workers_share_one_export_and_give_the_same_pte(tmp_path):
    spec = load_model("tiny_convnet")
    in_process = lower(spec, ["xnnpack", "vulkan"], cache=False)
    stages = []
    report = lower(
        spec,
        ["xnnpack", "vulkan"],
        cache=False,
        jobs=2,
        out_dir=tmp_path,
        progress=lambda event: stages.append((event.backend, event.stage)),
    )
    assert [r.ok for r in report.results] == [True, True], report.summary()
    for name in ("xnnpack", "vulkan"):
        assert report[name].buffer == in_process[name].buffer
        assert report[name].placement.delegated_nodes == in_process[name].placement.delegated_nodes
        assert (tmp_path / f"tiny_convnet_{name}.pte").read_bytes() == in_process[name].buffer
    # The hub exported once; a worker that exported again would report its own "export".
    assert [stage for _, stage in stages].count("export") == 1
    assert {label for label, stage in stages if stage == "started worker"} == {"xnnpack", "vulkan"}


@forked
def test_a_backend_that_kills_its_worker_fails_alone(monkeypatch, tmp_path):
    register_failing_backend(monkeypatch, "crasher", "preprocess-crash")
    report = lower("tiny_convnet", ["crasher", "xnnpack"], jobs=2, cache=False, out_dir=tmp_path)
    assert report["xnnpack"].ok, report.summary()
    crashed = report["crasher"]
    assert crashed.status == "failed" and crashed.error.type == "WorkerCrashed"
    assert "killed by signal 9" in crashed.error.message
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_convnet_xnnpack.pte"]


@forked
def test_a_hanging_backend_times_out_alone(monkeypatch, tmp_path):
    register_failing_backend(monkeypatch, "hanger", "preprocess-hang")
    report = lower_in_workers(
        "tiny_convnet", ["hanger", "xnnpack"], jobs=2, cache=False, timeout=15, out_dir=tmp_path
    )
    assert report["xnnpack"].ok, report.summary()
    hung = report["hanger"]
    assert hung.status == "failed" and hung.error.stage == "timeout"
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_convnet_xnnpack.pte"]


@forked
def test_cancel_stops_running_workers_and_writes_nothing(monkeypatch, tmp_path):
    register_failing_backend(monkeypatch, "hanger", "preprocess-hang")
    started = []
    report = lower(
        "tiny_convnet",
        ["hanger", "xnnpack", "vulkan"],
        jobs=2,
        cache=False,
        out_dir=tmp_path,
        progress=lambda event: (
            started.append(event.backend) if event.stage == "started worker" else None
        ),
        stop=lambda: len(started) >= 2,
    )
    assert [r.error.stage for r in report.results] == ["cancel"] * 3, report.summary()
    assert not list(tmp_path.iterdir()), "a cancelled lowering left files behind"


@forked
@pytest.mark.timeout(300)
def test_a_worker_killed_halfway_through_a_message_fails_alone(monkeypatch, tmp_path):
    """With one queue shared by all workers this cut the caller's stream: lower() itself raised
    UnpicklingError and every result was lost. A pipe per worker confines it to that worker."""
    import os
    import signal
    import struct
    from multiprocessing.connection import Connection

    from etworkbench.lowering import _worker_protocol

    real_worker = _worker_protocol.lower_one

    def cut_off(request, channel: Connection):  # forked workers inherit this patch
        if request.label != "vulkan":
            return real_worker(request, channel)
        # A message header announcing 1000 bytes, ten of them, then death mid-message.
        os.write(channel.fileno(), struct.pack("!i", 1000) + b"x" * 10)
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(_worker_protocol, "lower_one", cut_off)
    plain = lower("tiny_convnet", ["xnnpack"], cache=False)["xnnpack"]
    report = lower("tiny_convnet", ["vulkan", "xnnpack"], jobs=2, cache=False, out_dir=tmp_path)
    assert report["xnnpack"].ok and report["xnnpack"].buffer == plain.buffer, report.summary()
    cut = report["vulkan"]
    assert cut.status == "failed" and cut.error.type == "WorkerCrashed"
    assert "killed by signal 9" in cut.error.message
    assert [p.name for p in tmp_path.iterdir()] == ["tiny_convnet_xnnpack.pte"]


@forked
def test_each_result_is_handed_over_as_its_program_ends(monkeypatch):
    """What lets a sweep write a finished cell before a slow one ends (or an interrupt comes)."""
    import time

    register_failing_backend(monkeypatch, "hanger", "preprocess-hang")
    handed: list[tuple[str, str, float]] = []
    start = time.monotonic()
    report = lower_in_workers(
        "tiny_convnet",
        ["hanger", "xnnpack"],
        jobs=2,
        cache=False,
        timeout=20,
        on_result=lambda r: handed.append((r.backend, r.status, time.monotonic() - start)),
    )
    assert [(name, status) for name, status, _ in handed] == [
        ("xnnpack", "ok"),
        ("hanger", "failed"),
    ]
    assert handed[0][2] < 20 <= handed[1][2]  # xnnpack's came while the other still ran
    assert [r.backend for r in report.results] == ["hanger", "xnnpack"]
