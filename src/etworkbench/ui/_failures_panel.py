"""Failures panel: failed and unavailable backends, in the app rather than as a dead cell.

A backend that failed on a known op gets a button "exclude <op> and lower again": the op then
falls back to CPU in every backend and the rest still goes to the backend (`exclude_ops`).
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable

import ipywidgets as W

from ..views import failures as F


class FailuresPanel(W.VBox):
    def __init__(self, on_exclude: Callable[[str], None] | None = None) -> None:
        self.on_exclude = on_exclude
        self.body = W.HTML("<i>nothing yet</i>")
        self.actions = W.VBox()  # one "exclude this op" button per op a backend failed on
        self.exclude_buttons: dict[str, W.Button] = {}
        super().__init__([self.body, self.actions])

    def show(self, report) -> None:
        self.body.value = F.problems_html(report)
        ops: dict[str, list[str]] = {}
        for result in report.results:
            error = result.error if result.status == "failed" else None
            if error is not None and error.exclude_hint:  # the stages where exclusion helps
                ops.setdefault(error.exclude_op, []).append(result.backend)
        self.exclude_buttons = {op: self._button(op, names) for op, names in ops.items()}
        self.actions.children = list(self.exclude_buttons.values())

    def _button(self, op: str, backends: list[str]) -> W.Button:
        button = W.Button(
            description=f"exclude {op} and lower again",
            icon="redo",
            button_style="warning",
            tooltip=f"{', '.join(backends)} failed on {op}: keep it on CPU and lower again",
            layout={"width": "auto"},
        )
        button.on_click(lambda _: self.on_exclude and self.on_exclude(op))
        return button

    def crash(self, exc: BaseException) -> None:
        """An error outside any backend (e.g. a bad model reference)."""
        self.actions.children, self.exclude_buttons = [], {}
        tb = "".join(traceback.format_exception(exc))
        self.body.value = (
            f"<div class='etwb-problem'><b>{html.escape(type(exc).__name__)}</b>: "
            f"{html.escape(str(exc))}<details><summary>traceback</summary>"
            f"<pre style='user-select:all'>{html.escape(tb)}</pre></details></div>"
        )
