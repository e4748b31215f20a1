"""Failures panel: failed and unavailable backends, in the app rather than as a dead cell."""

from __future__ import annotations

import html
import traceback

import ipywidgets as W

from ..views import failures as F


class FailuresPanel(W.VBox):
    def __init__(self) -> None:
        self.body = W.HTML("<i>nothing yet</i>")
        super().__init__([self.body])

    def show(self, report) -> None:
        self.body.value = F.problems_html(report)

    def crash(self, exc: BaseException) -> None:
        """An error outside any backend (e.g. a bad model reference)."""
        tb = "".join(traceback.format_exception(exc))
        self.body.value = (
            f"<div class='etwb-problem'><b>{html.escape(type(exc).__name__)}</b>: "
            f"{html.escape(str(exc))}<details><summary>traceback</summary>"
            f"<pre style='user-select:all'>{html.escape(tb)}</pre></details></div>"
        )
