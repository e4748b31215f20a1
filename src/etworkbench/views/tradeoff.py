"""Plotly figures for the size / speed / error trade-off, and for an ETDump profile.

plotly is imported inside each function so that importing the workbench stays cheap.
Error axes are logarithmic: float programs sit near 1e-7, int8 ones near 1e-2, and both
must be readable on one chart. An exact match (error 0) is drawn at `ZERO_ERROR_FLOOR`.
"""

from __future__ import annotations

from typing import Any

from .._io import byte_unit, human_bytes
from ..analysis.placement import share_text

ZERO_ERROR_FLOOR = 1e-12


def _points(comparison: Any, x_field: str) -> list[Any]:
    return [
        row
        for row in comparison.rows
        if getattr(row, x_field) is not None and row.max_abs_error is not None
    ]


def _scatter(comparison: Any, x_field: str, x_title: str, scale: float, title: str) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = _points(comparison, x_field)
    for backend in dict.fromkeys(row.backend for row in rows):
        mine = [row for row in rows if row.backend == backend]
        fig.add_trace(
            go.Scatter(
                x=[getattr(row, x_field) / scale for row in mine],
                y=[max(row.max_abs_error, ZERO_ERROR_FLOOR) for row in mine],
                mode="markers+text",
                name=backend,
                text=[_variant(row) for row in mine],
                textposition="top center",
                marker={"size": 12},
                customdata=[
                    [
                        _variant(row),
                        human_bytes(row.pte_bytes),
                        row.latency_ms,
                        share_text(row.delegated_share),
                        row.top1 if row.top1 is not None else float("nan"),
                    ]
                    for row in mine
                ],
                hovertemplate=(
                    f"<b>{backend}</b> %{{customdata[0]}}<br>"
                    "size %{customdata[1]}<br>latency %{customdata[2]:.3f} ms<br>"
                    "delegated share %{customdata[3]} (of kernel-running nodes)<br>"
                    "top-1 %{customdata[4]:.0%}<br>"
                    "max abs error %{y:.2e}<extra></extra>"
                ),
            )
        )
    missing = [row for row in comparison.rows if row not in rows]
    note = (
        "not shown: " + ", ".join(f"{r.backend}/{_variant(r)} ({_why(r)})" for r in missing)
        if missing
        else ""
    )
    fig.update_layout(
        title={"text": title + (f"<br><sup>{note}</sup>" if note else "")},
        xaxis_title=x_title,
        yaxis_title="max abs error vs float eager (log)",
        yaxis_type="log",
        legend_title="backend",
        template="plotly_white",
    )
    return fig


def _variant(row: Any) -> str:
    """The row's scheme, with the modules a mixed program keeps in float ("int8 + float x")."""
    return getattr(row, "variant", row.scheme)


def _why(row: Any) -> str:
    if row.status != "ok":
        return row.status
    return row.run_status or "not run"


def size_vs_error(comparison: Any) -> Any:
    """.pte size against max abs output error, one marker per (backend, scheme); the axis
    unit follows the largest program (KB, MB, ...)."""
    scale, unit = byte_unit(max((r.pte_bytes for r in _points(comparison, "pte_bytes")), default=0))
    title = f"{comparison.model}: size vs error"
    return _scatter(comparison, "pte_bytes", f".pte size ({unit})", scale, title)


def latency_vs_error(comparison: Any) -> Any:
    """Median latency on this host (ms) against max abs output error."""
    return _scatter(
        comparison,
        "latency_ms",
        "median latency on this host (ms)",
        1.0,
        f"{comparison.model}: latency vs error",
    )


def tradeoff_figures(comparison: Any) -> dict[str, Any]:
    """Both scatters, keyed "size_vs_error" and "latency_vs_error"."""
    return {
        "size_vs_error": size_vs_error(comparison),
        "latency_vs_error": latency_vs_error(comparison),
    }


def profile_table(run_report: Any) -> str:
    """The ETDump profile of one run as a text table (events in execution order)."""
    from .tables import text_table

    profile = getattr(run_report, "profile", None)
    if profile is None:
        return "no profile: run with profile=True (etwb lower --run --profile)"
    if not profile.rows:
        return profile.note or "the profile is empty"
    body = [
        [r.name, r.kind, r.backend or "", f"{r.median_ms:.4f}", f"{r.mean_ms:.4f}", r.count]
        for r in profile.rows
    ]
    headers = ["event", "kind", "backend", "median ms", "mean ms", "n"]
    return text_table(headers, body)


def profile_figure(run_report: Any, include_method: bool = False) -> Any:
    """Horizontal bars: median ms per ETDump event, coloured by kind (delegate op, CPU kernel)."""
    import plotly.graph_objects as go

    profile = getattr(run_report, "profile", None)
    rows = [
        r
        for r in (profile.rows if profile else [])
        if include_method or r.kind not in ("method", "operator call")
    ]
    fig = go.Figure()
    for kind in dict.fromkeys(r.kind for r in rows):
        mine = [r for r in rows if r.kind == kind]
        fig.add_trace(
            go.Bar(
                x=[r.median_ms for r in mine],
                y=[r.name for r in mine],
                orientation="h",
                name=kind,
                hovertemplate="%{y}: %{x:.4f} ms<extra>" + kind + "</extra>",
            )
        )
    order = [r.name for r in rows]
    fig.update_layout(
        title="ETDump: median time per event"
        + ("" if rows else f" ({profile.note if profile else 'no profile'})"),
        xaxis_title="median ms",
        yaxis={"categoryorder": "array", "categoryarray": order[::-1]},
        barmode="overlay",
        template="plotly_white",
        height=max(300, 22 * len(rows) + 120),
    )
    return fig
