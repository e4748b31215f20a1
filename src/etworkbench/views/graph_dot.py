"""Graph views as graphviz DOT / SVG: styles, backend colours, the legend (with the node counts).

`Box` and `GraphView` are what is drawn: views.graph.build_view builds them from a placement
(and re-exports them). `to_dot` draws a `GraphView`; `to_svg` runs graphviz. Node kinds and
counts are analysis.placement's: delegated (backend colour), CPU fallback (runs a kernel; red,
dashed) and structural (getitem, no kernel; dotted). A collapsed nn.Module (views.graph_modules)
is a 3-D box whose HTML label gives each delegate's share as text and as a bar, with a red border
when any node inside it falls back to the CPU; open modules are dashed frames (clusters).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from ..analysis.placement import (
    CPU_KERNEL,
    DELEGATION_INFO_DEFINITION,
    KIND_LABELS,
    SHARE_DEFINITION,
    STRUCTURAL,
    NodeCounts,
)
from . import graph_overlay


@dataclass
class Box:
    """One drawn node: a graph node, or a collapsed group of them."""

    id: str
    label: str
    kind: str  # delegated | fallback | structural | input | output | group (a delegate) | module
    members: list[str] = field(default_factory=list)
    backend: str | None = None
    delegate: str | None = None  # draw inside this delegate's cluster (full mode)
    tooltip: str = ""
    fallback_members: int = 0  # CPU fallback nodes (run a kernel) among the members
    shares: dict[str, int] = field(default_factory=dict)  # backend -> delegated members
    frames: tuple[str, ...] = ()  # the open nn.Modules it is drawn in, outermost first
    value: float | None = None  # its overlay value in a colour mode (views.graph_overlay)
    value_note: str = ""  # e.g. "in lowered_module_0: 0.1 ms (block)"


@dataclass
class GraphView:
    boxes: list[Box]
    edges: list[tuple[str, str]]
    mode: str
    counts: NodeCounts | None = None  # the placement's, for the legend
    delegated_by_backend: dict[str, int] = field(default_factory=dict)
    overlay: Any = None  # the NodeOverlay coloured by (None: placement colours)
    value_range: tuple[float, float] | None = None  # of the boxes' values, for the scale

    def box(self, box_id: str) -> Box:
        return next(b for b in self.boxes if b.id == box_id)


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


def backend_colour(backend: str | None) -> str:
    if not backend:
        return FALLBACK["border"]
    if backend in BACKEND_COLOURS:
        return BACKEND_COLOURS[backend]
    return _SPARE[sum(map(ord, backend)) % len(_SPARE)]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


class Html(str):
    """A graphviz HTML-like label: written as <...>, not quoted."""


def _attrs(**kw: str) -> str:
    parts = []
    for key, value in kw.items():
        if isinstance(value, Html):
            parts.append(f"{key}=<{value}>")
            continue
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
    framed: dict[tuple[str, ...], list[Box]] = {}
    for box in view.boxes:
        if box.delegate:
            clusters.setdefault(box.delegate, []).append(box)
        elif box.frames:
            framed.setdefault(box.frames, []).append(box)
    for box in view.boxes:
        if not box.delegate and not box.frames:
            lines.append(f"  {box.id} {_attrs(**_style(box, highlight, view))};")
    lines += _frame_lines(framed, highlight, view)
    for delegate, members in clusters.items():
        backend = members[0].backend
        block = graph_overlay.cluster_attrs(view, delegate)
        lines.append(f"  subgraph cluster_{_safe(delegate)} {{")
        lines.append(
            "    graph "
            + _attrs(
                label=f"{backend} · {delegate}{block.pop('label_suffix', '')}",
                color=backend_colour(backend),
                style=block.pop("style", "rounded,bold"),
                **block,
                fontcolor=backend_colour(backend),
                id=f"cluster_{_safe(delegate)}",
                tooltip=f"{delegate}: {len(members)} nodes delegated to {backend}",
                **{"class": "etwb-delegate"},
            )
            + ";"
        )
        for box in members:
            lines.append(f"    {box.id} {_attrs(**_style(box, highlight, view))};")
        lines.append("  }")
    for a, b in view.edges:
        lines.append(f"  {a} -> {b};")
    if legend:
        lines += graph_overlay.legend(view) if view.overlay is not None else _legend(view)
    lines.append("}")
    return "\n".join(lines)


def _style(box: Box, highlight: set[str] | frozenset[str], view: GraphView) -> dict[str, str]:
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
    elif box.kind == "module":
        style |= _module_style(box)
    elif box.kind == "fallback":
        style |= {
            "shape": "box",
            "style": "filled,dashed",
            "fillcolor": FALLBACK["fill"],
            "color": FALLBACK["border"],
            "penwidth": "1.5",
        }
    elif box.kind == "structural":
        style |= {"shape": "ellipse", "style": "dotted", "fontcolor": "#777777", "height": "0.2"}
    else:  # input / output
        style |= {"shape": "oval", "style": "filled", "fillcolor": "#eeeeee"}
    classes = [_CLASSES.get((box.kind, bool(box.backend)), "etwb-io")]
    if box.kind == "module":
        classes = ["etwb-group etwb-module" + (" etwb-has-fallback" * bool(box.fallback_members))]
    if highlight and set(box.members) & set(highlight):
        style |= {"color": "#ff8c00", "penwidth": "4"}
        classes.append("etwb-match")
    style["class"] = " ".join(classes)
    return graph_overlay.style(box, view, style) if view.overlay is not None else style


def _frame_lines(framed: dict[tuple[str, ...], list[Box]], highlight, view) -> list[str]:
    """Nested clusters for the open nn.Modules of the module view, each holding its boxes."""
    chains: list[tuple[str, ...]] = []
    for chain in framed:
        for i in range(1, len(chain) + 1):
            if chain[:i] not in chains:
                chains.append(chain[:i])

    def emit(chain: tuple[str, ...], indent: str) -> list[str]:
        cid = "cluster_M_" + _safe(chain[-1])
        tip = f"{chain[-1]} (open): click its title or frame to close it"
        out = [f"{indent}subgraph {cid} {{"]
        out.append(
            f"{indent}  graph "
            + _attrs(
                label=chain[-1],
                id=cid,
                tooltip=tip,
                style="rounded,dashed",
                color="#888888",
                fontcolor="#555555",
                **{"class": "etwb-frame"},
            )
            + ";"
        )
        for box in framed.get(chain, []):
            out.append(f"{indent}  {box.id} {_attrs(**_style(box, highlight, view))};")
        for sub in chains:
            if len(sub) == len(chain) + 1 and sub[:-1] == chain:
                out += emit(sub, indent + "  ")
        return out + [f"{indent}}}"]

    return [line for c in chains if len(c) == 1 for line in emit(c, "  ")]


def majority_backend(box: Box) -> str | None:
    """The backend that took most of a box's nodes (None when the CPU runs most of them)."""
    if not box.shares:
        return None
    backend, count = max(box.shares.items(), key=lambda kv: (kv[1], kv[0]))
    return backend if count >= box.fallback_members else None


def share_line(box: Box) -> str:
    """Each delegate's share, "xnnpack 12/12" or "xnnpack 10/13 · vulkan 2/13", of the nodes
    that run a kernel (structural getitems run none and are not counted)."""
    total = sum(box.shares.values()) + box.fallback_members
    if not total:
        return "no kernels (structural only)"
    parts = [f"{b} {n}/{total}" for b, n in sorted(box.shares.items(), key=lambda kv: -kv[1])]
    return " · ".join(parts) or f"CPU {box.fallback_members}/{total}"


def _tint(colour: str, keep: float = 0.25) -> str:
    """`colour` mixed with white: a fill dark text stays readable on."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * keep):02x}" for c in rgb)


BAR_WIDTH = 72  # points: the share bar under a module box's text


def _module_style(box: Box) -> dict[str, str]:
    """A module box: its path, each delegate's share (text and bar), red when any CPU node."""
    esc = html.escape
    rows = [f"<B>{esc(box.label)}</B>", esc(share_line(box))]
    if box.fallback_members:
        rows.append(
            f'<FONT COLOR="{FALLBACK["border"]}"><B>{box.fallback_members} on CPU</B></FONT>'
        )
    parts = sorted(box.shares.items(), key=lambda kv: -kv[1])
    parts = [(backend_colour(b), n) for b, n in parts]
    if box.fallback_members:
        parts.append((FALLBACK["border"], box.fallback_members))
    total = sum(n for _, n in parts)
    cells = "".join(
        f'<TD BGCOLOR="{c}" WIDTH="{max(1, round(BAR_WIDTH * n / total))}" HEIGHT="5" '
        'FIXEDSIZE="TRUE"></TD>'
        for c, n in parts
    )
    width = sum(max(1, round(BAR_WIDTH * n / total)) for _, n in parts)
    cell = "<TR><TD>{}</TD></TR>"
    label = "".join(cell.format(r) for r in rows)
    if cells:
        bar = (
            f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0" FIXEDSIZE="TRUE" '
            f'WIDTH="{width}" HEIGHT="5"><TR>{cells}</TR></TABLE>'
        )
        label += cell.format(bar)
    colour = backend_colour(box.backend) if box.backend else FALLBACK["border"]
    style = {
        "label": Html(
            f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{label}</TABLE>'
        ),
        "shape": "box3d",
        "margin": "0.18,0.05",  # graphviz underestimates bold text: keep it off the border
        "style": "filled",
        "fillcolor": _tint(colour) if box.backend else FALLBACK["fill"],
        "color": FALLBACK["border"] if box.fallback_members else colour,
        "penwidth": "2.5" if box.fallback_members else "1.5",
    }
    if not total:  # only structural getitems
        style |= {"fillcolor": "#f4f4f4", "color": "#999999", "style": "filled,dotted"}
    return style


# (box kind, has a backend) -> SVG classes tests and browser code select on.
_CLASSES = {
    ("delegated", True): "etwb-delegated",
    ("group", True): "etwb-group etwb-delegated",
    ("fallback", False): "etwb-fallback",
    ("structural", False): "etwb-structural",
}


def _legend(view: GraphView) -> list[str]:
    """Colours and, when the view knows them, the placement's counts: each row says what it
    counts, and get_delegation_info's totals are shown where they differ from them."""
    counts, by_backend = view.counts, view.delegated_by_backend

    def n(value: int) -> str:
        return f": {value} node{'s' if value != 1 else ''}" if counts is not None else ""

    def row(cell: str, text: str) -> str:
        return f'<TR><TD {cell}> </TD><TD ALIGN="LEFT">{html.escape(text)}</TD></TR>'

    backends = sorted({b.backend for b in view.boxes if b.backend} | set(by_backend))
    rows = "".join(
        row(f'BGCOLOR="{backend_colour(b)}"', f"delegated to {b}{n(by_backend.get(b, 0))}")
        for b in backends
    )
    rows += row(
        f'BGCOLOR="{FALLBACK["fill"]}" COLOR="{FALLBACK["border"]}"',
        KIND_LABELS[CPU_KERNEL] + (n(counts.cpu_kernels) if counts else ""),
    )
    rows += row(
        'STYLE="dotted"', KIND_LABELS[STRUCTURAL] + (n(counts.structural) if counts else "")
    )
    if counts is not None:
        share = f"{counts.share_text} {SHARE_DEFINITION}"
        rows += f'<TR><TD></TD><TD ALIGN="LEFT">{html.escape(share)}</TD></TR>'
        if counts.structural:
            info = f"{counts.delegation_info_text()} ({DELEGATION_INFO_DEFINITION})"
            rows += f'<TR><TD></TD><TD ALIGN="LEFT">{html.escape(info)}</TD></TR>'
    if any(b.kind == "module" for b in view.boxes):
        rows += row(
            'BGCOLOR="#ffffff"',
            "3-D box: an nn.Module; its bar: share of its nodes per delegate (backend colour) "
            "and on the CPU (red)",
        )
        rows += row(
            f'BORDER="3" COLOR="{FALLBACK["border"]}"',
            "red border, 'N on CPU': CPU fallback nodes somewhere inside it",
        )
    if any(b.frames for b in view.boxes):
        rows += row('STYLE="dashed"', "dashed frame: an open nn.Module (click its title to close)")
    rows += '<TR><TD>▤</TD><TD ALIGN="LEFT">3-D box: collapsed group (click to expand)</TD></TR>'
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
