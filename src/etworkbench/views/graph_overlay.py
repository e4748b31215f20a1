"""Colour modes of the graph view: a `NodeOverlay` (error, latency) as a sequential scale.

The placement mode colours by where a node runs; an overlay mode colours each box by its
value, darker is worse, over the range of the boxes drawn, with nodes that have no value in
grey. Borders keep the placement's meaning (backend colour, red dashed for CPU fallbacks), so
the two stay readable together. Collapsed boxes show an aggregate of their members: the total
for latency (time adds up), the worst for anything else (an error does not). A delegate call
measured only as a whole (its id is a key of the overlay, no per-op values) is the value of
its delegate box, and of a module box only when all of its nodes sit in that module.
"""

from __future__ import annotations

import html
import textwrap
from typing import Any

# Box, GraphView: views.graph_dot's (which imports this module to draw them)
Box = GraphView = Any

# ColorBrewer "YlOrRd" (sequential), light = best, dark = worst
SCALE = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
NO_VALUE = "#ececec"
NODE_KINDS = ("delegated", "fallback", "structural")


def aggregate(overlay: Any) -> str:
    """How a collapsed box sums its members: "total" (latency adds up) or "worst"."""
    return "total" if overlay.name == "latency" else "worst"


def fmt(value: float, unit: str) -> str:
    return f"{value:.3g} {unit}".rstrip()


def annotate(view: GraphView, placement: Any, overlay: Any) -> None:
    """Give every box of `view` its overlay value (None: no value) and say it in its tooltip."""
    view.overlay = overlay
    delegate_of = {n.name: n.delegate for n in placement.nodes if n.delegated}
    members: dict[str, set[str]] = {}
    for name, delegate in delegate_of.items():
        members.setdefault(delegate, set()).add(name)
    blocks = {d for d in members if d in overlay.values}
    for box in view.boxes:
        if box.kind in NODE_KINDS:
            box.value = overlay.values.get(box.members[0]) if box.members else None
            block = delegate_of.get(box.members[0]) if box.members else None
            if box.value is None and block in blocks:
                box.value_note = f"in {block}: {fmt(overlay.values[block], overlay.unit)} (block)"
        elif box.kind in ("group", "module") and box.members:
            box.value = _group_value(box, overlay, delegate_of, members, blocks)
        if box.value is not None or box.value_note:
            text = box.value_note or f"{overlay.name}: {fmt(box.value, overlay.unit)}"
            if box.kind in ("group", "module") and box.value is not None:
                text = f"{overlay.name} ({aggregate(overlay)}): {fmt(box.value, overlay.unit)}"
            box.tooltip = f"{box.tooltip}\n{text}" if box.tooltip else text
    drawn = [b.value for b in view.boxes if b.value is not None]
    drawn += [overlay.values[d] for d in {b.delegate for b in view.boxes} & blocks]  # frames
    view.value_range = (min(drawn), max(drawn)) if drawn else None


def _group_value(box: Box, overlay: Any, delegate_of, members, blocks) -> float | None:
    inside = set(box.members)
    whole = {d for d in blocks if members[d] <= inside}  # delegate calls wholly in this box
    values = [overlay.values[d] for d in whole]
    values += [
        overlay.values[m]
        for m in box.members
        if m in overlay.values and delegate_of.get(m) not in whole
    ]
    if not values:
        return None
    if aggregate(overlay) == "total":
        return round(sum(values), 6)
    return max(values) if overlay.higher_is_worse else min(values)


def colour(view: GraphView, value: float | None) -> str:
    """The scale colour of `value` over the drawn range (grey without a value)."""
    if value is None or view.value_range is None:
        return NO_VALUE
    return SCALE[_step(view, value)]


def _step(view: GraphView, value: float) -> int:
    lo, hi = view.value_range
    t = 0.5 if hi == lo else (value - lo) / (hi - lo)
    if not view.overlay.higher_is_worse:
        t = 1 - t
    return min(len(SCALE) - 1, max(0, int(t * len(SCALE))))


def style(box: Box, view: GraphView, base: dict[str, Any]) -> dict[str, Any]:
    """`base` (the placement style) recoloured by the box's value; borders kept."""
    if box.kind not in (*NODE_KINDS, "group", "module"):
        return base
    fill = colour(view, box.value)
    dark = box.value is not None and _step(view, box.value) >= 3
    out = dict(base)
    out["fillcolor"] = fill
    out["fontcolor"] = "white" if dark else ("#222222" if box.value is not None else "#888888")
    matched = "etwb-match" in base.get("class", "")  # a search hit keeps its orange outline
    if not matched and (box.kind == "delegated" or (box.kind == "group" and box.backend)):
        out["color"] = base.get("fillcolor", "#888888")  # the backend colour, as a border
        out["penwidth"] = "2.5"
    if box.kind == "structural":
        out["style"] = "dotted"
    elif "filled" not in out.get("style", ""):
        out["style"] = ",".join(filter(None, ["filled", out.get("style", "")]))
    if box.value is not None and box.kind != "module":
        out["label"] = f"{box.label}\n{fmt(box.value, view.overlay.unit)}"
    if box.kind == "module" and "<TABLE" in str(base.get("label", "")):
        value = "no value" if box.value is None else fmt(box.value, view.overlay.unit)
        row = (
            f"<TR><TD><B>{html.escape(aggregate(view.overlay))}: {html.escape(value)}</B></TD></TR>"
        )
        out["label"] = type(base["label"])(_append_row(base["label"], row))  # stays Html
    classes = base.get("class", "").split()
    classes.append("etwb-valued" if box.value is not None else "etwb-novalue")
    out["class"] = " ".join(classes)
    return out


def _append_row(label: str, row: str) -> str:
    """Add `row` to the outer table of a module box's HTML label (its last </TABLE>)."""
    head, _, tail = label.rpartition("</TABLE>")
    return head + row + "</TABLE>" + tail


def cluster_attrs(view: GraphView, delegate: str) -> dict[str, str]:
    """A delegate's frame in the full view: its call's value, when measured as a block."""
    overlay = view.overlay
    if overlay is None or delegate not in overlay.values:
        return {}
    value = overlay.values[delegate]
    return {
        "style": "rounded,bold,filled",
        "fillcolor": _light(colour(view, value)),  # light: the nodes inside stay readable
        "label_suffix": f" · {fmt(value, overlay.unit)}",
    }


def _light(colour: str, keep: float = 0.4) -> str:
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * keep):02x}" for c in rgb)


def legend(view: GraphView) -> list[str]:
    """The scale with its unit and drawn range, grey for no value, and what the numbers are."""
    overlay = view.overlay

    def row(cell: str, text: str) -> str:
        return f'<TR><TD {cell}> </TD><TD ALIGN="LEFT">{html.escape(text)}</TD></TR>'

    rows = ""
    if view.value_range is not None:
        lo, hi = view.value_range
        worse = "higher" if overlay.higher_is_worse else "lower"
        rows += row('BORDER="0"', f"{overlay.name} ({overlay.unit}): {fmt(lo, overlay.unit)} – "
                    f"{fmt(hi, overlay.unit)}, darker = {worse} = worse")  # fmt: skip
        for i, c in enumerate(SCALE):
            t = (i + 0.5) / len(SCALE)
            t = t if overlay.higher_is_worse else 1 - t
            rows += row(f'BGCOLOR="{c}"', f"≈ {fmt(lo + t * (hi - lo), overlay.unit)}")
    else:
        rows += row('BORDER="0"', f"{overlay.name}: no values in this view")
    rows += row(f'BGCOLOR="{NO_VALUE}"', "no value for this node")
    if any(b.kind in ("group", "module") for b in view.boxes):
        rows += row('BORDER="0"', f"collapsed boxes: the {aggregate(overlay)} of their nodes")
    rows += row('BORDER="0"', "border: backend colour = delegated, red dashed = CPU fallback")
    if overlay.note:
        lines = textwrap.wrap(overlay.note, 70)
        note = '<BR ALIGN="LEFT"/>'.join(html.escape(line) for line in lines[:6])
        rows += f'<TR><TD BORDER="0"></TD><TD ALIGN="LEFT" BORDER="0">{note}<BR ALIGN="LEFT"/></TD></TR>'

    table = f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2">{rows}</TABLE>>'
    return [f'  legend [id="legend", shape=plaintext, label={table}];']


def worst_rows(overlay: Any, placement: Any, count: int = 10) -> list[tuple[str, str]]:
    """(label, key) of the `count` worst entries (`overlay.worst`), for the table beside the
    graph: value, node (or delegate call) and what it is."""
    by_name = {n.name: n for n in placement.nodes}
    rows = []
    for key, value in overlay.worst(count):
        node = by_name.get(key)
        if node is not None:
            where = node.backend if node.delegated else "CPU"
            what = f"{node.target} ({where})"
        else:
            info = overlay.details.get(key, {})
            what = f"delegate call ({info.get('backend', '?')}, {info.get('nodes', '?')} nodes)"
        rows.append((f"{fmt(value, overlay.unit):>12}  {key}  {what}", key))
    return rows


def details_text(overlay: Any, key: str) -> str:
    """A node's (or delegate call's) metrics from `overlay.details`, one per line."""
    metrics = overlay.details.get(key)
    if not metrics and key not in overlay.values:
        return f"{overlay.name}: no value"
    lines = [f"{overlay.name} ({overlay.unit}):"]
    if key in overlay.values:
        lines.append(f"  value: {fmt(overlay.values[key], overlay.unit)}")
    lines += [f"  {name}: {value}" for name, value in (metrics or {}).items()]
    return "\n".join(lines)
