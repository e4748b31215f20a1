"""Worker-process isolation: a crash or hang in one lowering leaves the caller alive."""

from __future__ import annotations

import pytest

from etworkbench.lowering._workers import lower_in_workers

pytestmark = pytest.mark.slow  # each worker pays a fresh torch + executorch import


def test_worker_lowering_matches_in_process(teaching_xnnpack, tmp_path):
    stages = []
    report = lower_in_workers(
        "teaching_net",
        ["xnnpack"],
        out_dir=tmp_path,
        cache=False,  # lower for real in the worker, not from the session's cache
        progress=lambda label, stage: stages.append(stage),
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
