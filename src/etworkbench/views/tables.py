"""Plain-text tables for the terminal and for notebook `print`; `table_html` for the panels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
