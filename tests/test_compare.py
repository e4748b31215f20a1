"""compare(): one row per (backend, scheme), bad pairs kept with a reason, plotly views."""

from __future__ import annotations

import pytest

from etworkbench.comparison import Comparison, compare, row_of
from etworkbench.views.compare_table import comparison_text


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    pairs = [("xnnpack", "fp32"), ("xnnpack", "int8"), ("xnnpack", "int3"), ("nope", None)]
    return compare("tiny_convnet", pairs, repeats=3, random_inputs=1)


def test_rows_in_pair_order_with_numbers(comparison):
    assert [(r.backend, r.scheme) for r in comparison.rows][:2] == [
        ("xnnpack", "fp32"),
        ("xnnpack", "int8"),
    ]
    fp32, int8 = comparison.rows[:2]
    for row in (fp32, int8):
        assert row.status == "ok" and row.run_status == "ok", row
        assert row.pte_bytes > 0 and 0 < row.delegated_share <= 1
        counts = comparison.results[comparison.rows.index(row)].placement.counts
        assert row.delegated_share == counts.share  # delegated / (delegated + CPU fallback)
        assert (row.delegated_nodes, row.cpu_kernel_nodes, row.structural_nodes) == (
            counts.delegated,
            counts.cpu_kernels,
            counts.structural,
        )
        assert row.latency_ms > 0 and row.latency_p90_ms >= row.latency_ms
        assert row.top1 is not None
    assert fp32.max_abs_error < 1e-4 < int8.max_abs_error
    assert comparison.results[0].run_report is not None


def test_invalid_pairs_stay_with_a_reason(comparison):
    bad_scheme, bad_backend = comparison.rows[2:]
    assert bad_scheme.status == "invalid" and "no scheme 'int3'" in bad_scheme.reason
    assert bad_backend.status == "invalid" and "unknown backend 'nope'" in bad_backend.reason
    assert bad_backend.latency_ms is None and comparison.results[3] is None


def test_dataframe_and_summary(comparison):
    frame = comparison.to_dataframe()
    assert len(frame) == 4
    for column in ("backend", "scheme", "status", "pte_bytes", "delegated_share", "latency_ms"):
        assert column in frame.columns
    assert {"max_abs_error", "top1"} <= set(frame.columns)
    assert {"delegated_nodes", "cpu_kernel_nodes", "structural_nodes"} <= set(frame.columns)
    text = comparison_text(comparison)
    assert comparison.summary() == text  # kept for callers of the method
    assert "tiny_convnet" in text and "int8" in text and "invalid" in text
    counts = comparison.results[0].placement.counts
    assert f"{counts.delegated}/{counts.cpu_kernels}/{counts.structural}" in text
    assert "delegated share = delegated / (delegated + CPU fallback)" in text


def test_tradeoff_figures(comparison):
    from etworkbench.views.tradeoff import latency_vs_error, size_vs_error, tradeoff_figures

    figures = tradeoff_figures(comparison)
    assert set(figures) == {"size_vs_error", "latency_vs_error"}
    size = size_vs_error(comparison)
    assert size.layout.yaxis.type == "log"
    (trace,) = size.data  # one backend, two ok schemes
    assert list(trace.text) == ["fp32", "int8"]
    assert all(x > 0 for x in trace.x)  # sizes in MB
    assert "not shown" in size.layout.title.text  # invalid rows are named, not dropped silently
    assert len(latency_vs_error(comparison).data[0].x) == 2


def test_row_without_run():
    from etworkbench.lowering import BackendResult

    row = row_of(BackendResult("x", ["x"], "fp32", "unavailable", reason="missing SDK"), ran=False)
    assert row.status == "unavailable" and row.reason == "missing SDK" and row.run_status is None


def test_priority_pair_and_alias_without_run():
    comparison = compare("teaching_net", [("XNNPACK+xnnpack", "fp32")], run=False)
    (row,) = comparison.rows
    assert row.backend == "xnnpack" and row.status == "ok" and row.run_status is None
    assert row.latency_ms is None and row.pte_bytes > 0
