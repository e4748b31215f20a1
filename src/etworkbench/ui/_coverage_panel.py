"""Coverage panel: op × backend heatmap (sortable), delegated share, fallback reasons, export.

The plotly figures are made with the first results, not with the app: two FigureWidgets cost
most of a second to build, time the app's first paint should not wait for.
"""

from __future__ import annotations

import ipywidgets as W

from .._io import atomic_write_text
from ..views import coverage as C
from ._stale import FOCUS_NAMES, StaleBanner


class CoveragePanel(W.VBox):
    def __init__(self, state=None) -> None:
        self.results: list = []
        self.shown = None  # the report drawn (from the state)
        self.banner = StaleBanner(self)
        self.caption = W.HTML()  # says when the coverage is a preview's
        self.sort = W.ToggleButtons(
            options=[
                ("by name", "name"),
                ("most CPU fallback first", "fallback"),
                ("most used", "count"),
            ],
            value="name",
            description="sort",
            style={"button_width": "auto"},  # each label whole
        )
        self.heatmap = self.share = None  # plotly FigureWidgets once there are results
        self.fallbacks = W.HTML()
        self.counts = W.HTML()
        self.path = W.Text(value="coverage.csv", description="export to")
        self.export_button = W.Button(
            description="Export CSV / HTML", tooltip=".csv or .html by suffix"
        )
        self.export_status = W.HTML()
        self.sort.observe(lambda _: self._draw_heatmap(), "value")
        self.export_button.on_click(lambda _: self.export(self.path.value))
        super().__init__(self._rows())
        self.state = state
        if state is not None:
            state.observe(self._changed, FOCUS_NAMES)

    def _rows(self) -> list:
        figures = [f for f in (self.heatmap, self.share) if f is not None]
        return [
            self.banner,
            self.caption,
            W.HTML("<b>Nodes per backend</b>"),
            self.counts,
            self.sort,
            *figures,
            W.HTML("<b>CPU fallback ops and why</b>"),
            self.fallbacks,
            W.HBox(
                [self.path, self.export_button, self.export_status],
                layout={"flex_flow": "row wrap"},
            ),
        ]

    def _changed(self, change=None) -> None:
        state = self.state
        if change is not None and change["name"] == "phase" and state.running:
            self.export_status.value = ""  # an export message is about the last run's results
        report = state.report
        if report is not None and report is not self.shown:
            self.shown = report
            self.show(report.results)
            preview = any(r.preview for r in report.results)
            self.caption.value = "<b>preview</b>: placement only, not compiled" if preview else ""
        self.banner.say(state.note(state.focus))

    def show(self, results) -> None:
        if self.heatmap is None:
            import plotly.graph_objects as go

            self.heatmap, self.share = go.FigureWidget(), go.FigureWidget()
            self.children = self._rows()
        self.results = list(results)
        self.counts.value = C.counts_table_html(self.results)
        self._draw_heatmap()
        _replace(self.share, C.delegated_share_figure(self.results))
        self.fallbacks.value = C.fallback_table_html(self.results)

    def _draw_heatmap(self) -> None:
        if self.results:
            _replace(self.heatmap, C.coverage_heatmap(self.results, self.sort.value))

    def export(self, path: str):
        text = (
            C.coverage_html(self.results)
            if path.endswith(".html")
            else C.coverage_csv(self.results)
        )
        written = atomic_write_text(path, text)
        self.export_status.value = f"wrote {written} ({written.stat().st_size} bytes)"
        return written


def _replace(widget, fig) -> None:
    """Put `fig`'s traces and layout into the FigureWidget `widget` in one update."""
    with widget.batch_update():
        widget.data = []
        widget.add_traces(fig.data)
        widget.layout = fig.layout
