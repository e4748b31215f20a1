"""The `etwb` CLI: JSON schema, exit codes, messages for bad usage."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from etworkbench.cli import main

ETWB = [sys.executable, "-m", "etworkbench.cli"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ETWB, *args], capture_output=True, text=True, timeout=600)


def test_backends_json_has_required_fields(capsys):
    assert main(["backends", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows, "no backend rows"
    for row in rows:
        for key in ("name", "available", "reason", "hardware", "platforms", "runs_on_host"):
            assert key in row, f"{row.get('name')}: missing {key}"
        assert row["available"] or row["reason"], f"{row['name']}: unavailable without a reason"
    assert any(r["name"] == "xnnpack" and r["available"] for r in rows)


def test_models_lists_the_zoo(capsys):
    assert main(["models", "--json"]) == 0
    names = {m["name"] for m in json.loads(capsys.readouterr().out)}
    required = {"mobilenet_v2", "mobilenet_v3_small", "resnet18", "efficientnet_b0", "vit_b_16"}
    assert required <= names
    assert {"teaching_net", "transformer_block", "small_lstm"} <= names


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["lower", "no_such_model"], "unknown model 'no_such_model'; choose one of: mobilenet_v2"),
        (
            ["lower", "teaching_net", "--backends", "nope"],
            "unknown backend 'nope'; choose one of: xnnpack",
        ),
        (
            ["lower", "teaching_net", "--quant", "int3"],
            "has no quantization scheme 'int3'; its schemes are: fp32",
        ),
        (["lower", "missing_file.py:make"], "file 'missing_file.py' does not exist"),
    ],
)
def test_bad_usage_exits_2_with_a_message_naming_the_value(argv, needle, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert needle in captured.err
    assert "Traceback" not in captured.err


def test_lower_json_schema_and_files(tmp_path: Path):
    proc = run_cli(
        "lower", "teaching_net", "--backends", "xnnpack", "--out", str(tmp_path), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] == "teaching_net"
    (result,) = report["results"]
    for key in (
        "backend", "status", "pte_path", "pte_bytes", "delegated_nodes", "fallback_nodes",
        "ops", "fallback_reasons", "delegates", "timings_s", "error",
    ):  # fmt: skip
        assert key in result
    assert result["status"] == "ok" and result["error"] is None
    pte = Path(result["pte_path"])
    assert pte == tmp_path / "teaching_net_xnnpack.pte"
    assert pte.stat().st_size == result["pte_bytes"]
    assert result["delegated_nodes"] == sum(o["delegated"] for o in result["ops"])
    assert result["fallback_nodes"] == sum(o["fallback"] for o in result["ops"])
    assert {"op", "delegated", "fallback"} <= set(result["ops"][0])
    assert all({"node", "op", "reason"} <= set(r) for r in result["fallback_reasons"])
    assert all(r["reason"] for r in result["fallback_reasons"])
    assert all({"backend", "bytes", "nodes"} <= set(d) for d in result["delegates"])
    assert {"partition", "preprocess", "to_executorch", "save"} <= set(result["timings_s"])
    assert not list(tmp_path.glob(".*.tmp")), "temp file left behind"


def test_lower_summary_text(tmp_path: Path):
    proc = run_cli("lower", "teaching_net", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Lowered 1/1 backends for teaching_net" in proc.stdout
    assert (
        "delegated 3 / CPU fallback 2 / structural 2 nodes, 60% delegated "
        "(get_delegation_info: 3 delegated / 4 non-delegated)"
    ) in proc.stdout
    assert re.search(r"xnnpack: ok  \d+\.\d KB  delegated", proc.stdout)  # a 5 KB .pte
    assert "0.00 MB" not in proc.stdout
    assert (
        "    cpu: mean.dim×1 (mean.dim only supports keepdim=True); cumsum×1 (no XNNPACK implementation)"
    ) in proc.stdout


def test_lower_run_profile_prints_the_etdump_table(tmp_path: Path):
    proc = run_cli(
        "lower", "teaching_net", "--out", str(tmp_path), "--run", "--repeats", "1", "--profile"
    )
    assert proc.returncode == 0, proc.stderr
    assert "xnnpack ETDump profile:" in proc.stdout
    assert "DELEGATE_CALL" in proc.stdout


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (999, "999 B"), (2100, "2.1 KB"), (5264, "5.3 KB"), (999_951, "1.0 MB"),
     (3_400_000, "3.4 MB"), (47_250_000, "47.2 MB"), (2_100_000_000, "2.1 GB"), (None, "n/a")],
)  # fmt: skip
def test_human_bytes(count, text):
    from etworkbench._io import human_bytes

    assert human_bytes(count) == text


def test_fallback_listing_groups_ops_with_counts_and_reasons():
    from etworkbench.analysis._counts import NodePlacement, fallback_listing

    def node(i, target, reason, **kw):
        return NodePlacement(f"n{i}", target, target, delegated=False, reason=reason, **kw)

    nodes = [
        node(0, "aten.cumsum.default", "no XNNPACK implementation of aten.cumsum.default"),
        node(1, "aten.where.self", "no XNNPACK implementation of aten.where.self"),
        node(2, "aten.cumsum.default", "no XNNPACK implementation of aten.cumsum.default"),
        node(3, "getitem", "structural: unpacks a delegate output", structural=True),
        node(4, "aten.mean.dim", "mean.dim only supports keepdim=True"),
        NodePlacement("d", "aten_add", "aten.add.Tensor", delegated=True, backend="xnnpack"),
    ]
    assert fallback_listing(nodes) == (
        "cumsum×2, where.self×1 (no XNNPACK implementation); "
        "mean.dim×1 (mean.dim only supports keepdim=True)"
    )
    many = [node(i, f"aten.op{i}.default", "unsupported") for i in range(11)]
    assert fallback_listing(many) == (
        ", ".join(f"op{i}×1" for i in range(8)) + " (unsupported); … and 3 more"
    )
    assert fallback_listing(nodes[3:4]) == ""
