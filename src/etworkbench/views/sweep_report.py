"""Sweep report: one self-contained HTML page (plotly) and a CSV, from a `SweepSummary`."""

from __future__ import annotations

import csv
import html
import io


def coverage_csv(summary) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["op", "backend", "delegated", "fallback"])
    for (op, backend), (delegated, fallback) in sorted(summary.coverage.items()):
        writer.writerow([op, backend, delegated, fallback])
    return out.getvalue()


def _heatmap(summary):
    import plotly.graph_objects as go

    ops = sorted({op for op, _ in summary.coverage})
    backends = sorted({b for _, b in summary.coverage})
    z, text = [], []
    for op in ops:
        row, labels = [], []
        for backend in backends:
            delegated, fallback = summary.coverage.get((op, backend), (0, 0))
            total = delegated + fallback
            row.append(delegated / total if total else None)
            labels.append(
                f"{op} on {backend}: {delegated} delegated, {fallback} on CPU"
                if total
                else "not in these models"
            )
        z.append(row)
        text.append(labels)
    figure = go.Figure(
        go.Heatmap(
            z=z, x=backends, y=ops, text=text, hoverinfo="text", colorscale="RdYlGn", zmin=0, zmax=1
        )
    )
    figure.update_layout(
        title="Share of each op's nodes delegated, across all models",
        height=max(400, 18 * len(ops)),
    )
    return figure


def _share_bars(summary):
    import plotly.graph_objects as go

    backends = sorted({b for _, b in summary.delegated_share})
    models = sorted({m for m, _ in summary.delegated_share})
    figure = go.Figure(
        [
            go.Bar(
                name=backend,
                x=models,
                y=[100 * summary.delegated_share.get((m, backend), 0) for m in models],
            )
            for backend in backends
        ]
    )
    figure.update_layout(
        title="Delegated share of nodes (%) per model and backend",
        barmode="group",
        yaxis_range=[0, 100],
    )
    return figure


def sweep_html(summary) -> str:
    """The combined report: coverage heatmap, delegated share, blocking ops, failures."""
    parts = [
        "<html><head><meta charset='utf-8'><title>etworkbench sweep</title></head><body>",
        f"<h1>Sweep: {summary.ok} of {summary.cells} cells lowered</h1>",
    ]
    if summary.coverage:
        parts.append(_share_bars(summary).to_html(full_html=False, include_plotlyjs="inline"))
        parts.append(_heatmap(summary).to_html(full_html=False, include_plotlyjs=False))
    parts.append("<h2>Ops that keep nodes on the CPU, most frequent first</h2>")
    for backend, ranked in sorted(summary.blocking.items()):
        rows = "".join(
            f"<tr><td>{html.escape(op)}</td><td>{count}</td><td>{models}</td></tr>"
            for op, count, models in ranked[:25]
        )
        parts.append(
            f"<h3>{html.escape(backend)}</h3><table border='1'><tr><th>op</th><th>CPU nodes</th>"
            f"<th>models</th></tr>{rows}</table>"
        )
    if summary.failures:
        rows = "".join(
            f"<tr><td>{html.escape(f['model'])}</td><td>{html.escape(f['backend'])}</td>"
            f"<td>{f['status']}</td><td>{html.escape(f['why'][:300])}</td></tr>"
            for f in summary.failures
        )
        parts.append(
            f"<h2>Not lowered</h2><table border='1'><tr><th>model</th><th>backend</th><th>status</th><th>why</th></tr>{rows}</table>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
