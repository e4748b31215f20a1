"""Sweep report: one self-contained HTML page (plotly) and a CSV, from a `SweepSummary`.

Node counts are analysis.placement's: delegated, CPU fallback (runs a kernel), structural
(getitem, no kernel); the delegated share is delegated / (delegated + CPU fallback).
"""

from __future__ import annotations

import csv
import html
import io

from ..analysis.placement import (
    CPU_KERNEL,
    DELEGATION_INFO_DEFINITION,
    KIND_LABELS,
    SHARE_DEFINITION,
    STRUCTURAL,
)


def coverage_csv(summary) -> str:
    """op, backend, delegated, cpu_kernel (CPU fallback), structural node counts."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["op", "backend", "delegated", "cpu_kernel", "structural"])
    for (op, backend), (delegated, cpu, structural) in sorted(summary.coverage.items()):
        writer.writerow([op, backend, delegated, cpu, structural])
    return out.getvalue()


def counts_table_html(summary) -> str:
    """One row per (model, backend) that lowered: the three counts, share, get_delegation_info."""
    e = html.escape
    head = "".join(
        f"<th>{e(h)}</th>"
        for h in (
            "model",
            "backend",
            KIND_LABELS["delegated"],
            KIND_LABELS[CPU_KERNEL],
            KIND_LABELS[STRUCTURAL],
            "delegated share",
            "get_delegation_info delegated / non-delegated",
        )
    )
    rows = "".join(
        f"<tr><td>{e(model)}</td><td>{e(backend)}</td><td>{c.delegated}</td>"
        f"<td>{c.cpu_kernels}</td><td>{c.structural}</td><td>{c.share_text}</td>"
        f"<td>{c.delegation_info_delegated} / {c.delegation_info_non_delegated}</td></tr>"
        for (model, backend), c in sorted(summary.counts.items())
    )
    return (
        f"<h2>Nodes per model and backend</h2><table border='1'><tr>{head}</tr>{rows}</table>"
        f"<p>{e(SHARE_DEFINITION)}; {e(DELEGATION_INFO_DEFINITION)}.</p>"
    )


def _heatmap(summary):
    import plotly.graph_objects as go

    ops = sorted({op for op, _ in summary.coverage})
    backends = sorted({b for _, b in summary.coverage})
    z, text = [], []
    for op in ops:
        row, labels = [], []
        for backend in backends:
            delegated, cpu, structural = summary.coverage.get((op, backend), (0, 0, 0))
            total = delegated + cpu
            row.append(delegated / total if total else None)
            if total:
                label = (
                    f"{op} on {backend}: {delegated} delegated, {cpu} CPU fallback (runs a kernel)"
                )
            elif structural:
                label = f"{op} on {backend}: {structural} structural (getitem, no kernel)"
            else:
                label = "not in these models"
            labels.append(label)
        z.append(row)
        text.append(labels)
    figure = go.Figure(
        go.Heatmap(
            z=z, x=backends, y=ops, text=text, hoverinfo="text", colorscale="RdYlGn", zmin=0, zmax=1
        )
    )
    figure.update_layout(
        title="Share of each op's kernel-running nodes delegated, across all models",
        height=max(400, 18 * len(ops)),
    )
    return figure


def _percent(share: float | None) -> float | None:
    return None if share is None else 100 * share


def _share_bars(summary):
    import plotly.graph_objects as go

    backends = sorted({b for _, b in summary.delegated_share})
    models = sorted({m for m, _ in summary.delegated_share})
    figure = go.Figure(
        [
            go.Bar(
                name=backend,
                x=models,
                y=[_percent(summary.delegated_share.get((m, backend))) for m in models],
                customdata=[
                    summary.counts[(m, backend)].text() if (m, backend) in summary.counts else ""
                    for m in models
                ],
                hovertemplate="%{x}: %{y:.1f}% delegated<br>%{customdata}<extra>"
                + html.escape(backend)
                + "</extra>",
            )
            for backend in backends
        ]
    )
    figure.update_layout(
        title="Delegated share (%) per model and backend<br><sup>"
        + html.escape(SHARE_DEFINITION)
        + "</sup>",
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
    if summary.counts:
        parts.append(counts_table_html(summary))
    parts.append("<h2>Ops that keep nodes on the CPU, most frequent first</h2>")
    for backend, ranked in sorted(summary.blocking.items()):
        rows = "".join(
            f"<tr><td>{html.escape(op)}</td><td>{count}</td><td>{models}</td></tr>"
            for op, count, models in ranked[:25]
        )
        parts.append(
            f"<h3>{html.escape(backend)}</h3><table border='1'><tr><th>op</th><th>CPU fallback nodes</th>"
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
