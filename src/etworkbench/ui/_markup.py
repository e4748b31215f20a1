"""Small HTML pieces the panels share: a block whose lines wrap, an error in red."""

from __future__ import annotations

import html


def wrapping(markup: str) -> str:
    """`markup` in a block that wraps its lines (widget HTML keeps long text on one line,
    which widened the graph panes past the compare tab)."""
    return f'<div style="white-space:normal; overflow-wrap:anywhere">{markup}</div>'


def error_html(exc: BaseException) -> str:
    """`exc` as its type and message in red, wrapping: a panel says what failed and stays."""
    return wrapping(
        f'<span style="color:#c0392b">{html.escape(type(exc).__name__)}: '
        f"{html.escape(str(exc))}</span>"
    )
