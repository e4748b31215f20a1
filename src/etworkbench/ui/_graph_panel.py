"""Partitioned-graph panel: one tab per backend, collapse / expand / search, node details,
and a side-by-side compare of two backends' placements."""

from __future__ import annotations

import html
import time
from importlib import resources

import anywidget
import ipywidgets as W
import traitlets as T

from ..views import graph as G
from ._graph_overlays import OverlayBar
from ._stale import FOCUS_NAMES, StaleBanner

# The front end's source is the checkout's top-level widgets/; a copy ships inside the package
# (ui/static/, package data) so an installed wheel has it too. A test keeps the copy identical.
STATIC = "static"


def widget_asset(name: str) -> str:
    """The text of a front-end file (`graph.js`, `graph.css`) from the installed package."""
    asset = resources.files(__package__) / STATIC / name
    try:
        return asset.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise FileNotFoundError(
            f"the graph widget's {name} is missing from the installed etworkbench package "
            f"(expected etworkbench/ui/{STATIC}/{name}, package data): without it the graph "
            "has no pan, zoom or click; reinstall etworkbench from a complete wheel or checkout"
        ) from exc


class GraphWidget(anywidget.AnyWidget):
    """An SVG with pan/zoom/fit; `selected` is the id of the last clicked node (kept
    highlighted across re-draws) or of an open module's frame."""

    _esm = widget_asset("graph.js")
    _css = widget_asset("graph.css")
    svg = T.Unicode("").tag(sync=True)
    selected = T.Unicode("").tag(sync=True)


class BackendGraph(W.VBox):
    """One backend's graph with its toolbar and the details of the clicked node."""

    def __init__(self, result, overlays=()) -> None:
        self.result = result
        self.placement = result.placement
        self.view: G.GraphView | None = None
        self.expanded: set[str] = set()
        self.mode = W.Dropdown(
            options=[
                ("nn.Module hierarchy", "module"),
                ("collapsed by delegate", "delegate"),
                ("every node", "full"),
            ],
            value=G.default_mode(self.placement),
            description="view",
            layout={"width": "auto"},  # the whole label of each choice
        )
        self.search = W.Text(
            placeholder="search op, e.g. conv",
            description="search",
            layout={"flex": "1 1 14em", "min_width": "12em"},
        )
        self.expand = W.Text(
            layout={"flex": "1 1 16em", "min_width": "12em"},
            placeholder="e.g. features.4",
            description="expand",
            tooltip="nn.Module paths or delegate ids to open (or click a 3-D box; click an open "
            "module's frame to close it)",
        )
        self.collapse_all = W.Button(description="collapse all", tooltip="close expanded groups")
        self.info = W.HTML()
        self.graph = GraphWidget()
        self.details = W.HTML("<i>click a node for op, shapes, source and reason</i>")
        self.overlay_bar = OverlayBar(self)
        for overlay in overlays:
            self.overlay_bar.add(overlay, show=False)
        self.mode.observe(lambda _: self._reset(), "value")
        self.search.observe(lambda _: self.render(), "value")
        self.expand.observe(lambda _: self._expand_typed(), "value")
        self.collapse_all.on_click(lambda _: self._reset())
        self.graph.observe(self._clicked, "selected")
        super().__init__(
            [
                W.HBox(  # wraps when the pane is narrow (compare tab, small screens)
                    [self.mode, self.search, self.expand, self.collapse_all],
                    layout={"flex_flow": "row wrap", "width": "100%"},
                ),
                self.overlay_bar,
                self.info,
                # the graph straight in the column: in a row it took its drawing's full width
                # and pushed the compare tab's panes past the page
                self.graph,
                self.overlay_bar.worst_box,  # the worst-nodes table (colour modes only)
                self.details,
            ]
        )
        self.render()

    def _reset(self) -> None:
        self.expanded.clear()
        self.expand.value = ""
        self.render()

    def _expand_typed(self) -> None:
        names = [n.strip() for n in self.expand.value.split(",")]
        self.expanded |= G.expand_ids(self.placement, names)
        self.render()

    def render(self) -> float:
        """Re-draw; returns the seconds it took (view + DOT + graphviz)."""
        start = time.perf_counter()
        self.view = G.build_view(
            self.placement, self.mode.value, frozenset(self.expanded),
            overlay=self.overlay_bar.overlay,
        )  # fmt: skip
        hits = G.search(self.placement, self.search.value)
        self.graph.svg = G.to_svg(G.to_dot(self.view, set(hits)))
        took = time.perf_counter() - start
        found = f" · {len(hits)} match(es)" if self.search.value.strip() else ""
        self.info.value = (
            f"<small>{len(self.placement.nodes)} nodes → {len(self.view.boxes)} boxes · "
            f"drawn in {took:.2f} s{found}</small>"
        )
        return took

    def select(self, box_id: str) -> None:
        """What a click does: open a collapsed group (and say what it now holds), close an
        open module (a click on its frame), or show a node's details."""
        if self.view is None:
            return
        if box_id.startswith("cluster_" + G.module_id("")):
            self.expanded -= G.collapse_ids(self.placement, box_id)
            self._clear_selection()
            self.render()
            name = G.module_path(self.placement, box_id) or box_id
            self.details.value = f"<pre>{html.escape(name)}: closed</pre>"
            return
        box = self.view.box(box_id)
        if box is None:  # a click from a drawing that has been replaced since
            return
        if box.kind in ("group", "module"):
            self.expanded.add(box_id)
            self._clear_selection()
            self.render()
            text = G.opened_text(box, self.view)
        else:
            text = box.tooltip
            overlay = self.overlay_bar.overlay
            if overlay is not None and box.members:
                text += "\n\n" + G.details_text(overlay, box.members[0])
        self.details.value = f"<pre>{html.escape(text)}</pre>"

    def select_node(self, name: str) -> None:
        """Select node `name` (or a delegate call by its id) as a click on it would: open the
        groups it is folded in, highlight it and show its details."""
        delegate = next((d for d in self.placement.delegates if d.id == name), None)
        if delegate is not None:  # a delegate call: its frame (every node) or its first node
            if self.mode.value == "full":
                self.render()
                self.graph.selected = "cluster_" + G._safe(delegate.id)
                self.details.value = f"<pre>{html.escape(self._delegate_text(delegate))}</pre>"
                return
            name = next(n.name for n in self.placement.nodes if n.delegate == delegate.id)
        for _ in range(32):  # open what holds it, level by level
            view = G.build_view(self.placement, self.mode.value, frozenset(self.expanded))
            box = next((b for b in view.boxes if name in b.members), None)
            if box is None or box.kind not in ("group", "module"):
                break
            self.expanded.add(box.id)
        self.render()
        box = next((b for b in self.view.boxes if name in b.members), None)
        if box is None:
            return
        if self.graph.selected == box.id:
            self.select(box.id)
        else:
            self.graph.selected = box.id  # -> select(), as a click
        if delegate is not None:
            self.details.value = f"<pre>{html.escape(self._delegate_text(delegate))}</pre>"

    def _delegate_text(self, delegate) -> str:
        head = f"{delegate.id}: {delegate.nodes} nodes delegated to {delegate.backend}"
        overlay = self.overlay_bar.overlay
        return head + ("\n\n" + G.details_text(overlay, delegate.id) if overlay else "")

    def _clear_selection(self) -> None:
        # an opened box is gone from the drawing; clearing lets a later click on the same id
        # (after "collapse all") reach Python again
        self.graph.selected = ""

    def _clicked(self, change) -> None:
        if change["new"]:
            try:
                self.select(change["new"])
            except StopIteration:
                pass


class GraphPanel(W.VBox):
    """One tab per backend of the report the tabs show (the lowering, or a preview beside it)."""

    def __init__(self, state=None) -> None:
        self.tabs = W.Tab()
        self.graphs: dict[str, BackendGraph] = {}
        self.banner = StaleBanner(self)
        self.caption = W.HTML()  # says when the graphs are a preview's
        self.shown = None  # the report drawn
        super().__init__(
            [self.banner, W.HTML("<i>Lower a model to see its partitioned graph.</i>")]
        )
        self.state = state
        if state is not None:
            state.observe(self._changed, FOCUS_NAMES)

    def _changed(self, _change=None) -> None:
        report = self.state.report
        if report is not self.shown:
            if report is None:
                self.shown, self.graphs = None, {}
                self.children = [self.banner, W.HTML("<i>Lower a model to see its graph.</i>")]
            else:
                self.show(report)
        self.banner.say(self.state.note(self.state.focus))

    def add_overlay(self, overlay, backend: str | None = None) -> None:
        """Offer a `NodeOverlay` (error, latency) in a backend's colour menu and show it
        (`backend`: the only or first tab when None)."""
        if not self.graphs:
            raise ValueError("no graph shown to lay an overlay over")
        self.graphs[backend or next(iter(self.graphs))].overlay_bar.add(overlay)

    def overlays(self) -> dict[str, dict]:
        """backend -> {name: NodeOverlay} laid over its graph (for Model Explorer's node data)."""
        return {b: dict(g.overlay_bar.overlays) for b, g in self.graphs.items()}

    def show(self, report) -> None:
        self.shown = report
        placed = [r for r in report.results if r.placement is not None]
        preview = any(r.preview for r in placed)
        self.graphs = {r.backend: BackendGraph(r) for r in placed}
        children = list(self.graphs.values())
        titles = [f"{name} (preview)" if preview else name for name in self.graphs]
        if len(placed) >= 2:
            children.append(ComparePane(placed))
            titles.append("compare")
        self.tabs.children = children
        self.tabs.titles = titles
        self.caption.value = (
            "<b>preview</b>: placement only, not compiled (the lowered programs, if any, stay "
            "under sizes and save)"
            if preview
            else ""
        )
        body = [self.tabs] if children else [W.HTML("<i>No backend produced a graph.</i>")]
        self.children = [self.banner, self.caption, *body]


class ComparePane(W.VBox):
    """Two backends' placements of the same model next to each other."""

    def __init__(self, results) -> None:
        names = [r.backend for r in results]
        self.by_name = {r.backend: r for r in results}
        self.left = W.Dropdown(options=names, value=names[0], description="left")
        self.right = W.Dropdown(options=names, value=names[1], description="right")
        # side by side when there is room for both, stacked when not (nothing clipped)
        self.panes = W.HBox(layout={"flex_flow": "row wrap", "width": "100%"})
        self.left.observe(lambda _: self._draw(), "value")
        self.right.observe(lambda _: self._draw(), "value")
        super().__init__([W.HBox([self.left, self.right]), self.panes])
        self._draw()

    def _draw(self) -> None:
        panes = [BackendGraph(self.by_name[d.value]) for d in (self.left, self.right)]
        for pane in panes:
            pane.layout.flex = "1 1 36em"
            pane.layout.min_width = "0"
            pane.layout.max_width = "100%"
        self.panes.children = panes
