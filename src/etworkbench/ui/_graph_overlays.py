"""The graph tab's colour modes: placement, error or latency (a `NodeOverlay` each), the ten
worst nodes beside the graph, and where latency comes from (a profile here, or an ETDump
recorded on a device with its ETRecord)."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W

from ..views import graph as G
from ._markup import error_html, wrapping

MODES = ("placement", "error", "latency")
HINT = (
    "error: <b>numerics</b> (each node against float eager) · latency: <b>profile here</b>, or "
    "load an ETDump (.etdp) recorded elsewhere, with its ETRecord for per-node names"
)


class OverlayBar(W.VBox):
    """Mode selector, latency sources and the worst-nodes table of one `BackendGraph`."""

    def __init__(self, graph) -> None:
        self.graph = graph  # the BackendGraph it drives
        self.overlays: dict = {}
        self.diverging = ""  # the numerics run's first diverging node, for the message
        self.colour = W.Dropdown(
            options=[("placement", "placement")],
            value="placement",
            description="colour",
            disabled=True,
            tooltip="colour by placement, or by an overlay the result has (error, latency)",
            layout={"width": "auto"},
        )
        self.profile = W.Button(
            description="profile here",
            tooltip="run the .pte here with ETDump on (5 executions) for per-node latency",
            disabled=not getattr(graph.result, "has_program", False),
        )
        self.numerics = W.Button(
            description="numerics",
            tooltip="run the .pte here once with ETDump and compare every recorded node with "
            "float eager (the first time, the program is lowered again for its ETRecord)",
            disabled=not getattr(graph.result, "has_program", False),
        )
        field = {"width": "auto", "flex": "1 1 14em", "max_width": "24em"}  # shrinks, wraps
        self.etdump = W.Text(placeholder="run.etdp", description="ETDump", layout=field)
        self.etrecord = W.Text(placeholder=".etrecord", description="ETRecord", layout=field)
        self.load = W.Button(description="load ETDump", tooltip="per-node latency from a file")
        self.message = W.HTML(wrapping(f"<small>{HINT}</small>"), layout={"width": "100%"})
        self.worst = W.Select(options=[], rows=10, layout={"width": "100%"})
        self.worst_box = W.VBox(
            [W.HTML("<b>10 worst</b> (click to select)"), self.worst],
            layout={"display": "none", "width": "100%"},
        )
        self.colour.observe(lambda _: self._mode_changed(), "value")
        self.worst.observe(self._row_clicked, "value")
        self.numerics.on_click(lambda _: self.numerics_here())
        self.profile.on_click(lambda _: self.profile_here())
        self.load.on_click(lambda _: self.load_etdump())
        super().__init__(
            [
                W.HBox(
                    [
                        self.colour,
                        self.numerics,
                        self.profile,
                        self.etdump,
                        self.etrecord,
                        self.load,
                    ],
                    layout={"flex_flow": "row wrap", "width": "100%"},
                ),
                self.message,
            ],
            layout={"width": "100%"},  # as wide as the pane, never wider: its row wraps
        )

    @property
    def overlay(self):
        """The overlay coloured by (None in placement mode)."""
        return self.overlays.get(self.colour.value)

    def add(self, overlay, show: bool = True) -> None:
        """Offer `overlay` in the mode menu (replacing one of the same name); show it."""
        self.overlays[overlay.name] = overlay
        names = [m for m in MODES if m == "placement" or m in self.overlays]
        names += [n for n in self.overlays if n not in names]
        self.colour.options = [(n, n) for n in names]
        self.colour.disabled = len(names) < 2
        if show and self.colour.value != overlay.name:
            self.colour.value = overlay.name  # redraws through the observer
        elif show:
            self._mode_changed()

    def numerics_here(self) -> None:
        """Colour by each node's relative gap to float; the message names the first diverging."""

        def measure():
            report = self.graph.result.numerics()
            if not report.ok:
                raise RuntimeError(f"numerics {report.status}: {report.reason}")
            first = report.first_diverging
            self.diverging = (
                f"first diverging (relative > {report.threshold:g}): {first.name}"
                if first
                else f"no node diverges (relative > {report.threshold:g})"
            )
            return report.overlay("relative")

        self.message.value = wrapping(
            "<small>numerics: running the program and float eager...</small>"
        )
        self._try(measure, "measured")

    def profile_here(self) -> None:
        from ..runtime import latency_overlay

        self._try(lambda: latency_overlay(self.graph.result), "profiled here")

    def load_etdump(self) -> None:
        from ..runtime import read_etdump

        def read():
            path = Path(self.etdump.value.strip()).expanduser()
            record = self.etrecord.value.strip() or None
            profile = read_etdump(path, etrecord=record, pte=self.graph.result.pte_data)
            return profile.overlay(self.graph.result)

        self._try(read, f"read from {self.etdump.value.strip()}")

    def _try(self, make, what: str) -> None:
        try:
            overlay = make()
        except Exception as exc:  # a bad path or an unrelated file: say so, keep the graph
            self.message.value = error_html(exc)
            return
        extra = self.diverging if overlay.name == "error" else ""
        self.message.value = wrapping(
            f"<small>{html.escape(overlay.name)} {html.escape(what)}: "
            f"{html.escape(overlay.note)}{' · ' + html.escape(extra) if extra else ''}</small>"
        )
        self.add(overlay)

    def _mode_changed(self) -> None:
        overlay = self.overlay
        if overlay is None:
            self.worst_box.layout.display = "none"
        else:
            self.worst.options = G.worst_rows(overlay, self.graph.placement, 10)
            self.worst.value = None
            self.worst_box.layout.display = ""
        self.graph.render()

    def _row_clicked(self, change) -> None:
        if change["new"]:
            self.graph.select_node(change["new"])
