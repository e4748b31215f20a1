"""Summary panel: the last lowering's summary, the preview beside it, and which one the tabs show.

Cancelled backends read "cancelled", not "failed: cancel failed"; a save updates the "-> path".
"""

from __future__ import annotations

import html

import ipywidgets as W

from ._stale import STALE_CLASS, banner_html
from ._state import is_cancelled

_NAMES = ["lowered", "previewed", "stale", "preview_stale", "phase", "saved", "showing"]


def summary_text(report) -> str:
    """`report.summary()` with each cancelled backend said as such."""
    text = report.summary()
    for result in report.results:
        if is_cancelled(result):
            text = text.replace(
                "  " + result.summary_line(),
                f"  {result.backend}: cancelled (stopped by Cancel; no .pte)",
            )
    return text


def _block(label: str, report, note: str) -> str:
    faded = f" class='{STALE_CLASS}-text'" if note else ""
    return (
        f"{banner_html(note)}{label}"
        f"<pre{faded} style='margin:2px 0'>{html.escape(summary_text(report))}</pre>"
    )


class SummaryPanel(W.VBox):
    def __init__(self, state=None) -> None:
        self.text = W.HTML()
        self.showing = W.ToggleButtons(
            options=[("lowered programs", "lowered"), ("preview", "previewed")],
            value="lowered",
            description="tabs show",
            tooltips=["the last lowering (compiled, with .pte)", "the last preview (placement)"],
            style={"button_width": "auto", "description_width": "initial"},
        )
        self.showing.layout.display = "none"  # only while there are both
        super().__init__([self.text, self.showing])
        self.state = state
        if state is not None:
            self.showing.observe(self._chosen, "value")
            state.observe(self._changed, _NAMES)

    @property
    def value(self) -> str:
        """The summary as shown (HTML)."""
        return self.text.value

    def _chosen(self, change) -> None:
        self.state.showing = change["new"]

    def _changed(self, _change=None) -> None:
        state = self.state
        parts = []
        if state.lowered is not None:
            parts.append(_block("", state.lowered, state.note("lowered")))
        if state.previewed is not None:
            label = (
                "<b>preview</b> <small>(placement only, not compiled; the lowered programs "
                "stay under sizes and save)</small>"
            )
            parts.append(_block(label, state.previewed, state.note("previewed")))
        self.text.value = "".join(parts)
        both = state.lowered is not None and state.previewed is not None
        self.showing.layout.display = "" if both else "none"
        self.showing.value = state.focus
