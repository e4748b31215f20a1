"""Sweeps: one JSON per cell, resumable without redoing finished cells, combined report."""

from __future__ import annotations

import json

import pytest

from etworkbench.cli import main
from etworkbench.sweep import run_sweep, summarize
from etworkbench.sweep._run import plan
from etworkbench.views.sweep_report import coverage_csv, sweep_html

pytestmark = pytest.mark.slow  # workers pay a fresh torch + executorch import each


def test_sweep_writes_cells_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "--models",
        "teaching_net,tiny_convnet",
        "--backends",
        "xnnpack",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    cells = sorted((out / "cells").glob("*.json"))
    assert [c.name for c in cells] == [
        "teaching_net__xnnpack__fp32.json",
        "tiny_convnet__xnnpack__fp32.json",
    ]
    record = json.loads(cells[0].read_text())
    assert record["status"] == "ok" and record["delegated_nodes"] == 3
    html = (out / "report.html").read_text()
    assert "Sweep: 2 of 2 cells lowered" in html and "aten.cumsum.default" in html
    assert "aten.cumsum.default,xnnpack,0,1" in (out / "coverage.csv").read_text()

    # Interrupted sweep: one cell missing. Only that one is redone.
    kept = cells[1].stat().st_mtime_ns
    cells[0].unlink()
    capsys.readouterr()
    assert main(argv) == 0
    assert "1 of 2 cells already done; 1 to run" in capsys.readouterr().err
    assert cells[0].exists() and cells[1].stat().st_mtime_ns == kept


def test_summary_ranks_blocking_ops_and_shares():
    records = [
        {
            "model": "m1", "backend": "b", "status": "ok", "delegated_nodes": 3, "fallback_nodes": 1,
            "ops": [{"target": "aten.cumsum.default", "delegated": 0, "fallback": 1},
                    {"target": "aten.relu.default", "delegated": 3, "fallback": 0}],
            "fallback_reasons": [{"op": "aten.cumsum.default", "reason": "no b implementation"}],
        },
        {"model": "m2", "backend": "b", "status": "failed", "error": {"message": "boom"}},
    ]  # fmt: skip
    summary = summarize(records)
    assert summary.cells == 2 and summary.ok == 1
    assert summary.delegated_share[("m1", "b")] == 0.75
    assert summary.blocking["b"] == [("aten.cumsum.default", 1, 1)]
    assert summary.failures[0]["why"] == "boom"
    assert "aten.relu.default,b,3,0" in coverage_csv(summary)
    assert "Not lowered" in sweep_html(summary)


def test_plan_expands_all_and_default_schemes():
    cells = plan("all", ["xnnpack"], [None])
    assert len(cells) >= 10 and all(c.scheme == "fp32" for c in cells)


def test_dask_executor_on_a_local_cluster(tmp_path):
    records = run_sweep("teaching_net", ["xnnpack"], tmp_path, executor="dask", jobs=1)
    (record,) = records
    assert record["status"] == "ok" and record["delegated_nodes"] == 3
    assert (tmp_path / "cells" / "teaching_net__xnnpack__fp32.json").exists()
