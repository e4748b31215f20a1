"""Size panel: stacked .pte bars per backend and the size table, against eager parameter bytes.

It draws the last lowering only: a preview compiles nothing, so it leaves the sizes as they are.
The plotly figure is made at the first lowering, not with the app: a FigureWidget costs a
fraction of a second to build, time the app's first paint should not wait for.
"""

from __future__ import annotations

import ipywidgets as W

from ..views import sizes as S
from ._coverage_panel import _replace
from ._stale import FollowsLowered, StaleBanner


class SizesPanel(FollowsLowered, W.VBox):
    def __init__(self, state=None) -> None:
        self.figure = None  # a plotly FigureWidget once there is something to draw
        self.table = W.HTML("<i>Lower first.</i>")
        self.banner = StaleBanner(self)
        self.shown = None  # the report drawn
        super().__init__([self.banner, self.table], layout={"width": "100%"})
        self.follow(state)

    def show(self, report) -> None:
        self.shown = report
        if self.figure is None:
            import plotly.graph_objects as go

            self.figure = go.FigureWidget()
            self.children = [self.banner, self.figure, self.table]
        _replace(self.figure, S.sizes_figure(report))
        self.table.value = S.sizes_table_html(report)
