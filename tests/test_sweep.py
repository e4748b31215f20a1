"""Sweeps: one JSON per cell, resumable without redoing finished cells, combined report."""

from __future__ import annotations

import json

import pytest

from etworkbench.analysis.placement import NodeCounts
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
    # teaching_net: mean and cumsum run CPU kernels, two getitems unpack the delegates.
    assert (record["cpu_kernel_nodes"], record["structural_nodes"]) == (2, 2)
    assert record["fallback_nodes"] == 4 and record["delegated_share"] == 3 / 5
    html = (out / "report.html").read_text()
    assert "Sweep: 2 of 2 cells lowered" in html and "aten.cumsum.default" in html
    assert "<td>3</td><td>2</td><td>2</td><td>60%</td><td>3 / 4</td>" in html
    csv = (out / "coverage.csv").read_text()
    assert "aten.cumsum.default,xnnpack,0,1,0" in csv
    # 2 + 1 getitems unpack the delegates; tiny_convnet's batch norm has one inside its delegate
    assert "getitem,xnnpack,1,0,3" in csv

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
    assert summary.counts[("m1", "b")] == NodeCounts(3, 1, 0)
    assert summary.blocking["b"] == [("aten.cumsum.default", 1, 1)]
    assert summary.failures[0]["why"] == "boom"
    assert "aten.relu.default,b,3,0,0" in coverage_csv(summary)
    assert "Not lowered" in sweep_html(summary)


def test_summary_share_leaves_structural_nodes_out():
    # Two getitems unpack the delegates: get_delegation_info says 3 delegated / 3 non-delegated,
    # the share counts only kernel-running nodes: 3 of 4. A record from before the split
    # (no cpu_kernel_nodes / structural_nodes) is read the same way from its reasons.
    reasons = [
        {"op": "aten.cumsum.default", "reason": "no b implementation"},
        {"op": "getitem", "reason": "structural: unpacks a delegate output; runs no kernel"},
        {"op": "getitem", "reason": "structural: unpacks a delegate output; runs no kernel"},
    ]
    ops = [
        {"op": "aten_cumsum_default", "target": "aten.cumsum.default", "delegated": 0,
         "fallback": 1},
        {"op": "getitem", "target": "getitem", "delegated": 0, "fallback": 2},
        {"op": "aten_relu_default", "target": "aten.relu.default", "delegated": 3, "fallback": 0},
    ]  # fmt: skip
    old = {"model": "m", "backend": "b", "status": "ok", "delegated_nodes": 3,
           "fallback_nodes": 3, "ops": ops, "fallback_reasons": reasons}  # fmt: skip
    new = old | {"cpu_kernel_nodes": 1, "structural_nodes": 2, "delegated_share": 0.75}
    for record in (old, new):
        summary = summarize([record])
        assert summary.counts[("m", "b")] == NodeCounts(3, 1, 2)
        assert summary.delegated_share[("m", "b")] == 0.75
        assert summary.blocking["b"] == [("aten.cumsum.default", 1, 1)]
        assert "getitem,b,0,0,2" in coverage_csv(summary)


def test_plan_expands_all_and_default_schemes():
    cells = plan("all", ["xnnpack"], [None])
    assert len(cells) >= 10 and all(c.scheme == "fp32" for c in cells)


def test_dask_executor_on_a_local_cluster(tmp_path):
    records = run_sweep("teaching_net", ["xnnpack"], tmp_path, executor="dask", jobs=1)
    (record,) = records
    assert record["status"] == "ok" and record["delegated_nodes"] == 3
    assert (tmp_path / "cells" / "teaching_net__xnnpack__fp32.json").exists()
