"""Graph colour modes: a NodeOverlay coloured on the graph, its legend, collapsed boxes'
aggregates, and the worst-nodes table driving the selection (no browser)."""

from __future__ import annotations

import re

import pytest

from etworkbench.analysis.overlays import NodeOverlay
from etworkbench.views import graph as G
from etworkbench.views.graph_overlay import NO_VALUE, SCALE


@pytest.fixture(scope="module")
def result(teaching_xnnpack):
    return teaching_xnnpack["xnnpack"]


def latency(result) -> NodeOverlay:
    """A made-up latency overlay: the CPU nodes, one delegate call as a block, one node."""
    return NodeOverlay(
        "latency",
        "ms",
        {"aten_mean_dim": 1.0, "aten_cumsum_default": 3.0, "lowered_module_1": 2.0},
        {"aten_mean_dim": {"median ms": 1.0, "count": 5}},
        note="made up",
    )


def fill_of(dot: str, box_id: str) -> str:
    line = next(line for line in dot.splitlines() if line.strip().startswith(box_id + " "))
    return re.search(r'fillcolor="([^"]+)"', line).group(1)


def test_full_view_colours_by_value_greys_the_rest_and_labels_the_scale(result):
    dot = G.to_dot(G.build_view(result.placement, "full", overlay=latency(result)))
    assert fill_of(dot, "N_aten_mean_dim") == SCALE[0]  # the lowest drawn value
    assert fill_of(dot, "N_aten_cumsum_default") == SCALE[-1]  # the highest
    assert fill_of(dot, "N_lowered_module_0_aten_convolution_default") == NO_VALUE
    assert "latency (ms): 1 ms – 3 ms" in dot and "no value for this node" in dot
    assert "xnnpack · lowered_module_1 · 2 ms" in dot  # the block's total on its frame
    placement_dot = G.to_dot(G.build_view(result.placement, "full"))
    assert fill_of(placement_dot, "N_aten_mean_dim") != fill_of(dot, "N_aten_mean_dim")


def test_collapsed_boxes_show_total_latency_and_worst_error(result):
    placement = result.placement
    view = G.build_view(placement, "delegate", overlay=latency(result))
    assert view.box("D_xnnpack_lowered_module_1").value == 2.0  # the call measured whole
    assert view.box("D_xnnpack_lowered_module_0").value is None
    names = [n.name for n in placement.nodes if n.kind != "structural"]
    error = NodeOverlay(
        "error", "dB", {n: float(i) for i, n in enumerate(names)}, higher_is_worse=False
    )  # fmt: skip  (SNR-like: lower is worse)
    module = G.build_view(placement, "module", overlay=error)
    for box in module.boxes:
        if box.kind == "module":
            inside = [error.values[m] for m in box.members if m in error.values]
            assert box.value == min(inside)
    totals = G.build_view(placement, "module", overlay=NodeOverlay("latency", "ms",
                          {n: 1.0 for n in names}))  # fmt: skip
    for box in totals.boxes:
        if box.kind == "module":
            assert box.value == sum(1.0 for m in box.members if m in names)
    svg = G.to_svg(G.to_dot(totals))
    assert "etwb-valued" in svg and "total: " in svg


def test_worst_rows_and_details(result):
    overlay = latency(result)
    rows = G.worst_rows(overlay, result.placement, 10)
    assert [key for _, key in rows] == ["aten_cumsum_default", "lowered_module_1", "aten_mean_dim"]
    assert "aten.cumsum.default (CPU)" in rows[0][0]
    assert "count: 5" in G.details_text(overlay, "aten_mean_dim")


def test_widget_mode_selector_and_worst_table_select_the_node(result):
    from etworkbench.ui._graph_panel import BackendGraph

    pane = BackendGraph(result)
    bar = pane.overlay_bar
    assert bar.colour.disabled and list(bar.colour.options) == [("placement", "placement")]
    before = pane.graph.svg
    bar.add(latency(result))
    assert not bar.colour.disabled and bar.colour.value == "latency"
    assert pane.graph.svg != before and "latency (ms)" in pane.graph.svg
    assert bar.worst_box.layout.display == ""
    bar.worst.value = "aten_mean_dim"  # a click on the table's row
    assert pane.graph.selected == "N_aten_mean_dim"
    assert "median ms: 1.0" in pane.details.value and "aten.mean.dim" in pane.details.value
    bar.worst.value = "lowered_module_1"  # a delegate call: its frame in the full view
    assert pane.graph.selected == "cluster_lowered_module_1"
    assert "lowered_module_1: 1 nodes delegated to xnnpack" in pane.details.value
    bar.colour.value = "placement"
    assert pane.graph.svg == before and bar.worst_box.layout.display == "none"


def test_worst_row_opens_the_module_that_hides_the_node(result):
    from etworkbench.ui._graph_panel import BackendGraph

    pane = BackendGraph(result)
    pane.mode.value = "module"
    name = "lowered_module_1/aten_linear_default"
    assert not any(b.id == "N_" + G._safe(name) for b in pane.view.boxes)  # inside M_fc
    pane.overlay_bar.add(NodeOverlay("error", "dB", {name: 5.0}))
    pane.overlay_bar.worst.value = name
    assert pane.graph.selected == "N_" + G._safe(name)
    assert "M_fc" in pane.expanded and "error (dB)" in pane.details.value


def test_numerics_button_colours_by_error(result):
    from etworkbench.ui._graph_panel import BackendGraph

    pane = BackendGraph(result)
    bar = pane.overlay_bar
    bar.numerics.click()
    assert bar.colour.value == "error", bar.message.value
    assert "no node diverges" in bar.message.value  # fp32 XNNPACK: float noise only
    placement = {n.name for n in result.placement.nodes}
    assert set(bar.overlay.values) <= placement and bar.overlay.values
    assert "error (rel)" in pane.graph.svg
    bar.worst.value = "aten_mean_dim"
    assert "relative" in pane.details.value
