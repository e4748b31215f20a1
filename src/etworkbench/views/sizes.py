"""Where the bytes of each .pte go (delegate payloads, delegate weights, weights outside
delegates, the rest), next to the eager model's parameter bytes.

Functions take a `LoweringReport`, a `BackendResult` or a list of them; `parameter_bytes`
defaults to the report's.
"""

from __future__ import annotations

import html
from typing import Any

from .._io import arena_listing, byte_unit, human_bytes
from .coverage_counts import iter_results
from .tables import Cell, html_table

MB = 1e6  # `sizes_table`'s columns are numbers in MB, for scripts and notebooks
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
        # not part of the file: the activation memory the program plans (its memory plan)
        row["planned_activations_MB"] = sizes.activation_bytes / MB if sizes else None
        row["eager_parameters_MB"] = params / MB if params is not None else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("backend") if rows else pd.DataFrame()


def sizes_figure(results: Any, parameter_bytes: int | None = None):
    """Stacked bars of each .pte by part, the eager parameter bytes as a dashed line.

    The axis unit follows the largest size (`byte_unit`); bar totals and hovers read as
    `human_bytes`. The line's label is a legend entry, never text on the plot, where it would
    print over the bars' totals.
    """
    import plotly.graph_objects as go

    params = _parameter_bytes(results, parameter_bytes)
    every = iter_results(results)
    sized = [r for r in every if r.sizes is not None]
    names = [f"{r.backend} ({r.scheme})" for r in sized]
    largest = max([r.sizes.pte_bytes for r in sized] + [params or 0], default=0)
    scale, unit = byte_unit(largest)
    fig = go.Figure(
        [
            go.Bar(
                name=label,
                x=names,
                y=[getattr(r.sizes, field) / scale for r in sized],
                customdata=[human_bytes(getattr(r.sizes, field)) for r in sized],
                marker_color=colour,
                hovertemplate=f"%{{x}}<br>{label}: %{{customdata}}<extra></extra>",
            )
            for field, label, colour in PARTS
        ]
    )
    if sized:
        fig.add_trace(
            go.Scatter(
                x=names,
                y=[r.sizes.pte_bytes / scale for r in sized],
                mode="text",
                text=[human_bytes(r.sizes.pte_bytes) for r in sized],
                textposition="top center",
                showlegend=False,
                hoverinfo="skip",
            )
        )
    if params:
        label = f"eager parameters ({human_bytes(params)})"
        fig.add_hline(y=params / scale, line_dash="dash", line_color="#555")
        fig.add_trace(  # the line's legend entry (a shape has none)
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=label,
                line={"dash": "dash", "color": "#555"},
                hoverinfo="skip",
            )
        )
    title = f".pte size per backend ({unit})"
    missing = [r for r in every if r.sizes is None]
    if missing:
        why = ", ".join(f"{r.backend}: {'preview' if r.preview else r.status}" for r in missing)
        title += f"<br><sup>no .pte: {html.escape(why)}</sup>"
    fig.update_layout(
        barmode="stack",
        title=title,
        # headroom over the tallest bar (or the line) for its total's label
        yaxis={"title": unit, "range": [0, 1.2 * largest / scale if largest else 1]},
        height=420,
    )
    return fig


def size_rows(report: Any) -> list[dict[str, Any]]:
    """`sizes_table` rows with a .pte, as plain dicts."""
    frame = sizes_table(report)
    if frame.empty:
        return []
    frame = frame[frame["pte_MB"].notna()]
    return [{"backend": name, **row} for name, row in frame.to_dict("index").items()]


ACTIVATIONS = "planned activations"


def _arenas(sizes: Any) -> Cell:
    """The memory plan's total, with each arena (memory id) on hover."""
    if sizes is None or not sizes.planned_arena_bytes:
        return ""
    return human_bytes(sizes.activation_bytes), arena_listing(sizes.planned_arena_bytes) or (
        "nothing planned"
    )


def sizes_table_html(report: Any) -> str:
    """The sizes table for the app: readable headers, each size in `human_bytes` (exact bytes
    on hover), the eager parameter bytes said once under it."""
    results = iter_results(report)
    if not any(r.sizes is not None for r in results):
        return "<p>No .pte was produced.</p>"

    def size(count: int | None) -> Cell:
        return (human_bytes(count), f"{count:,} bytes") if count is not None else ""

    headers = ["backend", "scheme", "status", ".pte size", *(label for _, label, _ in PARTS)]
    headers.append(ACTIVATIONS)
    rows = []
    for result in results:
        sizes = result.sizes
        status = "preview" if result.preview else result.status
        parts = [size(getattr(sizes, field)) if sizes else "" for field, _, _ in PARTS]
        rows.append(
            [result.backend, result.scheme, status, size(sizes.pte_bytes if sizes else None)]
            + parts
            + [_arenas(sizes)]
        )
    table = html_table(headers, rows, right=headers[3:])
    table += (
        f"<p><small>{ACTIVATIONS}: the activation memory the program's memory plan asks the "
        "runtime for (not in the file; hover for each arena)</small></p>"
    )
    params = _parameter_bytes(report, None)
    if params is not None:
        table += (
            f"<p><small>eager model parameters: {human_bytes(params)} ({params:,} bytes, "
            "before lowering)</small></p>"
        )
    return table
