"""Partitioned graph -> graphviz DOT / SVG, with collapsing so graphs of real models stay legible.

The pure part (`build_view`) turns a `Placement` into boxes and edges: one box per node, or one
box per delegate instance / nn.Module when collapsed, with `expanded` naming the groups opened on
demand. `to_dot` styles it; `to_svg` runs graphviz. Nothing here knows about widgets.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..analysis.placement import NodePlacement, Placement

# One colour per backend; anything unknown gets a colour from the tail of the list.
BACKEND_COLOURS = {
    "xnnpack": "#4c9be8",
    "coreml": "#9b59b6",
    "vulkan": "#e67e22",
    "openvino": "#16a085",
    "ethos-u": "#2ecc71",
    "tosa": "#f1c40f",
    "qnn": "#e84393",
}
_SPARE = ["#1abc9c", "#8e44ad", "#d35400", "#27ae60", "#2980b9"]
FALLBACK = {"fill": "#fdecea", "border": "#c0392b"}
MODES = ("full", "delegate", "module")
AUTO_FULL_LIMIT = 150  # above this many nodes the default view is collapsed


def backend_colour(backend: str | None) -> str:
    if not backend:
        return FALLBACK["border"]
    if backend in BACKEND_COLOURS:
        return BACKEND_COLOURS[backend]
    return _SPARE[sum(map(ord, backend)) % len(_SPARE)]


@dataclass
class Box:
    """One drawn node: a graph node, or a collapsed group of them."""

    id: str
    label: str
    kind: str  # delegated | fallback | structural | input | output | group
    members: list[str] = field(default_factory=list)
    backend: str | None = None
    delegate: str | None = None  # draw inside this delegate's cluster (full mode)
    tooltip: str = ""
    fallback_members: int = 0


@dataclass
class GraphView:
    boxes: list[Box]
    edges: list[tuple[str, str]]
    mode: str

    def box(self, box_id: str) -> Box:
        return next(b for b in self.boxes if b.id == box_id)


def default_mode(placement: Placement) -> str:
    return "full" if len(placement.nodes) <= AUTO_FULL_LIMIT else "module"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def is_parameter(input_name: str) -> bool:
    """torch.export names lifted parameters / buffers / constants p_*, b_*, c_*."""
    return input_name.startswith(("p_", "b_", "c_", "_lifted_tensor_constant"))


def _module_prefix(path: str, depth: int) -> str:
    """The nn.Module block a CPU node groups under: up to the first indexed part
    (features.4, encoder.layers.encoder_layer_3) within depth+1 parts, else `depth` parts,
    so each repeated block of the model gets its own box."""
    if not path:
        return ""
    parts = path.split(".")
    for index, part in enumerate(parts[: depth + 1]):
        if any(ch.isdigit() for ch in part):
            return ".".join(parts[: index + 1])
    return ".".join(parts[:depth])


def describe_node(node: NodePlacement) -> str:
    """The text shown on hover and click: op, target, shape, module, source, reason."""
    where = node.delegate and f"{node.backend} ({node.delegate})" or "CPU (portable kernels)"
    lines = [
        f"{node.name}",
        f"op: {node.target}",
        f"runs on: {where}",
        f"output: {node.shape or '?'}",
        f"module: {node.module_path or '(top level)'} {node.module_type}".rstrip(),
        f"source: {node.source or '?'}",
    ]
    if not node.delegated and node.reason:
        lines.append(f"why not delegated: {node.reason}")
    return "\n".join(lines)


def build_view(
    placement: Placement,
    mode: str | None = None,
    expanded: frozenset[str] | set[str] = frozenset(),
    depth: int = 2,
) -> GraphView:
    """Boxes and edges for `placement`; `expanded` holds group ids drawn node by node."""
    mode = mode or default_mode(placement)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    by_name = {n.name: n for n in placement.nodes}
    group_of: dict[str, str] = {}
    boxes: dict[str, Box] = {}

    def group_key(node: NodePlacement) -> str | None:
        if mode == "full":
            return None
        if node.delegated:
            key = f"D_{_safe(node.backend or '')}_{_safe(node.delegate or '')}"
        elif mode == "module" and node.module_path:
            key = "M_" + _safe(_module_prefix(node.module_path, depth))
        else:
            return None
        return None if key in expanded else key

    for node in placement.nodes:
        key = group_key(node)
        if key is None and node.structural and mode != "full" and node.inputs:
            producer = group_of.get(node.inputs[0], "")
            if producer.startswith(("D_", "M_")):
                key = producer  # fold getitem into the group it unpacks
        if key is None:
            box_id = "N_" + _safe(node.name)
            kind = (
                "delegated" if node.delegated else "structural" if node.structural else "fallback"
            )
            boxes[box_id] = Box(
                box_id,
                node.target if kind != "structural" else "getitem",
                kind,
                [node.name],
                node.backend,
                node.delegate if mode == "full" else None,
                describe_node(node),
                int(kind == "fallback"),
            )
        else:
            box = boxes.get(key)
            if box is None:
                box = boxes[key] = Box(
                    key, "", "group", [], node.backend if node.delegated else None
                )
            box.members.append(node.name)
            box.fallback_members += int(not node.delegated and not node.structural)
            box_id = key
        group_of[node.name] = box_id

    for box in boxes.values():
        if box.kind == "group":
            _label_group(box, by_name)

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
    return GraphView(order, list(edges), mode)


def _output_source(placement: Placement, name: str, group_of: dict[str, str]) -> str | None:
    """A preview names graph outputs as in the edge graph, but the placement calls delegated
    nodes <delegate>/<name> and unpacks them with a getitem: find that box."""
    for node in placement.nodes:
        if node.structural and any(i.endswith("/" + name) for i in node.inputs):
            return group_of.get(node.name)
    for node in placement.nodes:
        if node.name.endswith("/" + name):
            return group_of.get(node.name)
    return None


def _label_group(box: Box, by_name: dict[str, NodePlacement]) -> None:
    members = [by_name[m] for m in box.members]
    real = [m for m in members if not m.structural]
    counts: dict[str, int] = {}
    for m in real:
        counts[m.target] = counts.get(m.target, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    ops = ", ".join(f"{t.split('.')[1] if t.count('.') else t}×{c}" for t, c in top)
    if box.id.startswith("D_"):
        head = f"{box.backend} · {members[0].delegate}"
    else:
        head = f"{_module_prefix(members[0].module_path, 2)} (CPU)"
        box.kind = "group-fallback" if box.fallback_members else "group"
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


def _attrs(**kw: str) -> str:
    parts = []
    for key, value in kw.items():
        text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{text}"')
    return "[" + ", ".join(parts) + "]"


def to_dot(
    view: GraphView, highlight: set[str] | frozenset[str] = frozenset(), legend: bool = True
) -> str:
    """Graphviz DOT for a view; `highlight` holds node names (e.g. search hits) to outline."""
    lines = [
        "digraph placement {",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=10, nodesep=0.25, ranksep=0.3];',
        '  node [fontname="Helvetica", fontsize=9, height=0.3];',
        '  edge [color="#888888", arrowsize=0.6];',
    ]
    clusters: dict[str, list[Box]] = {}
    for box in view.boxes:
        if box.delegate:
            clusters.setdefault(box.delegate, []).append(box)
    for box in view.boxes:
        if not box.delegate:
            lines.append(f"  {box.id} {_attrs(**_style(box, highlight))};")
    for delegate, members in clusters.items():
        backend = members[0].backend
        lines.append(f"  subgraph cluster_{_safe(delegate)} {{")
        lines.append(
            "    graph "
            + _attrs(
                label=f"{backend} · {delegate}",
                color=backend_colour(backend),
                style="rounded,bold",
                fontcolor=backend_colour(backend),
                id=f"cluster_{_safe(delegate)}",
                tooltip=f"{delegate}: {len(members)} nodes delegated to {backend}",
                **{"class": "etwb-delegate"},
            )
            + ";"
        )
        for box in members:
            lines.append(f"    {box.id} {_attrs(**_style(box, highlight))};")
        lines.append("  }")
    for a, b in view.edges:
        lines.append(f"  {a} -> {b};")
    if legend:
        lines += _legend(sorted({b.backend for b in view.boxes if b.backend}))
    lines.append("}")
    return "\n".join(lines)


def _style(box: Box, highlight: set[str] | frozenset[str]) -> dict[str, str]:
    style: dict[str, str] = {"label": box.label, "tooltip": box.tooltip or box.label, "id": box.id}
    if box.kind in ("delegated", "group") and box.backend:
        style |= {
            "shape": "box",
            "style": "filled,rounded",
            "fillcolor": backend_colour(box.backend),
        }
        style["fontcolor"] = "white"
        if box.kind == "group":
            style |= {"shape": "box3d", "style": "filled"}
    elif box.kind in ("fallback", "group-fallback"):
        style |= {
            "shape": "box3d" if box.kind == "group-fallback" else "box",
            "style": "filled,dashed",
            "fillcolor": FALLBACK["fill"],
            "color": FALLBACK["border"],
            "penwidth": "1.5",
        }
    elif box.kind == "group":  # CPU group without fallback ops (only structural)
        style |= {"shape": "box3d", "style": "dotted"}
    elif box.kind == "structural":
        style |= {"shape": "ellipse", "style": "dotted", "fontcolor": "#777777", "height": "0.2"}
    else:  # input / output
        style |= {"shape": "oval", "style": "filled", "fillcolor": "#eeeeee"}
    classes = [_CLASSES.get((box.kind, bool(box.backend)), "etwb-io")]
    if highlight and set(box.members) & set(highlight):
        style |= {"color": "#ff8c00", "penwidth": "4"}
        classes.append("etwb-match")
    style["class"] = " ".join(classes)
    return style


# (box kind, has a backend) -> SVG classes tests and browser code select on.
_CLASSES = {
    ("delegated", True): "etwb-delegated",
    ("group", True): "etwb-group etwb-delegated",
    ("fallback", False): "etwb-fallback",
    ("group-fallback", False): "etwb-group etwb-fallback",
    ("group", False): "etwb-group etwb-structural",
    ("structural", False): "etwb-structural",
}


def _legend(backends: list[str]) -> list[str]:
    rows = "".join(
        f'<TR><TD BGCOLOR="{backend_colour(b)}"> </TD><TD ALIGN="LEFT">delegated to {html.escape(b)}</TD></TR>'
        for b in backends
    )
    rows += (
        f'<TR><TD BGCOLOR="{FALLBACK["fill"]}" COLOR="{FALLBACK["border"]}"> </TD>'
        '<TD ALIGN="LEFT">CPU fallback (portable kernels)</TD></TR>'
        '<TR><TD STYLE="dotted"> </TD><TD ALIGN="LEFT">structural (getitem)</TD></TR>'
        '<TR><TD>▤</TD><TD ALIGN="LEFT">3-D box: collapsed group (click to expand)</TD></TR>'
    )
    table = f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2">{rows}</TABLE>>'
    return [f'  legend [id="legend", shape=plaintext, label={table}];']


def to_svg(dot: str) -> str:
    """Run graphviz `dot` on the DOT text; returns the SVG document as a string."""
    import graphviz

    return _titles_from_tooltips(graphviz.Source(dot).pipe(format="svg").decode("utf-8"))


_NODE_G = re.compile(
    r'(<g id="[^"]*" class="(?:node|cluster)[^"]*">\s*<title>)[^<]*(</title>'
    r'(?:(?!</g>).)*?<a xlink:title="([^"]*)")',
    re.S,
)


def _titles_from_tooltips(svg: str) -> str:
    # Graphviz puts the DOT id in <title> and the tooltip in an <a xlink:title>; copy the
    # tooltip into <title> (what SVG viewers and tests read). '-' in ids/classes is written
    # as &#45;; make it plain so selectors like .etwb-fallback are easy to write.
    svg = _NODE_G.sub(lambda m: m.group(1) + m.group(3) + m.group(2), svg)
    svg = re.sub(
        r'\b(id|class)="([^"]*)"',
        lambda m: f'{m.group(1)}="{m.group(2).replace("&#45;", "-")}"',
        svg,
    )
    return re.sub(r"<\?xml[^>]*>\s*|<!DOCTYPE[^>]*>\s*", "", svg)


def render(
    placement: Placement,
    mode: str | None = None,
    expanded: frozenset[str] | set[str] = frozenset(),
    highlight: set[str] | frozenset[str] = frozenset(),
) -> str:
    """Placement -> SVG in one call (the view, its DOT, graphviz)."""
    return to_svg(to_dot(build_view(placement, mode, expanded), highlight))


def expand_ids(placement: Placement, names: Iterable[str], depth: int = 2) -> set[str]:
    """Group box ids for user-facing names: delegate ids (lowered_module_3) or module blocks
    (features.4); a module name also opens the blocks under it."""
    wanted = [n for n in names if n]
    ids: set[str] = set()
    for node in placement.nodes:
        if node.delegated and node.delegate in wanted:
            ids.add(f"D_{_safe(node.backend or '')}_{_safe(node.delegate or '')}")
        elif not node.delegated and node.module_path:
            prefix = _module_prefix(node.module_path, depth)
            if any(prefix == w or prefix.startswith(w + ".") for w in wanted):
                ids.add("M_" + _safe(prefix))
    return ids


def placement_to_dot(
    placement: Placement,
    collapse: bool | str = "auto",
    expand: Iterable[str] = (),
    search: str | None = None,
) -> str:
    """DOT text: delegates boxed in their backend colour, CPU fallbacks red-dashed.

    collapse="auto" collapses above AUTO_FULL_LIMIT nodes (True: always, False: never) into
    one box per delegate instance and per nn.Module block; `expand` opens some of them
    ("lowered_module_3", "features.4"); `search` outlines nodes whose op contains the text.
    """
    if collapse == "auto":
        mode = default_mode(placement)
    else:
        mode = "module" if collapse else "full"
    view = build_view(placement, mode, frozenset(expand_ids(placement, expand)))
    hits = set(_search(placement, search)) if search else set()
    return to_dot(view, hits)


def placement_svg(placement: Placement, **kw) -> str:
    """SVG of `placement_to_dot(placement, **kw)`: node classes etwb-delegated /
    etwb-fallback / etwb-structural / etwb-group / etwb-match, full tooltips in <title>."""
    return to_svg(placement_to_dot(placement, **kw))
