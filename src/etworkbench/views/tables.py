"""Plain-text tables for the terminal and for notebook `print`; `table_html` (a DataFrame) and
`html_table` (formatted cells, readable headers) for the panels."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

# A cell of `html_table`: its text, or (text, hover title) e.g. ("4.2 KB", "4,196 bytes").
Cell = str | tuple[str, str] | None


def text_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 70
) -> str:
    """A left-aligned table; cells longer than `max_width` are cut with an ellipsis."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    body = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in body])


def backends_table(rows) -> str:
    """`etwb backends`: one row per backend, with the reason when it cannot lower here."""
    table = text_table(
        ["backend", "available", "runs here", "hardware", "reason / hint"],
        [
            (
                r.name,
                "yes" if r.available else "no",
                "yes" if r.runs_on_host and r.available else "no",
                r.hardware,
                "" if r.available else f"{r.reason} — {r.hint}" if r.hint else r.reason,
            )
            for r in rows
        ],
        max_width=110,
    )
    return table


def table_html(frame: Any, max_rows: int | None = 500) -> str:
    """A DataFrame as a compact HTML table (what the UI panels embed)."""
    return frame.to_html(max_rows=max_rows, border=0, classes="etwb-table", escape=True)


def html_table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], right: Sequence[str] = ()
) -> str:
    """Rows of already formatted cells as an escaped HTML table; the `right` columns (numbers
    with units) right-aligned so their digits line up."""
    e = html.escape
    pad = "padding:2px 8px"
    align = [
        f" style='{pad};text-align:right'" if h in right else f" style='{pad}'" for h in headers
    ]
    head = "".join(f"<th{a}>{e(h)}</th>" for h, a in zip(headers, align, strict=True))

    def td(cell: Cell, a: str) -> str:
        text, title = cell if isinstance(cell, tuple) else ("" if cell is None else cell, "")
        hover = f" title='{e(title)}'" if title else ""
        return f"<td{a}{hover}>{e(text)}</td>"

    body = "".join(
        "<tr>" + "".join(td(c, a) for c, a in zip(row, align, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table class='etwb-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
