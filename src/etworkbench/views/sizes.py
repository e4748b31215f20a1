"""Where the bytes of each .pte go (delegate payloads, delegate weights, weights outside
delegates, the rest), next to the eager model's parameter bytes.

Functions take a `LoweringReport`, a `BackendResult` or a list of them; `parameter_bytes`
defaults to the report's.
"""

from __future__ import annotations

import html
from typing import Any

from .coverage_counts import iter_results

MB = 1e6
PARTS = (  # (Sizes field, label, colour): the stack, bottom to top
    ("delegate_payload_bytes", "delegate payloads", "#4c9be8"),
    ("delegate_data_bytes", "delegate weights", "#a9cdf2"),
    ("constant_bytes", "weights outside delegates", "#e67e22"),
    ("other_bytes", "rest (program, metadata)", "#95a5a6"),
)


def _parameter_bytes(results: Any, parameter_bytes: int | None) -> int | None:
    if parameter_bytes is not None:
        return parameter_bytes
    if hasattr(results, "parameter_bytes"):
        return results.parameter_bytes
    for item in results if isinstance(results, list | tuple) else []:
        if hasattr(item, "parameter_bytes"):
            return item.parameter_bytes
    return None


def sizes_table(results: Any, parameter_bytes: int | None = None):
    """One row per backend, sizes in MB (1e6 bytes); the four parts add up to `pte_MB`.

    Backends without a .pte (failed, unavailable, preview) keep their row with empty sizes.
    """
    import pandas as pd

    params = _parameter_bytes(results, parameter_bytes)
    rows = []
    for result in iter_results(results):
        sizes = result.sizes
        row: dict[str, Any] = {
            "backend": result.backend,
            "scheme": result.scheme,
            "status": "preview" if result.preview else result.status,
            "pte_MB": sizes.pte_bytes / MB if sizes else None,
        }
        for field, _, _ in PARTS:
            row[field.removesuffix("_bytes") + "_MB"] = (
                getattr(sizes, field) / MB if sizes else None
            )
        row["eager_parameters_MB"] = params / MB if params is not None else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("backend") if rows else pd.DataFrame()


def sizes_figure(results: Any, parameter_bytes: int | None = None):
    """Stacked bars of each .pte by part (MB), the eager parameter bytes as a dashed line."""
    import plotly.graph_objects as go

    params = _parameter_bytes(results, parameter_bytes)
    every = iter_results(results)
    sized = [r for r in every if r.sizes is not None]
    names = [f"{r.backend} ({r.scheme})" for r in sized]
    fig = go.Figure(
        [
            go.Bar(
                name=label,
                x=names,
                y=[getattr(r.sizes, field) / MB for r in sized],
                marker_color=colour,
                hovertemplate=f"%{{x}}<br>{label}: %{{y:.3f}} MB<extra></extra>",
            )
            for field, label, colour in PARTS
        ]
    )
    if sized:
        fig.add_trace(
            go.Scatter(
                x=names,
                y=[r.sizes.pte_bytes / MB for r in sized],
                mode="text",
                text=[f"{r.sizes.pte_bytes / MB:.2f} MB" for r in sized],
                textposition="top center",
                showlegend=False,
                hoverinfo="skip",
            )
        )
    if params:
        fig.add_hline(
            y=params / MB,
            line_dash="dash",
            annotation_text=f"eager parameters {params / MB:.3f} MB",
        )
    title = ".pte size per backend (MB)"
    missing = [r for r in every if r.sizes is None]
    if missing:
        why = ", ".join(f"{r.backend}: {'preview' if r.preview else r.status}" for r in missing)
        title += f"<br><sup>no .pte: {html.escape(why)}</sup>"
    fig.update_layout(barmode="stack", title=title, yaxis={"title": "MB"}, height=420)
    return fig


def size_rows(report: Any) -> list[dict[str, Any]]:
    """`sizes_table` rows with a .pte, as plain dicts."""
    frame = sizes_table(report)
    if frame.empty:
        return []
    frame = frame[frame["pte_MB"].notna()]
    return [{"backend": name, **row} for name, row in frame.to_dict("index").items()]


def sizes_table_html(report: Any) -> str:
    """The sizes table as HTML (3 decimals, MB)."""
    frame = sizes_table(report)
    if frame.empty or frame["pte_MB"].isna().all():
        return "<p>No .pte was produced.</p>"
    return frame.to_html(
        border=0, classes="etwb-table", float_format=lambda v: f"{v:.3f}", na_rep=""
    )
