"""Operator coverage across backends: op × backend matrix, delegated share, fallback reasons.

`coverage_rows` is the plain table (also what CSV export writes); the figure functions build
plotly figures from it. Results of any number of models and backends can be mixed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

STATES = ("not applicable", "fallback", "partly", "delegated")  # heatmap z = index


@dataclass
class CoverageCell:
    op: str  # the operator target, e.g. aten.convolution.default
    backend: str
    delegated: int
    fallback: int

    @property
    def state(self) -> str:
        if self.delegated and self.fallback:
            return "partly"
        if self.delegated:
            return "delegated"
        if self.fallback:
            return "fallback"
        return "not applicable"


def coverage_rows(results) -> list[CoverageCell]:
    """One cell per (op, backend) over the placed results; structural getitems are left out."""
    cells: dict[tuple[str, str], CoverageCell] = {}
    placed = [r for r in results if r.placement is not None]
    ops = sorted({n.target for r in placed for n in r.placement.nodes if not n.structural})
    for r in placed:
        for op in ops:
            cells.setdefault((op, r.backend), CoverageCell(op, r.backend, 0, 0))
        for n in r.placement.nodes:
            if n.structural:
                continue
            cell = cells[(n.target, r.backend)]
            if n.delegated:
                cell.delegated += 1
            else:
                cell.fallback += 1
    return list(cells.values())


def _sorted_ops(cells: list[CoverageCell], sort: str) -> list[str]:
    ops = sorted({c.op for c in cells})
    if sort == "fallback":  # most CPU fallbacks first
        fb = {op: sum(c.fallback for c in cells if c.op == op) for op in ops}
        return sorted(ops, key=lambda op: (-fb[op], op))
    if sort == "count":
        total = {op: sum(c.delegated + c.fallback for c in cells if c.op == op) for op in ops}
        return sorted(ops, key=lambda op: (-total[op], op))
    return ops


def coverage_heatmap(results, sort: str = "name"):
    """Plotly heatmap op × backend coloured by state; counts on hover. sort: name|fallback|count."""
    import plotly.graph_objects as go

    cells = coverage_rows(results)
    backends = list(dict.fromkeys(c.backend for c in cells))
    ops = _sorted_ops(cells, sort)
    at = {(c.op, c.backend): c for c in cells}
    z, text = [], []
    for op in ops:
        row = [at.get((op, b)) or CoverageCell(op, b, 0, 0) for b in backends]
        z.append([STATES.index(c.state) for c in row])
        text.append(
            [
                f"{op} on {c.backend}: {c.state}<br>delegated {c.delegated}, CPU {c.fallback}"
                for c in row
            ]
        )
    colours = ["#eeeeee", "#e74c3c", "#f5b041", "#27ae60"]
    scale = []
    for i, colour in enumerate(colours):
        scale += [[i / 4, colour], [(i + 1) / 4, colour]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=backends,
            y=ops,
            text=text,
            hoverinfo="text",
            zmin=-0.5,
            zmax=3.5,
            colorscale=scale,
            colorbar={"tickvals": [0, 1, 2, 3], "ticktext": list(STATES)},
            xgap=2,
            ygap=2,
        )
    )
    fig.update_layout(
        title="Operator coverage (op × backend)",
        height=max(300, 22 * len(ops) + 120),
        yaxis={"autorange": "reversed"},
        margin={"l": 220},
    )
    return fig


def delegated_share_figure(results):
    """Bar per backend: percentage of (non-structural) nodes delegated."""
    import plotly.graph_objects as go

    names, shares, hover = [], [], []
    for r in results:
        if r.placement is None:
            continue
        real = [n for n in r.placement.nodes if not n.structural]
        done = sum(n.delegated for n in real)
        names.append(r.backend)
        shares.append(100.0 * done / len(real) if real else 0.0)
        hover.append(f"{done} of {len(real)} nodes delegated")
    fig = go.Figure(go.Bar(x=names, y=shares, hovertext=hover, marker_color="#27ae60"))
    fig.update_layout(title="Delegated nodes per backend", yaxis={"title": "%", "range": [0, 100]})
    return fig


def fallback_rows(results) -> list[dict[str, str]]:
    """CPU fallback ops with the backend's reason, one row per (backend, op, reason)."""
    rows: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in results:
        if r.placement is None:
            continue
        for n in r.placement.fallbacks():
            if n.structural:
                continue
            key = (r.backend, n.target, n.reason or "no reason given")
            row = rows.setdefault(
                key,
                {
                    "backend": key[0],
                    "op": key[1],
                    "reason": key[2],
                    "nodes": "0",
                    "source": n.source,
                },
            )
            row["nodes"] = str(int(row["nodes"]) + 1)
    return list(rows.values())


def coverage_csv(results) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["op", "backend", "state", "delegated", "fallback"])
    for c in coverage_rows(results):
        writer.writerow([c.op, c.backend, c.state, c.delegated, c.fallback])
    return out.getvalue()


def coverage_html(results) -> str:
    """A standalone HTML page: heatmap, share bars and the fallback table (plotly.js inlined)."""
    import html as h

    parts = [
        coverage_heatmap(results).to_html(full_html=False, include_plotlyjs=True),
        delegated_share_figure(results).to_html(full_html=False, include_plotlyjs=False),
        fallback_table_html(results),
    ]
    return f"<html><head><meta charset='utf-8'><title>{h.escape('coverage')}</title></head><body>{''.join(parts)}</body></html>"


def fallback_table_html(results) -> str:
    import html as h

    rows = fallback_rows(results)
    if not rows:
        return "<p>No CPU fallback: every op was delegated.</p>"
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{h.escape(r[k])}</td>" for k in ("backend", "op", "nodes", "reason", "source")
        )
        + "</tr>"
        for r in rows
    )
    head = "".join(
        f"<th>{k}</th>" for k in ("backend", "op", "nodes", "why not delegated", "source")
    )
    return f"<table class='etwb-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
