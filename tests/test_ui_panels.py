"""The panels on their own (no browser, no app): graph clicks, compare, save, export, failures."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("ipywidgets")

from etworkbench._io import human_bytes  # noqa: E402
from etworkbench.lowering import BackendResult, Failure, LoweringReport  # noqa: E402
from etworkbench.ui._coverage_panel import CoveragePanel  # noqa: E402
from etworkbench.ui._failures_panel import FailuresPanel  # noqa: E402
from etworkbench.ui._graph_panel import GraphPanel  # noqa: E402
from etworkbench.ui._save_panel import SavePanel  # noqa: E402
from etworkbench.ui._sizes_panel import SizesPanel  # noqa: E402
from etworkbench.views.sizes import byte_unit, sizes_figure  # noqa: E402


def test_graph_click_expands_group_and_shows_node_details(teaching_xnnpack):
    panel = GraphPanel()
    panel.show(teaching_xnnpack)
    pane = panel.graphs["xnnpack"]
    svg = pane.graph.svg
    assert 'fill="#4c9be8"' in svg and 'fill="#fdecea"' in svg
    pane.mode.value = "delegate"
    assert 'id="D_xnnpack_lowered_module_0"' in pane.graph.svg
    assert 'id="N_lowered_module_0_aten_convolution_default"' not in pane.graph.svg
    pane.graph.selected = "D_xnnpack_lowered_module_0"  # what the front-end sends on click
    assert 'id="N_lowered_module_0_aten_convolution_default"' in pane.graph.svg
    pane.graph.selected = "N_aten_mean_dim"
    assert "mean.dim only supports keepdim=True" in pane.details.value
    assert "_nets.py:23" in pane.details.value
    pane.search.value = "cumsum"
    assert "1 match" in pane.info.value
    pane.collapse_all.click()
    assert 'id="N_lowered_module_0_aten_convolution_default"' not in pane.graph.svg


def test_compare_tab_only_with_two_results(teaching_xnnpack):
    panel = GraphPanel()
    panel.show(teaching_xnnpack)
    assert "compare" not in panel.tabs.titles
    twin = copy.copy(teaching_xnnpack["xnnpack"])
    twin.backend = "xnnpack-again"
    panel.show(LoweringReport("teaching_net", "x", 1, [teaching_xnnpack["xnnpack"], twin]))
    assert panel.tabs.titles[-1] == "compare"
    left, right = panel.tabs.children[-1].panes.children
    assert (left.result.backend, right.result.backend) == ("xnnpack", "xnnpack-again")


def test_sizes_panel_parts_add_up_to_the_pte(teaching_xnnpack):
    panel = SizesPanel()
    panel.show(teaching_xnnpack)
    result = teaching_xnnpack["xnnpack"]
    bars = [t for t in panel.figure.data if t.type == "bar" and t.name]
    assert len(bars) >= 3
    scale, unit = byte_unit(max(result.sizes.pte_bytes, teaching_xnnpack.parameter_bytes))
    assert unit in panel.figure.layout.yaxis.title.text
    assert sum(t.y[0] for t in bars) == pytest.approx(result.sizes.pte_bytes / scale)
    table = panel.table.value
    assert "xnnpack" in table
    # readable headers and sizes as people read them, not a DataFrame's snake_case and floats
    assert "text-align:right'>.pte size</th>" in table and "_MB" not in table
    assert f">{human_bytes(result.sizes.pte_bytes)}</td>" in table
    assert f"{result.sizes.pte_bytes:,} bytes" in table  # exact, on hover
    assert f"eager model parameters: {human_bytes(teaching_xnnpack.parameter_bytes)}" in table
    # the memory plan: planned activation bytes, each arena on hover
    arenas = result.sizes.planned_arena_bytes
    assert "planned activations</th>" in table and result.sizes.activation_bytes > 0
    assert f">{human_bytes(result.sizes.activation_bytes)}</td>" in table
    assert f"id 1: {arenas[1]:,} bytes" in table


def test_sizes_figure_keeps_the_eager_label_off_the_bars(teaching_xnnpack):
    """The eager-parameters line is labelled in the legend, not by text that overprints the
    bars' totals; every total reads in human units and fits under the axis range."""
    fig = sizes_figure(teaching_xnnpack, parameter_bytes=2_000_000)
    assert not fig.layout.annotations  # no text drawn on the plot for the line
    (line,) = fig.layout.shapes
    assert line.y0 == pytest.approx(2.0) and fig.layout.yaxis.title.text == "MB"
    legend = [t.name for t in fig.data if t.name and t.name.startswith("eager parameters")]
    assert legend == ["eager parameters (2.0 MB)"]
    (totals,) = [t for t in fig.data if t.type == "scatter" and t.mode == "text"]
    pte = teaching_xnnpack["xnnpack"].sizes.pte_bytes
    assert list(totals.text) == [human_bytes(pte)]
    assert fig.layout.yaxis.range[1] > max(line.y0, *totals.y)  # headroom for the totals


def test_save_row_writes_and_reports(tmp_path, teaching_xnnpack):
    panel = SavePanel()
    panel.show(teaching_xnnpack)
    row = panel.rows["xnnpack"]
    row.path.value = str(tmp_path / "button.pte")
    row.button.click()
    written = tmp_path / "button.pte"
    assert written.read_bytes() == teaching_xnnpack["xnnpack"].buffer
    assert str(written) in row.status.value
    assert human_bytes(written.stat().st_size) in row.status.value  # e.g. "4.2 KB"
    row.path.value = str(tmp_path / "button.pte" / "under_a_file.pte")
    row.button.click()
    assert "not saved" in row.status.value
    assert written.read_bytes() == teaching_xnnpack["xnnpack"].buffer  # old file intact


def test_coverage_panel_sort_and_export(tmp_path, teaching_xnnpack):
    panel = CoveragePanel()
    panel.show(teaching_xnnpack.results)
    counts = teaching_xnnpack["xnnpack"].placement.counts
    assert f"{counts.cpu_kernels}" in panel.counts.value and "structural" in panel.counts.value
    heat = panel.heatmap.data[0]
    # rows are the exported program's ops; what XNNPACK ran for them is on hover
    assert "aten.cumsum.default" in heat.y and "aten.conv2d.default" in heat.y
    conv = list(heat.y).index("aten.conv2d.default")
    assert "as aten.convolution.default x1 delegated" in heat.hovertext[conv][0]
    panel.sort.value = "fallback"
    first = panel.heatmap.data[0].y[0]
    assert first in ("aten.cumsum.default", "aten.mean.dim")
    assert "no XNNPACK implementation of aten.cumsum.default" in panel.fallbacks.value
    csv_text = panel.export(str(tmp_path / "cov.csv")).read_text()
    assert "aten.cumsum.default" in csv_text and "xnnpack" in csv_text
    html_text = panel.export(str(tmp_path / "cov.html")).read_text()
    assert "plotly" in html_text.lower() and "keepdim" in html_text


def test_failures_panel_shows_stage_node_source_and_traceback():
    failure = Failure(
        "preprocess",
        "RuntimeError",
        "bad conv",
        node="aten_conv",
        op="aten.convolution.default",
        source="net.py:3: self.conv(x)",
        traceback="Traceback (most recent call last):\n  boom",
    )
    report = LoweringReport(
        "m",
        "x",
        0,
        [
            BackendResult("xnnpack", ["xnnpack"], "fp32", "failed", error=failure),
            BackendResult(
                "gone", ["gone"], "fp32", "unavailable", reason="SDK missing", hint="get SDK"
            ),
        ],
    )
    panel = FailuresPanel()
    panel.show(report)
    page = panel.body.value
    for text in ("preprocess", "aten_conv", "net.py:3", "bad conv", "<details>", "boom"):
        assert text in page
    for text in ("gone", "unavailable", "SDK missing", "get SDK"):
        assert text in page


def test_failures_panel_counts_failures_but_not_cancelled_backends():
    from etworkbench.ui._failures_panel import title

    cancelled = Failure("cancel", "Cancelled", "cancelled by the user before this program finished")
    report = LoweringReport(
        "m",
        "x",
        0,
        [
            BackendResult("xnnpack", ["xnnpack"], "", "failed", error=cancelled),
            BackendResult(
                "vulkan", ["vulkan"], "fp32", "failed", error=Failure("to_edge", "E", "bad")
            ),
        ],
        not_started=["portable"],
    )
    panel = FailuresPanel()
    panel.show(report)
    assert title(report) == "failures (1)"
    page = panel.body.value
    assert "vulkan: failed in to_edge" in page
    assert "xnnpack: cancelled" in page and "portable: cancelled" in page
    assert "failed in cancel" not in page
