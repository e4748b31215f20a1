"""Partitioned graph -> graphviz DOT / SVG, with collapsing so graphs of real models stay legible.

The pure part (`build_view`) turns a `Placement` into boxes and edges: one box per node, one box
per delegate instance, or (the default for big graphs) the model's nn.Module hierarchy
(views.graph_modules), with `expanded` naming the boxes opened on demand. `to_dot`
(views.graph_dot, which also defines `Box` and `GraphView`) styles it; `to_svg` runs graphviz. Nothing here knows about widgets. A node box's kind is its
`NodePlacement.kind`: delegated, fallback (a CPU node that runs a kernel) or structural (getitem
outside the delegates, no kernel); the view carries the placement's `NodeCounts` for the legend.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..analysis.overlays import NodeOverlay
from ..analysis.placement import (
    CPU_KERNEL,
    DELEGATED,
    STRUCTURAL,
    NodePlacement,
    Placement,
)
from .graph_dot import (  # noqa: F401  (re-exported: the graph view's public names)
    BACKEND_COLOURS,
    FALLBACK,
    Box,
    GraphView,
    _safe,
    backend_colour,
    majority_backend,
    share_line,
    to_dot,
    to_svg,
)
from .graph_modules import (  # noqa: F401  (_module_prefix: re-exported)
    ModuleTree,
    _module_prefix,
    _prefixes,
    module_boxes,
    module_id,
    module_paths,
)
from .graph_overlay import (  # noqa: F401  (details_text, worst_rows: re-exported)
    annotate,
    details_text,
    worst_rows,
)

MODES = ("full", "delegate", "module")
AUTO_FULL_LIMIT = 150  # above this many nodes the default view is the nn.Module hierarchy
# NodePlacement.kind -> the kind of the box drawn for one node
BOX_KIND = {DELEGATED: "delegated", CPU_KERNEL: "fallback", STRUCTURAL: "structural"}


def default_mode(placement: Placement) -> str:
    return "full" if len(placement.nodes) <= AUTO_FULL_LIMIT else "module"


def is_parameter(input_name: str) -> bool:
    """torch.export names lifted parameters / buffers / constants p_*, b_*, c_*."""
    return input_name.startswith(("p_", "b_", "c_", "_lifted_tensor_constant"))


def describe_node(node: NodePlacement) -> str:
    """The text shown on hover and click: op, target, shape, module, source, reason."""
    where = {
        DELEGATED: f"{node.backend} ({node.delegate})",
        CPU_KERNEL: "CPU fallback (runs a kernel)",
        STRUCTURAL: "nothing: structural (getitem, no kernel)",
    }[node.kind]
    lines = [
        f"{node.name}",
        f"op: {node.target}",
        f"runs on: {where}",
        f"output: {node.shape or '?'}",
        f"module: {node.module_path or '(top level)'} {node.module_type}".rstrip(),
        f"source: {node.source or '?'}",
    ]
    if not node.delegated and node.reason:
        lines.append(f"why not delegated: {node.why}")  # advice, quoting the reason, if any
    return "\n".join(lines)


def build_view(
    placement: Placement,
    mode: str | None = None,
    expanded: frozenset[str] | set[str] = frozenset(),
    depth: int = 2,
    overlay: NodeOverlay | None = None,
) -> GraphView:
    """Boxes and edges for `placement`; `expanded` holds group ids drawn node by node;
    `overlay` colours them by its values (views.graph_overlay) instead of by placement."""
    mode = mode or default_mode(placement)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "module":
        boxes, group_of = module_boxes(placement, expanded, lambda n: _node_box(n, mode), depth)
    else:
        boxes, group_of = _delegate_boxes(placement, mode, expanded)
    for name in placement.graph_inputs:
        if is_parameter(name):
            continue  # weights would drown the graph; they show in the size panel
        group_of[name] = "I_" + _safe(name)
        boxes[group_of[name]] = Box(group_of[name], name, "input", [name], tooltip=f"input {name}")
    edges: dict[tuple[str, str], None] = {}
    for node in placement.nodes:
        for source in node.inputs:
            a, b = group_of.get(source), group_of[node.name]
            if a and a != b:
                edges[(a, b)] = None
    for i, name in enumerate(placement.graph_outputs):
        out = f"O_{i}"
        boxes[out] = Box(out, f"output {i}", "output", [], tooltip=f"output {i} <- {name}")
        source = group_of.get(name) or _output_source(placement, name, group_of)
        if source:
            edges[(source, out)] = None
    order = [b for b in boxes.values() if b.kind == "input"]
    order += [b for b in boxes.values() if b.kind not in ("input", "output")]
    order += [b for b in boxes.values() if b.kind == "output"]
    by_backend: dict[str, int] = {}
    for node in placement.nodes:
        if node.kind == DELEGATED:
            by_backend[node.backend or "?"] = by_backend.get(node.backend or "?", 0) + 1
    view = GraphView(order, list(edges), mode, placement.counts, by_backend)
    if overlay is not None:
        annotate(view, placement, overlay)
    return view


def _node_box(node: NodePlacement, mode: str) -> Box:
    kind = BOX_KIND[node.kind]
    return Box(
        "N_" + _safe(node.name),
        node.target if kind != "structural" else "getitem",
        kind,
        [node.name],
        node.backend,
        node.delegate if mode == "full" else None,
        describe_node(node),
        int(kind == "fallback"),
    )


def _delegate_boxes(
    placement: Placement, mode: str, expanded: frozenset[str] | set[str]
) -> tuple[dict[str, Box], dict[str, str]]:
    """Full mode (one box per node) and delegate mode (one box per delegate instance)."""
    by_name = {n.name: n for n in placement.nodes}
    group_of: dict[str, str] = {}
    boxes: dict[str, Box] = {}
    for node in placement.nodes:
        key = None
        if mode == "delegate" and node.delegated:
            key = f"D_{_safe(node.backend or '')}_{_safe(node.delegate or '')}"
            key = None if key in expanded else key
        if key is None and node.kind == STRUCTURAL and mode != "full" and node.inputs:
            producer = group_of.get(node.inputs[0], "")
            if producer.startswith("D_"):
                key = producer  # fold getitem into the group it unpacks
        if key is None:
            box = _node_box(node, mode)
            boxes[box.id] = box
        else:
            box = boxes.get(key)
            if box is None:
                box = boxes[key] = Box(key, "", "group", [], node.backend)
            box.members.append(node.name)
            box.fallback_members += int(node.kind == CPU_KERNEL)
        group_of[node.name] = box.id
    for box in boxes.values():
        if box.kind == "group":
            _label_group(box, by_name)
    return boxes, group_of


def _output_source(placement: Placement, name: str, group_of: dict[str, str]) -> str | None:
    """A preview names graph outputs as in the edge graph, but the placement calls delegated
    nodes <delegate>/<name> and unpacks them with a getitem: find that box."""
    for node in placement.nodes:
        if node.kind == STRUCTURAL and any(i.endswith("/" + name) for i in node.inputs):
            return group_of.get(node.name)
    for node in placement.nodes:
        if node.name.endswith("/" + name):
            return group_of.get(node.name)
    return None


def _label_group(box: Box, by_name: dict[str, NodePlacement]) -> None:
    members = [by_name[m] for m in box.members]
    real = [m for m in members if m.kind != STRUCTURAL]
    counts: dict[str, int] = {}
    for m in real:
        counts[m.target] = counts.get(m.target, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    ops = ", ".join(f"{t.split('.')[1] if t.count('.') else t}×{c}" for t, c in top)
    head = f"{box.backend} · {members[0].delegate}"
    box.label = f"{head}\n{len(real)} nodes: {ops}"
    box.tooltip = f"{head}: {len(real)} nodes (click to expand)\n" + "\n".join(
        f"{t}: {c}" for t, c in sorted(counts.items())
    )


def search(placement: Placement, query: str) -> list[str]:
    """Names of nodes whose op, target or name contains `query` (case-insensitive)."""
    q = query.strip().lower()
    if not q:
        return []
    return [n.name for n in placement.nodes if q in n.target.lower() or q in n.name.lower()]


_search = search  # placement_to_dot's `search` argument shadows the function


def render(
    placement: Placement,
    mode: str | None = None,
    expanded: frozenset[str] | set[str] = frozenset(),
    highlight: set[str] | frozenset[str] = frozenset(),
    overlay: NodeOverlay | None = None,
) -> str:
    """Placement -> SVG in one call (the view, its DOT, graphviz)."""
    return to_svg(to_dot(build_view(placement, mode, expanded, overlay=overlay), highlight))


def expand_ids(placement: Placement, names: Iterable[str], depth: int = 2) -> set[str]:
    """Box ids to open for user-facing names: delegate ids (lowered_module_3) or nn.Module
    paths (features.4, features.4.conv); a module opens the modules around it too, and a
    delegate id opens every module its nodes sit in."""
    wanted = [n for n in names if n]
    ids = {
        f"D_{_safe(n.backend or '')}_{_safe(n.delegate or '')}"
        for n in placement.nodes
        if n.delegated and n.delegate in wanted
    }
    return ids | ModuleTree(placement, depth).ids_for(wanted, placement)


def module_path(placement: Placement, box_id: str) -> str | None:
    """The nn.Module path a module box id (M_...) or its frame's id (cluster_M_...) stands for."""
    box_id = box_id.removeprefix("cluster_")
    paths = {p for q in module_paths(placement).values() if q for p in _prefixes(q)}
    return next((p for p in sorted(paths) if module_id(p) == box_id), None)


def collapse_ids(placement: Placement, box_id: str, depth: int = 2) -> set[str]:
    """The open module ids that closing `box_id` (M_... or its frame cluster_M_...) closes:
    the module and every module inside it."""
    path = module_path(placement, box_id)
    if path is None:
        return {box_id.removeprefix("cluster_")}
    return ModuleTree(placement, depth).collapse_ids(path)


def opened_text(box: Box, view: GraphView) -> str:
    """What a group box turned into once opened (the click text; its tooltip says
    "click to expand", which is no longer true)."""
    members = set(box.members)
    inside = [b for b in view.boxes if b.members and set(b.members) <= members]
    head = box.tooltip.split("\n")[0].replace(" (click to expand)", "")
    lines = [f"{head}: opened, {len(members)} nodes now drawn as {len(inside)} boxes:"]
    for b in inside[:40]:
        what = b.kind
        if b.kind == "module":
            cpu = f", {b.fallback_members} on CPU" if b.fallback_members else ""
            what = f"{len(b.members)} nodes: {share_line(b)}{cpu}"
        lines.append(f"  {b.label.splitlines()[0] if b.label else b.id} ({what})")
    if len(inside) > 40:
        lines.append(f"  ... and {len(inside) - 40} more")
    if box.kind == "module":
        lines.append("click its frame's title to close it")
    return "\n".join(lines)


def placement_to_dot(
    placement: Placement,
    collapse: bool | str = "auto",
    expand: Iterable[str] = (),
    search: str | None = None,
    overlay: NodeOverlay | None = None,
) -> str:
    """DOT text: delegates boxed in their backend colour, CPU fallbacks red-dashed (or, with
    `overlay`, every box coloured by its value: views.graph_overlay).

    collapse="auto" collapses above AUTO_FULL_LIMIT nodes (True: always, False: never) into
    the nn.Module hierarchy, one box per top-level block; `expand` opens some of them
    ("features.4", or "lowered_module_3": the modules its nodes sit in); `search` outlines
    nodes whose op contains the text.
    """
    if collapse == "auto":
        mode = default_mode(placement)
    else:
        mode = "module" if collapse else "full"
    view = build_view(placement, mode, frozenset(expand_ids(placement, expand)), overlay=overlay)
    hits = set(_search(placement, search)) if search else set()
    return to_dot(view, hits)


def placement_svg(placement: Placement, **kw) -> str:
    """SVG of `placement_to_dot(placement, **kw)`: node classes etwb-delegated /
    etwb-fallback / etwb-structural / etwb-group / etwb-match, full tooltips in <title>."""
    return to_svg(placement_to_dot(placement, **kw))
