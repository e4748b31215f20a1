"""Renderers: graph DOT/SVG, coverage and size tables. Synthetic placements keep most tests fast.

Snapshot: tests/snapshots/small_placement.dot; `ETWB_UPDATE_SNAPSHOTS=1 pytest tests/test_views.py`
rewrites it after an intended change (review the diff).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from etworkbench.analysis.placement import DelegateSummary, NodePlacement, Placement
from etworkbench.views import coverage as C
from etworkbench.views import graph as G
from etworkbench.views import sizes as S

SNAPSHOTS = Path(__file__).parent / "snapshots"


def small_placement() -> Placement:
    """x -> [conv, relu] (xnnpack) -> getitem -> mean (CPU) -> [linear] (xnnpack) -> getitem."""

    def d(name, target, delegate, inputs, module=""):
        return NodePlacement(
            f"{delegate}/{name}", name, target, True, "xnnpack", delegate, module, "", "",
            "float32[1, 8]", inputs=inputs,
        )  # fmt: skip

    nodes = [
        d("aten_convolution_default", "aten.convolution.default", "lowered_module_0", ["x"], "conv"),
        d("aten_relu_default", "aten.relu.default", "lowered_module_0",
          ["lowered_module_0/aten_convolution_default"]),
        NodePlacement("getitem_1", "getitem", "getitem", False, structural=True,
                      reason="structural: unpacks a delegate output; runs no kernel",
                      inputs=["lowered_module_0/aten_relu_default"]),
        NodePlacement("aten_mean_dim", "aten_mean_dim", "aten.mean.dim", False,
                      module_path="pool", module_type="Pool", source="net.py:23: y.mean(...)",
                      shape="float32[1, 8]", reason="mean.dim only supports keepdim=True",
                      inputs=["getitem_1"]),
        d("aten_linear_default", "aten.linear.default", "lowered_module_1", ["aten_mean_dim"], "fc"),
        NodePlacement("getitem", "getitem", "getitem", False, structural=True,
                      reason="structural: unpacks a delegate output; runs no kernel",
                      inputs=["lowered_module_1/aten_linear_default"]),
    ]  # fmt: skip
    delegates = [
        DelegateSummary("lowered_module_0", "xnnpack", "XnnpackBackend", 2, 100, 50),
        DelegateSummary("lowered_module_1", "xnnpack", "XnnpackBackend", 1, 60, 20),
    ]
    return Placement(nodes, delegates, ["x"], ["getitem"], 2)


def big_placement(blocks: int = 40) -> Placement:
    """`blocks` repeated blocks features.<i>: 5 delegated nodes, 1 CPU fallback, 1 getitem."""
    nodes: list[NodePlacement] = []
    previous = "x"
    for i in range(blocks):
        delegate = f"lowered_module_{i}"
        for j, op in enumerate(["convolution", "relu", "convolution", "relu", "add"]):
            name = f"{delegate}/aten_{op}_{j}"
            nodes.append(
                NodePlacement(name, f"aten_{op}", f"aten.{op}.default", True, "xnnpack", delegate,
                              f"features.{i}.conv.{j}", inputs=[previous])
            )  # fmt: skip
            previous = name
        nodes.append(
            NodePlacement(f"getitem_{i}", "getitem", "getitem", False, structural=True,
                          inputs=[previous])
        )  # fmt: skip
        nodes.append(
            NodePlacement(f"aten_cumsum_{i}", "aten_cumsum", "aten.cumsum.default", False,
                          module_path=f"features.{i}.scan", reason="no XNNPACK implementation",
                          inputs=[f"getitem_{i}"])
        )  # fmt: skip
        previous = f"aten_cumsum_{i}"
    delegates = [
        DelegateSummary(f"lowered_module_{i}", "xnnpack", "XnnpackBackend", 5, 0, 0)
        for i in range(blocks)
    ]
    return Placement(nodes, delegates, ["x"], [previous], blocks)


def node_ids(dot: str) -> list[str]:
    return re.findall(r"^\s+(\w+) \[", dot, flags=re.M)


def test_small_placement_dot_matches_snapshot():
    dot = G.placement_to_dot(small_placement())
    assert dot == G.placement_to_dot(small_placement())  # deterministic
    path = SNAPSHOTS / "small_placement.dot"
    if os.environ.get("ETWB_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(dot, encoding="utf-8")
    elif not path.exists():  # a lost snapshot must not silently become whatever is drawn now
        pytest.fail(f"no snapshot {path}; create it with ETWB_UPDATE_SNAPSHOTS=1 and review it")
    assert dot == path.read_text(encoding="utf-8"), (
        "DOT changed; if intended, rerun with ETWB_UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_small_placement_svg_has_classes_clusters_and_tooltips():
    svg = G.placement_svg(small_placement(), collapse=False)
    assert svg.lstrip().startswith("<!--") or svg.lstrip().startswith("<svg")
    assert svg.count('class="node etwb-delegated"') == 3
    assert svg.count('class="node etwb-fallback"') == 1
    assert svg.count('class="node etwb-structural"') == 2
    assert svg.count('class="cluster etwb-delegate"') == 2  # one box per delegate instance
    title = re.search(r'id="N_aten_mean_dim" class="node etwb-fallback">\s*<title>([^<]*)', svg)
    assert "mean.dim only supports keepdim=True" in title.group(1)
    assert "net.py:23" in title.group(1)


def test_teaching_net_svg_shows_delegated_and_fallback_with_reason(teaching_xnnpack):
    placement = teaching_xnnpack["xnnpack"].placement
    svg = G.placement_svg(placement)
    assert "etwb-delegated" in svg and "etwb-fallback" in svg
    fallback_titles = re.findall(r'class="node etwb-fallback">\s*<title>([^<]*)', svg)
    assert any("mean.dim only supports keepdim=True" in t for t in fallback_titles)
    assert any("cumsum" in t for t in fallback_titles)


def test_big_placement_defaults_to_the_module_hierarchy():
    placement = big_placement(40)
    assert len(placement.nodes) > G.AUTO_FULL_LIMIT
    dot = G.placement_to_dot(placement)  # collapse="auto"
    ids = node_ids(dot)
    assert sum(i.startswith("D_") for i in ids) == 0  # modules, not delegate instances
    assert sum(i.startswith("M_") for i in ids) == 40  # features.0 ... features.39
    assert not any(i.startswith("N_") for i in ids)
    assert "5 nodes" in dot

    opened = node_ids(G.placement_to_dot(placement, expand=("lowered_module_3", "features.7")))
    assert sum(i.startswith("N_lowered_module_3_") for i in opened) == 5
    assert "D_xnnpack_lowered_module_3" not in opened
    assert "N_aten_cumsum_7" in opened and "M_features_7" not in opened

    full = node_ids(G.placement_to_dot(placement, collapse=False))
    assert sum(i.startswith("N_") for i in full) == len(placement.nodes)


def test_search_highlights_matching_nodes_and_groups():
    dot = G.placement_to_dot(small_placement(), search="MEAN")
    assert re.search(r'N_aten_mean_dim \[[^\n]*class="etwb-fallback etwb-match"', dot)
    assert dot.count("etwb-match") == 1
    collapsed = G.placement_to_dot(big_placement(40), search="cumsum")
    assert collapsed.count("etwb-match") == 40  # the CPU block of every features.<i>


def test_render_time_of_a_collapsed_big_graph_is_small():
    import time

    start = time.perf_counter()
    G.placement_svg(big_placement(120))  # 840 nodes, like vit_b_16
    assert time.perf_counter() - start < 10  # measured ~0.3 s; generous for a busy machine


def test_coverage_matrix_counts_equal_the_placement_coverage(teaching_xnnpack):
    """Rows are the exported program's ops (conv2d, which XNNPACK ran as convolution); each
    row counts the nodes that came from it, and every node is in exactly one row."""
    from etworkbench.analysis.placement import NodeCounts

    result = teaching_xnnpack["xnnpack"]
    matrix = C.coverage_matrix(teaching_xnnpack)
    assert "aten.conv2d.default" in matrix.index
    assert "aten.convolution.default" not in matrix.index
    for op in matrix.index:
        counts = NodeCounts.of(n for n in result.placement.nodes if C.row_op(n) == op)
        assert matrix.loc[op, ("xnnpack", "delegated")] == counts.delegated
        assert matrix.loc[op, ("xnnpack", "cpu_kernel")] == counts.cpu_kernels
        assert matrix.loc[op, ("xnnpack", "structural")] == counts.structural
    assert int(matrix.to_numpy().sum()) == len(result.placement.nodes)
    counts = result.placement.counts
    for kind, value in (("delegated", 3), ("cpu_kernel", 2), ("structural", 2)):
        assert int(matrix.xs(kind, axis=1, level="placement").to_numpy().sum()) == value
    assert (counts.delegated, counts.cpu_kernels, counts.structural) == (3, 2, 2)
    kernels_only = C.coverage_matrix(teaching_xnnpack, structural=False)
    assert "getitem" not in kernels_only.index
    assert int(kernels_only.to_numpy().sum()) == counts.kernel_nodes


def test_coverage_figures_and_fallback_table(teaching_xnnpack, tmp_path):
    fig = C.coverage_figure(teaching_xnnpack, sort="fallback")
    heat = fig.data[0]
    assert list(heat.x) == ["xnnpack"] and "aten.cumsum.default" in list(heat.y)
    assert list(heat.y)[0] in ("aten.cumsum.default", "aten.mean.dim")  # fallbacks first
    share = C.delegated_share_figure(teaching_xnnpack)
    assert share.data[0].y[0] == pytest.approx(3 / 5)  # 3 of 5 kernel-running nodes

    table = C.fallback_table(teaching_xnnpack)
    assert list(table.columns[:7]) == [
        "model",
        "backend",
        "node",
        "op",
        "reason",
        "advice",
        "source",
    ]
    assert set(table["op"]) == {"aten.mean.dim", "aten.cumsum.default"}
    assert C.export_table(table, tmp_path / "f.csv").read_text().count("\n") == 3
    assert "<table" in C.export_table(table, tmp_path / "f.html").read_text()


def test_sizes_table_parts_add_up(teaching_xnnpack):
    report = teaching_xnnpack
    table = S.sizes_table(report)
    row = table.loc["xnnpack"]
    parts = ["delegate_payload_MB", "delegate_data_MB", "constant_MB", "other_MB"]
    assert sum(row[p] for p in parts) == pytest.approx(row["pte_MB"])
    assert row["pte_MB"] * 1e6 == pytest.approx(report["xnnpack"].sizes.pte_bytes)
    assert row["eager_parameters_MB"] * 1e6 == pytest.approx(report.parameter_bytes)

    fig = S.sizes_figure(report, parameter_bytes=2_000_000)
    assert [t.name for t in fig.data[:4]] == [label for _, label, _ in S.PARTS]
    assert fig.layout.shapes[0].y0 == pytest.approx(2.0)  # the eager reference line, MB


def test_failure_html_names_stage_node_and_folds_the_traceback():
    from etworkbench.lowering import BackendResult, Failure
    from etworkbench.views.failures import failure_html

    failed = BackendResult("xnnpack", ["xnnpack"], "fp32", "failed")
    failed.error = Failure("partition", "RuntimeError", "boom <x>", "aten_foo", "aten.foo",
                           "net.py:3: foo(x)", "Traceback ...")  # fmt: skip
    html = failure_html(failed)
    assert "partition" in html and "aten.foo" in html and "net.py:3" in html
    assert "boom &lt;x&gt;" in html and "<details>" in html
    gone = BackendResult("qnn", ["qnn"], "fp32", "unavailable", reason="no SDK", hint="get it")
    assert "no SDK" in failure_html(gone) and "get it" in failure_html(gone)
    assert failure_html(BackendResult("x", ["x"], "fp32", "ok")) == ""
