"""The nn.Module view of a placement: the model's own blocks as boxes, opened level by level.

A flat chain of hundreds of nodes, or one box per delegate, says little about a real model; its
nn.Module blocks (features.0 ... features.18, classifier) are what a user recognises. Each
collapsed block carries how many of its nodes each delegate took and how many fall back to the
CPU, counted over everything nested in it, so a fallback deep inside shows at the top level.
Expanded blocks become frames (graphviz clusters) holding their children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..analysis.placement import CPU_KERNEL, DELEGATED, STRUCTURAL, NodePlacement, Placement
from .graph_dot import Box, _safe, majority_backend, share_line

MODULE_PREFIX = "M_"


def module_id(path: str) -> str:
    return MODULE_PREFIX + _safe(path)


def _module_prefix(path: str, depth: int) -> str:
    """A path's block: up to the first indexed part (features.4,
    encoder.layers.encoder_layer_3) within depth+1 parts, else `depth` parts, so each
    repeated block of the model gets its own box."""
    if not path:
        return ""
    parts = path.split(".")
    for index, part in enumerate(parts[: depth + 1]):
        if any(ch.isdigit() for ch in part):
            return ".".join(parts[: index + 1])
    return ".".join(parts[:depth])


def top_blocks(paths: Iterable[str], depth: int = 2) -> dict[str, str]:
    """module path -> its top-level block. A block that is the only indexed one of its parent
    (classifier.1 under classifier) is shown as the parent, which is what users call it."""
    blocks = {p: _module_prefix(p, depth) for p in set(paths) if p}
    tops = set(blocks.values())

    def lift(block: str) -> str:
        parent, _, last = block.rpartition(".")
        if not parent or not any(ch.isdigit() for ch in last):
            return block
        if any(t != block and (t == parent or t.startswith(parent + ".")) for t in tops):
            return block
        return parent

    lifted = {b: lift(b) for b in tops}
    return {p: lifted[b] for p, b in blocks.items()}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def module_paths(placement: Placement) -> dict[str, str]:
    """node name -> the module it is drawn in: its own path, except that a (de)quantize node
    quantization added without one joins the op it feeds (or, for a quantize, follows), so an
    int8 model's q/dq nodes do not each become a box of their own."""
    paths = {n.name: n.module_path for n in placement.nodes}
    users: dict[str, list[str]] = {}
    for node in placement.nodes:
        for source in node.inputs:
            users.setdefault(source, []).append(node.name)
    for node in placement.nodes:
        if node.module_path or "quantize" not in node.target:
            continue
        producer = [paths.get(i, "") for i in node.inputs[:1]]
        consumers = [paths[u] for u in users.get(node.name, []) if paths[u]]
        near = consumers + producer if "dequantize" in node.target else producer + consumers
        paths[node.name] = next((p for p in near if p), "")
    return paths


class ModuleTree:
    """The module paths of a placement, per top-level block, with what each level holds."""

    def __init__(self, placement: Placement, depth: int = 2) -> None:
        self.paths = module_paths(placement)
        self.top = top_blocks(self.paths.values(), depth)
        self.direct: set[tuple[str, str]] = set()  # (top, path) holding nodes itself
        self.kids: dict[tuple[str, str], set[str]] = {}  # (top, path) -> next path parts
        for path, top in self.top.items():
            self.direct.add((top, path))
            cur = top
            for part in path[len(top) + 1 :].split(".") if path != top else []:
                self.kids.setdefault((top, cur), set()).add(part)
                cur = f"{cur}.{part}"

    def child(self, top: str, prefix: str, path: str) -> str:
        """The box `path` falls in when `prefix` is open: the next level, skipping levels
        that would hold a single box and nothing else (features.1 -> features.1.conv.0)."""
        cur = f"{prefix}.{path[len(prefix) + 1 :].split('.')[0]}"
        while (top, cur) not in self.direct and len(self.kids.get((top, cur), ())) == 1:
            cur = f"{cur}.{next(iter(self.kids[(top, cur)]))}"
        return cur

    def place(self, path: str, expanded: frozenset[str] | set[str]) -> tuple[str | None, list]:
        """(module box path or None for the node's own box, the open modules around it)."""
        top = self.top[path]
        cur, frames, alone = top, [], False
        while alone or module_id(cur) in expanded:
            if not alone:
                frames.append(cur)
            if cur == path:
                return None, frames
            parent, cur = cur, self.child(top, cur, path)
            # the only thing an open module holds opens with it (no click that shows one box)
            alone = (top, parent) not in self.direct and len(self.kids[(top, parent)]) == 1
        return cur, frames

    def ids_for(self, names: Iterable[str], placement: Placement) -> set[str]:
        """Module ids to open for user-facing names: a module path opens it and the modules
        around it (and the top blocks under it); a delegate id opens every module its nodes
        sit in, so they are drawn one by one."""
        wanted = [n for n in names if n]
        ids: set[str] = set()
        for node in placement.nodes:
            path = self.paths[node.name]
            if not path:
                continue
            top = self.top[path]
            if node.delegate in wanted:
                ids |= {module_id(p) for p in _prefixes(path) if _under(p, top)}
            for w in wanted:
                if _under(top, w):
                    ids.add(module_id(top))
                elif _under(w, top) and _under(path, w):
                    ids |= {module_id(p) for p in _prefixes(w) if _under(p, top)}
        return ids

    def collapse_ids(self, path: str) -> set[str]:
        """Ids of `path` and every module under it (what closing its frame closes)."""
        return {module_id(p) for q in self.top for p in _prefixes(q) if _under(p, path)}


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def module_boxes(
    placement: Placement,
    expanded: frozenset[str] | set[str],
    node_box: Callable[[NodePlacement], Box],
    depth: int = 2,
) -> tuple[dict[str, Box], dict[str, str]]:
    """Boxes of the nn.Module view and the box each node is drawn in."""
    tree = ModuleTree(placement, depth)
    where: dict[str, tuple[str | None, list]] = {}
    for node in placement.nodes:
        if tree.paths[node.name]:
            where[node.name] = tree.place(tree.paths[node.name], expanded)
    sizes: dict[str, int] = {}
    for path, _frames in where.values():
        if path is not None:
            sizes[path] = sizes.get(path, 0) + 1
    boxes: dict[str, Box] = {}
    group_of: dict[str, str] = {}
    tops = set(tree.top.values())
    for node in placement.nodes:
        path, frames = where.get(node.name, (None, []))
        if path is not None and sizes[path] == 1 and path not in tops:
            path = None  # a one-node module below the top level: draw the node itself
        if not tree.paths[node.name] and node.kind == STRUCTURAL and node.inputs:
            producer = boxes.get(group_of.get(node.inputs[0], ""))
            if producer is not None:  # fold a getitem into the box whose output it unpacks
                frames = list(producer.frames)
                if producer.kind == "module":
                    path = producer.label
        if path is None:
            box = node_box(node)
            box.frames = tuple(frames)
            boxes[box.id] = box
        else:
            box = boxes.get(module_id(path))
            if box is None:
                box = boxes[module_id(path)] = Box(module_id(path), path, "module")
                box.frames = tuple(frames)
            box.members.append(node.name)
            kind = node.kind
            if kind == DELEGATED:
                box.shares[node.backend or "?"] = box.shares.get(node.backend or "?", 0) + 1
            box.fallback_members += int(kind == CPU_KERNEL)
        group_of[node.name] = box.id
    by_name = {n.name: n for n in placement.nodes}
    for box in boxes.values():
        if box.kind == "module":
            box.backend = majority_backend(box)
            box.tooltip = module_text(box, by_name) + "\n(click to expand)"
    return boxes, group_of


def module_text(box: Box, by_name: dict[str, NodePlacement]) -> str:
    """A module box's details: what it holds and where it runs (tooltip and click text)."""
    members = [by_name[m] for m in box.members]
    types = {m.module_type for m in members if m.module_path == box.label and m.module_type}
    head = box.label + (f" ({types.pop()})" if len(types) == 1 else "")
    ops: dict[str, int] = {}
    for m in members:
        if m.kind != STRUCTURAL:
            ops[m.target] = ops.get(m.target, 0) + 1
    structural = sum(m.kind == STRUCTURAL for m in members)
    lines = [head, f"{_nodes(len(members))}: {share_line(box)}"]
    lines += [f"delegated to {b}: {_nodes(n)}" for b, n in sorted(box.shares.items())]
    if box.fallback_members:
        cpu = [m for m in members if m.kind == CPU_KERNEL]
        lines.append(f"CPU fallback (runs a kernel): {_nodes(len(cpu))}")
        lines += [f"  {m.target} ({m.name}): {m.reason or '?'}" for m in cpu[:8]]
        lines += [f"  ... and {len(cpu) - 8} more"] if len(cpu) > 8 else []
    if structural:
        lines.append(f"structural (getitem, no kernel): {_nodes(structural)}")
    lines += [f"{t}: {c}" for t, c in sorted(ops.items())]
    return "\n".join(lines)


def _nodes(count: int) -> str:
    return f"{count} node{'s' if count != 1 else ''}"
