"""Failures panel: failed and unavailable backends, in the app rather than as a dead cell.

A backend that failed on a known op gets a button "exclude <op> and lower again": the op then
falls back to CPU in every backend and the rest still goes to the backend (`exclude_ops`).
A backend the user cancelled is listed as cancelled, not as a failure (`title` does not count it).
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable

import ipywidgets as W

from ..views import failures as F
from ._stale import FOCUS_NAMES, StaleBanner
from ._state import is_cancelled, problems

_CANCELLED_STYLE = "color:#666;border-left:4px solid #bbb;padding:4px 10px;margin:4px 0"


def title(report, crashed: bool = False) -> str:
    """The tab's title: failed and unavailable backends counted, cancelled ones not."""
    if crashed:
        return "failures (error)"
    count = len(problems(report)) if report is not None else 0
    return f"failures ({count})" if count else "failures"


def cancelled_html(report) -> str:
    e = html.escape
    stopped = [r.backend for r in report.results if is_cancelled(r)]
    lines = [f"<b>{e(name)}: cancelled</b> (stopped by Cancel; no .pte)" for name in stopped]
    lines += [f"<b>{e(name)}: cancelled</b> (not started)" for name in report.not_started]
    return "".join(
        f"<div class='etwb-problem etwb-cancelled' style='{_CANCELLED_STYLE}'>{line}</div>"
        for line in lines
    )


class FailuresPanel(W.VBox):
    def __init__(self, on_exclude: Callable[[str], None] | None = None, state=None) -> None:
        self.on_exclude = on_exclude
        self.banner = StaleBanner(self)
        self.body = W.HTML("<i>nothing yet</i>")
        self.actions = W.VBox()  # one "exclude this op" button per op a backend failed on
        self.exclude_buttons: dict[str, W.Button] = {}
        self.shown = None  # the report or exception drawn
        super().__init__([self.banner, self.body, self.actions])
        self.state = state
        if state is not None:
            state.observe(self._changed, FOCUS_NAMES)

    def _changed(self, _change=None) -> None:
        state = self.state
        drawn = state.exception if state.exception is not None else state.report
        if drawn is None and self.shown is not None:  # a new run after an error, nothing older
            self.shown, self.body.value = None, "<i>nothing yet</i>"
            self.actions.children, self.exclude_buttons = [], {}
        elif drawn is not None and drawn is not self.shown:
            if state.exception is not None:
                self.crash(state.exception)
            else:
                self.show(drawn)
        # an error's traceback is current; a report under a new run or after an error is not
        self.banner.say("" if state.exception is not None else state.note(state.focus))

    def show(self, report) -> None:
        self.shown = report
        failed = "".join(F.result_problem_html(r) for r in problems(report))
        self.body.value = (failed + cancelled_html(report)) or F.problems_html(report)
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
        self.shown = exc
        self.actions.children, self.exclude_buttons = [], {}
        tb = "".join(traceback.format_exception(exc))
        self.body.value = (
            f"<div class='etwb-problem'><b>{html.escape(type(exc).__name__)}</b>: "
            f"{html.escape(str(exc))}<details><summary>traceback</summary>"
            f"<pre style='user-select:all'>{html.escape(tb)}</pre></details></div>"
        )
