"""Sizes per backend: stacked .pte bars (delegate payloads, weights outside delegates, the rest)."""

from __future__ import annotations

import html

MB = 1e6


def size_rows(report) -> list[dict[str, float | str]]:
    """MB per part for every result that has a .pte, plus the eager parameter bytes."""
    rows = []
    for r in report.results:
        if r.sizes is None:
            continue
        s = r.sizes
        rows.append(
            {
                "backend": r.backend,
                "scheme": r.scheme,
                "pte_mb": s.pte_bytes / MB,
                "delegate_mb": (s.delegate_payload_bytes + s.delegate_data_bytes) / MB,
                "weights_outside_mb": s.constant_bytes / MB,
                "other_mb": s.other_bytes / MB,
                "eager_params_mb": report.parameter_bytes / MB,
            }
        )
    return rows


PARTS = (
    ("delegate_mb", "delegate payloads + their weights", "#4c9be8"),
    ("weights_outside_mb", "weights outside delegates", "#e67e22"),
    ("other_mb", "rest (program, metadata)", "#95a5a6"),
)


def sizes_figure(report):
    """Plotly stacked bars of .pte size per backend with the eager parameter bytes as a line."""
    import plotly.graph_objects as go

    rows = size_rows(report)
    names = [f"{r['backend']} ({r['scheme']})" for r in rows]
    fig = go.Figure(
        [
            go.Bar(name=label, x=names, y=[r[key] for r in rows], marker_color=colour)
            for key, label, colour in PARTS
        ]
    )
    fig.add_hline(
        y=report.parameter_bytes / MB,
        line_dash="dash",
        annotation_text=f"eager parameters {report.parameter_bytes / MB:.3f} MB",
    )
    fig.update_layout(
        barmode="stack", title=f".pte size per backend: {report.model}", yaxis={"title": "MB"}
    )
    return fig


def sizes_table_html(report) -> str:
    rows = size_rows(report)
    if not rows:
        return "<p>No .pte was produced.</p>"
    cols = [("backend", "backend"), ("scheme", "scheme"), ("pte_mb", ".pte MB")]
    cols += [(k, label) for k, label, _ in PARTS] + [("eager_params_mb", "eager params MB")]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{v:.3f}</td>"
            if isinstance(v := r[k], float)
            else f"<td>{html.escape(str(v))}</td>"
            for k, _ in cols
        )
        + "</tr>"
        for r in rows
    )
    return f"<table class='etwb-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
