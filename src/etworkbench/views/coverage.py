"""Operator coverage across backends: op × backend matrix, delegated share, fallback reasons.

`coverage_rows` is the plain table (also what CSV export writes); the figure functions build
plotly figures from it. Results of any number of models and backends can be mixed.
Rows are the ops of the user's exported program, each backend's own (decomposed) ops their
detail, so backends that decompose differently share a row (views.coverage_rows, re-exported).
Every count is analysis.placement's (`NodePlacement.kind`, `NodeCounts`): delegated,
CPU fallback (runs a kernel) and structural (getitem outside the delegates, runs no kernel);
"fallback" here always means a CPU fallback node that runs a kernel. The counts table
(`counts_table`, `counts_text`, `counts_table_html`) lives in views.coverage_counts and is
re-exported here.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..analysis.placement import (
    CPU_KERNEL,
    DELEGATED,
    KIND_LABELS,
    SHARE_DEFINITION,
    STRUCTURAL,
)
from .coverage_counts import (  # noqa: F401  (re-exported: the coverage view's public names)
    COUNT_COLUMNS,
    backend_columns,
    backend_counts,
    counts_table,
    counts_table_html,
    counts_text,
    iter_results,
    result_counts,
)
from .coverage_rows import (  # noqa: F401  (re-exported: the coverage view's public names)
    CoverageCell,
    backend_ops,
    coverage_matrix,
    coverage_rows,
    grouped_nodes,
    row_op,
)
from .tables import table_html

STATES = ("not applicable", "fallback", "partly", "delegated")  # heatmap z = index
CATEGORIES = STATES
CATEGORY_COLOURS = ("#eeeeee", "#e74c3c", "#f5b041", "#27ae60")


def fallback_rows(results) -> list[dict[str, str]]:
    """CPU fallback ops with the backend's reason, one row per (backend, op, reason)."""
    rows: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in iter_results(results):
        if r.placement is None:
            continue
        for n in r.placement.cpu_fallbacks():
            key = (r.backend, n.target, n.reason or "no reason given")
            row = rows.setdefault(
                key,
                {
                    "backend": key[0],
                    "op": key[1],
                    "reason": key[2],
                    "nodes": "0",
                    "source": n.source,
                    "advice": "",  # the first node's with advice (it names that node's facts)
                },
            )
            row["nodes"] = str(int(row["nodes"]) + 1)
            row["advice"] = row["advice"] or n.advice or ""
    return list(rows.values())


def coverage_csv(results) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["op", "backend", "backend_ops", "state", "delegated", "cpu_kernel"])
    for c in coverage_rows(results):
        writer.writerow([c.op, c.backend, c.backend_ops, c.state, c.delegated, c.fallback])
    return out.getvalue()


def coverage_html(results) -> str:
    """A standalone HTML page: heatmap, share bars and the fallback table (plotly.js inlined)."""
    import html as h

    parts = [
        counts_table_html(results),
        coverage_heatmap(results).to_html(full_html=False, include_plotlyjs=True),
        delegated_share_figure(results).to_html(full_html=False, include_plotlyjs=False),
        fallback_table_html(results),
    ]
    return f"<html><head><meta charset='utf-8'><title>{h.escape('coverage')}</title></head><body>{''.join(parts)}</body></html>"


def fallback_table_html(results) -> str:
    import html as h

    rows = fallback_rows(results)
    if not rows:
        return f"<p>{h.escape(no_fallback_text(results))}</p>"
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{h.escape(r['advice'] or r['reason'] if k == 'reason' else r[k])}</td>"
            for k in ("backend", "op", "nodes", "reason", "source")
        )
        + "</tr>"
        for r in rows
    )
    head = "".join(
        f"<th>{k}</th>"
        for k in ("backend", "op", "CPU fallback nodes", "why not delegated", "source")
    )
    totals = backend_counts(results)
    note = "; ".join(
        f"{b}: {c.cpu_kernels} CPU fallback nodes (run a kernel) listed, {c.structural} "
        "structural nodes (getitem, no kernel) not listed"
        for b, c in totals.items()
        if c.total
    )
    return (
        f"<table class='etwb-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{h.escape(note)}</p>"
    )


def no_fallback_text(results: Any) -> str:
    """What to say when no node runs a CPU kernel; names the structural nodes left."""
    structural = sum(c.structural for c in backend_counts(results).values())
    text = "No CPU fallback: every node that runs a kernel was delegated"
    if structural:
        nodes = (
            "node outside the delegates runs"
            if structural == 1
            else "nodes outside the delegates run"
        )
        text += (
            f" ({structural} structural getitem {nodes} no kernel; get_delegation_info counts "
            f"{'it' if structural == 1 else 'them'} as non-delegated)"
        )
    return text + "."


def _category(delegated: int, fallback: int, applicable: bool) -> int:
    if not applicable or delegated + fallback == 0:
        return 0
    if fallback == 0:
        return 3
    return 2 if delegated else 1


def coverage_figure(results: Any, sort: str = "name", structural: bool = False):
    """Heatmap op x backend: delegated / partly / fallback / not applicable, counts on hover.

    Rows are the exported program's ops; the hover lists what each backend ran for the row
    (its own ops, with counts: "as aten.convolution.default x52 delegated").

    Cells count delegated and CPU fallback (kernel-running) nodes; structural getitems run no
    kernel and are left out unless `structural=True` (then their rows show them on hover).

    sort="fallback" puts the ops with the most fallback nodes first, which is where a user
    deciding between backends should look; "count" most nodes first; "name" alphabetical.
    """
    import plotly.graph_objects as go

    if sort not in ("name", "fallback", "count"):
        raise ValueError(f"sort must be 'name', 'fallback' or 'count', not {sort!r}")
    groups = grouped_nodes(results, structural=structural)
    frame = coverage_matrix(results, structural=structural, groups=groups)
    flat = iter_results(results)
    backends = backend_columns(results)
    status = {b: [r for r in flat if r.backend == b] for b in backends}
    usable = {b: any(r.placement is not None for r in rs) for b, rs in status.items()}
    if sort == "fallback":
        fallbacks = frame.xs(CPU_KERNEL, axis=1, level="placement").sum(axis=1)
        frame = frame.loc[sorted(frame.index, key=lambda op: (-int(fallbacks[op]), op))]
    elif sort == "count":
        totals = frame.sum(axis=1)
        frame = frame.loc[sorted(frame.index, key=lambda op: (-int(totals[op]), op))]
    ops = list(frame.index)
    z, text, hover = [], [], []
    for op in ops:
        z_row, text_row, hover_row = [], [], []
        for backend in backends:
            d = int(frame.loc[op, (backend, DELEGATED)])
            f = int(frame.loc[op, (backend, CPU_KERNEL)])
            s = int(frame.loc[op, (backend, STRUCTURAL)]) if structural else 0
            code = _category(d, f, usable[backend])
            z_row.append(code)
            text_row.append(f"{d}/{f}" if code else "")
            counted = f"delegated {d}, {KIND_LABELS[CPU_KERNEL]} {f}"
            if s:
                counted += f", {KIND_LABELS[STRUCTURAL]} {s}"
            counted += _detail_html(backend_ops(groups.get((op, backend), [])))
            hover_row.append(
                f"<b>{op}</b><br>{backend}: {CATEGORIES[code]}<br>{counted}"
                if usable[backend]
                else f"<b>{op}</b><br>{backend}: {_status_note(status[backend])}"
            )
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    n = len(CATEGORIES)
    colorscale = []
    for code, colour in enumerate(CATEGORY_COLOURS):
        colorscale += [[code / n, colour], [(code + 1) / n, colour]]
    labels = [b if usable[b] else f"{b}<br>({_status_note(status[b])[:30]})" for b in backends]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=ops,
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            zmin=0,
            zmax=n,
            colorscale=colorscale,
            xgap=2,
            ygap=2,
            colorbar={
                "tickvals": [i + 0.5 for i in range(n)],
                "ticktext": list(CATEGORIES),
                "title": "",
            },
        )
    )
    fig.update_layout(
        title="Operator coverage<br><sup>cell text: delegated / CPU fallback nodes; "
        + ("structural getitems on hover" if structural else "structural getitems not shown")
        + "<br>rows: ops of the exported program; hover: the ops each backend ran</sup>",
        height=max(300, 22 * len(ops) + 140),
        yaxis={"autorange": "reversed", "type": "category"},
        xaxis={"side": "top", "type": "category"},
        margin={"l": 220, "t": 130},
    )
    return fig


def _detail_html(detail: str, limit: int = 8) -> str:
    """`backend_ops` as hover lines ("as aten.convolution.default x52 delegated"); a row whose
    op decomposed into many ops shows the `limit` most frequent and how many more there are."""
    parts = detail.split("; ") if detail else []
    lines = [f"as {part}" for part in parts[:limit]]
    if len(parts) > limit:
        lines.append(f"… and {len(parts) - limit} more ops")
    return "".join(f"<br>{line}" for line in lines)


def _status_note(results: list[Any]) -> str:
    for r in results:
        if r.status == "unavailable":
            return f"unavailable: {r.reason}"
        if r.status == "failed":
            return f"failed at {r.error.stage}" if r.error else "failed"
    return "no placement"


def delegated_share_figure(results: Any):
    """Bars: each backend's `NodeCounts.share` (summed over models): delegated / (delegated +
    CPU fallback) nodes; structural getitems run no kernel and are not in it."""
    import plotly.graph_objects as go

    totals = backend_counts(results)
    backends = list(totals)
    fig = go.Figure(
        go.Bar(
            x=backends,
            y=[totals[b].share or 0.0 for b in backends],
            text=[totals[b].share_text for b in backends],
            textposition="outside",
            customdata=[
                [totals[b].delegated, totals[b].kernel_nodes, totals[b].structural]
                for b in backends
            ],
            hovertemplate="%{x}: %{customdata[0]} of %{customdata[1]} kernel-running nodes "
            "delegated<br>(%{customdata[2]} structural getitems not counted)<extra></extra>",
            marker_color="#2ca02c",
        )
    )
    fig.update_layout(
        title=f"Delegated share<br><sup>{SHARE_DEFINITION}</sup>",
        yaxis={"tickformat": ".0%", "range": [0, 1.1]},
        height=350,
    )
    return fig


def fallback_table(results: Any, structural: bool = False):
    """One row per CPU fallback node (runs a kernel): backend, node, op, reason (the
    partitioner's words), advice (what to change; '' without a rule), source, module (and
    model); `structural=True` adds the structural getitems."""
    import pandas as pd

    rows = []
    for result in iter_results(results):
        if result.placement is None:
            continue
        for node in result.placement.fallbacks():
            if node.kind == STRUCTURAL and not structural:
                continue
            rows.append(
                {
                    "model": result.model,
                    "backend": result.backend,
                    "node": node.name,
                    "op": node.target,
                    "reason": node.reason or "no reason given",
                    "advice": node.advice or "",
                    "source": node.source,
                    "module": node.module_path,
                }
            )
    columns = ["model", "backend", "node", "op", "reason", "advice", "source", "module"]
    return pd.DataFrame(rows, columns=columns)


def export_table(frame: Any, path: str | Path) -> Path:
    """Write a DataFrame as .csv or .html (by suffix); returns the path."""
    path = Path(path)
    if path.suffix.lower() in (".html", ".htm"):
        path.write_text(table_html(frame, max_rows=None), encoding="utf-8")
    elif path.suffix.lower() == ".csv":
        frame.to_csv(path)
    else:
        raise ValueError(f"export_table writes .csv or .html, not {path.suffix or path.name!r}")
    return path


def export_figure(fig: Any, path: str | Path) -> Path:
    """Write a plotly figure as a self-contained .html (plotly.js inlined: opens offline)."""
    path = Path(path)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


coverage_heatmap = coverage_figure  # the name the first notebooks used
