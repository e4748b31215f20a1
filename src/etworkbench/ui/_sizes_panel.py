"""Size panel: stacked .pte bars per backend and the MB table, against eager parameter bytes."""

from __future__ import annotations

import ipywidgets as W
import plotly.graph_objects as go

from ..views import sizes as S
from ._coverage_panel import _replace


class SizesPanel(W.VBox):
    def __init__(self) -> None:
        self.figure = go.FigureWidget()
        self.table = W.HTML()
        super().__init__([self.figure, self.table])

    def show(self, report) -> None:
        _replace(self.figure, S.sizes_figure(report))
        self.table.value = S.sizes_table_html(report)
