"""The sizes tab's keep-float trade-off: a program lowered with modules kept in float, beside the
same backend's fp32 and full-scheme programs (size, latency, error against float eager).

It appears only when the last lowering kept something in float, and runs on request: two more
lowerings (usually cached) and three host runs are seconds to minutes, not something a redraw
should start. The table is `views.compare_table`'s, the chart `views.tradeoff.size_vs_error`.
"""

from __future__ import annotations

import html

import ipywidgets as W

from ._markup import error_html


class TradeoffBox(W.VBox):
    """Button + table + chart for the first program of a report that kept modules in float."""

    def __init__(self) -> None:
        self.result = None  # the mixed program the trade-off is about
        self.comparison = None  # the last `Comparison` drawn
        self.button = W.Button(
            description="trade-off vs fp32 and full int8",
            tooltip="lower the same backend in fp32 and with every module quantized, run all "
            "three here, and compare size, latency and error against float eager",
            layout={"width": "auto"},
        )
        self.message = W.HTML(layout={"width": "100%"})
        self.table = W.HTML()
        self.figure = None
        self.button.on_click(lambda _: self.measure())
        super().__init__(
            [self.button, self.message, self.table], layout={"display": "none", "width": "100%"}
        )

    def show(self, report) -> None:
        """Offer the trade-off when `report` has an ok program with modules kept in float."""
        mixed = [r for r in report.results if r.ok and getattr(r, "float_modules", ())]
        self.result = mixed[0] if mixed else None
        self.table.value = ""
        self.message.value = (
            ""
            if self.result is None
            else f"<small>{html.escape(self.result.backend)} {html.escape(self.result.scheme)} "
            f"with {html.escape(', '.join(self.result.float_modules))} kept in float"
            + (" (the trade-off lowers at default backend options)" if self.result.options else "")
            + "</small>"
        )
        if self.figure is not None:
            self.children = [self.button, self.message, self.table]
        self.layout.display = "none" if self.result is None else ""

    def measure(self) -> None:
        from ..comparison import keep_float_tradeoff
        from ..views.compare_table import comparison_text
        from ..views.tradeoff import size_vs_error

        result = self.result
        if result is None:
            return
        self.message.value = "<small>lowering fp32 and full int8, running all three...</small>"
        try:
            self.comparison = keep_float_tradeoff(
                result.model_spec,
                list(result.float_modules),
                backend="+".join(result.backends),
                scheme=result.scheme,
            )
        except Exception as exc:  # the tab stays usable; the message says what went wrong
            self.message.value = error_html(exc)
            return
        self.message.value = ""
        self.table.value = f"<pre>{html.escape(comparison_text(self.comparison))}</pre>"
        import plotly.graph_objects as go

        self.figure = go.FigureWidget(size_vs_error(self.comparison))
        self.children = [self.button, self.message, self.table, self.figure]
