"""Size panel: stacked .pte bars per backend and the MB table, against eager parameter bytes.

It draws the last lowering only: a preview compiles nothing, so it leaves the sizes as they are.
"""

from __future__ import annotations

import ipywidgets as W
import plotly.graph_objects as go

from ..views import sizes as S
from ._coverage_panel import _replace
from ._stale import LOWERED_NAMES, StaleBanner


class SizesPanel(W.VBox):
    def __init__(self, state=None) -> None:
        self.figure = go.FigureWidget()
        self.table = W.HTML()
        self.banner = StaleBanner(self)
        self.shown = None  # the report drawn
        super().__init__([self.banner, self.figure, self.table])
        self.state = state
        if state is not None:
            state.observe(self._changed, LOWERED_NAMES)

    def _changed(self, _change=None) -> None:
        report = self.state.lowered
        if report is not None and report is not self.shown:
            self.show(report)
        self.banner.say(self.state.note("lowered"))

    def show(self, report) -> None:
        self.shown = report
        _replace(self.figure, S.sizes_figure(report))
        self.table.value = S.sizes_table_html(report)
