"""Which parts of a quantized model stay in float, as a backend's quantizer is told.

`lowering._keep_float` checks the user's entries against the model and resolves them into a
`KeepFloat`: module types become the module paths that have them, so a quantizer that can only
skip names (Core ML, Arm) takes types too. Each backend's `keep_float(quantizer, keep, graph)`
then configures its own quantizer; the node predicate here is for quantizers that take a
filter function (XNNPACK, Vulkan) or node names (OpenVINO's nncf ignored scope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KeepFloat:
    """Resolved float entries: plain strings, so a worker request pickles them."""

    entries: tuple[str, ...]  # what the user asked, canonical and sorted (the cache key's part)
    modules: tuple[str, ...] = ()  # module paths (types expanded to every module of that type)
    ops: tuple[str, ...] = ()  # "aten.linear" (every overload) or "aten.linear.default"

    def __bool__(self) -> bool:
        return bool(self.entries)

    def holds(self, node: Any) -> bool:
        """Whether an exported graph node belongs to a kept module or is a kept op."""
        if self.modules and set(module_paths(node)) & set(self.modules):
            return True
        if self.ops and getattr(node, "op", None) == "call_function":
            from ._base import op_name

            name = op_name(node.target)
            return any(name == op or name.startswith(op + ".") for op in self.ops)
        return False

    def quantize_filter(self) -> Callable[[Any], bool]:
        """A PT2E quantizer filter: True for nodes that may be quantized (the rest stay float)."""
        return lambda node: not self.holds(node)

    def node_names(self, graph_module: Any) -> list[str]:
        """The names of the graph's nodes that stay float (nncf's ignored scope takes these)."""
        return [n.name for n in graph_module.graph.nodes if self.holds(n)]


def module_paths(node: Any) -> list[str]:
    """The nn.Module paths a node was traced in (its `nn_module_stack`, outermost first)."""
    stack = getattr(node, "meta", {}).get("nn_module_stack") or {}
    paths = []
    for path, _type in stack.values():
        paths.append(path[len("L['self'].") :] if path.startswith("L['self'].") else path)
    return paths
