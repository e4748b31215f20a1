"""Size panel: stacked .pte bars per backend and the size table, against eager parameter bytes,
then the memory plan over time (each planned tensor's bytes and lifetime, side by side per
backend).

It draws the last lowering only: a preview compiles nothing, so it leaves the sizes as they are.
The plotly figures are made at the first lowering, not with the app: a FigureWidget costs a
fraction of a second to build, time the app's first paint should not wait for. The memory plan
is read from each program's bytes when a lowering is shown (a few ms for a small program,
~0.1 s for mobilenet_v2 on the CPU alone), never at import.
"""

from __future__ import annotations

import html

import ipywidgets as W

from ..views import sizes as S
from ._coverage_panel import _replace
from ._stale import FollowsLowered, StaleBanner
from ._tradeoff_box import TradeoffBox

COLOUR_CHOICES = (("what wrote it", "kind"), ("arena", "mem_id"))


class SizesPanel(FollowsLowered, W.VBox):
    def __init__(self, state=None) -> None:
        self.figure = None  # a plotly FigureWidget once there is something to draw
        self.memory_figure = None  # the memory plan over time, likewise
        self.table = W.HTML("<i>Lower first.</i>")
        self.memory_note = W.HTML()
        self.tradeoff = TradeoffBox()  # shown when the lowering kept modules in float
        self.colour = W.ToggleButtons(
            options=COLOUR_CHOICES,
            value="kind",
            description="colour by",
            style={"button_width": "110px"},
        )
        self.colour.observe(lambda _: self._draw_memory(), "value")
        self.banner = StaleBanner(self)
        self.shown = None  # the report drawn
        super().__init__([self.banner, self.table], layout={"width": "100%"})
        self.follow(state)

    def show(self, report) -> None:
        self.shown = report
        if self.figure is None:
            import plotly.graph_objects as go

            self.figure = go.FigureWidget()
            self.memory_figure = go.FigureWidget()
            self.children = [
                self.banner,
                self.figure,
                self.table,
                self.tradeoff,
                self.memory_note,
                self.colour,
                self.memory_figure,
            ]
        _replace(self.figure, S.sizes_figure(report))
        self.table.value = S.sizes_table_html(report)
        self.tradeoff.show(report)
        self._draw_memory()

    def _draw_memory(self) -> None:
        """The memory plan chart under the table; a program that cannot be read says why."""
        if self.shown is None or self.memory_figure is None:
            return
        from ..views.memory_plan import memory_plan_figure

        try:
            figure = memory_plan_figure(self.shown, colour=self.colour.value)
        except Exception as exc:  # a panel must not die with one unreadable program
            self.memory_note.value = (
                f"<p><b>memory plan over time</b>: not drawn ({html.escape(str(exc))})</p>"
            )
            return
        self.memory_note.value = (
            "<p><b>memory plan over time</b>: each planned tensor as its bytes in the arena "
            "(y) over the instructions it is live at (x); below, the bytes live at each "
            "instruction against the arena size. Hover a tensor for its shape, dtype and "
            "producer.</p>"
        )
        _replace(self.memory_figure, figure)
