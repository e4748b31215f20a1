"""`exclude_ops`: named operators fall back to CPU while each backend keeps the rest.

Works for any backend by wrapping its partitioner: after the real `partition()` tags nodes,
nodes of an excluded op lose their `delegation_tag`. Removing nodes from the middle of a tagged
group can leave a group that depends on itself through the CPU node (A -> excluded -> B), which
executorch would reject as a cycle, so each group that lost nodes is split again into
cycle-free partitions with torch.fx's capability partitioner, and the constants of the
affected groups are re-tagged to match their users. Ops the backend keeps from decomposition
(e.g. XNNPACK's `aten.linear.default`) are decomposed as usual when excluded, so they run on
the portable kernels of their decomposition; those nodes carry the excluded op in their
provenance and are excluded too.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from typing import Any

from ..backends._base import op_name
from ..errors import UsageError

_OP = re.compile(r"^[A-Za-z_][\w]*\.[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)?$")


def excluded_reason(op: str) -> str:
    return f"excluded by user (--exclude-op {op})"


def normalize_exclude_ops(ops: Sequence[str] | str | None) -> list[str]:
    """`aten::mean.dim` / `aten.mean.dim` / `aten.mean` (any overload); UsageError otherwise."""
    if ops is None:
        return []
    items = [ops] if isinstance(ops, str) else list(ops)
    names = []
    for item in items:
        name = str(item).strip().replace("::", ".")
        if not _OP.match(name):
            raise UsageError(
                f"cannot exclude op {item!r}: write it as namespace.op[.overload], e.g. "
                "aten.mean.dim or aten.mean (the op names `etwb lower --json` prints under ops)"
            )
        if name not in names:
            names.append(name)
    return names


def exclude_partitioner(inner: Any, ops: list[str], excluded: dict[str, tuple[str, bool]]) -> Any:
    """`inner` wrapped so that `ops` are untagged.

    `excluded` collects {node name: (op spec, whether the backend had taken it)}.
    """
    return _exclude_class()(inner, ops, excluded)


@functools.cache
def _exclude_class() -> type:
    from executorch.exir.backend.partitioner import Partitioner, PartitionResult  # heavy import

    class ExcludeOps(Partitioner):
        """Wraps one partitioner and untags the excluded ops it took."""

        def __init__(
            self, inner: Any, ops: list[str], excluded: dict[str, tuple[str, bool]]
        ) -> None:
            super().__init__(getattr(inner, "spec", {}))
            self.inner, self.ops, self.excluded = inner, ops, excluded

        # -- matching --------------------------------------------------------------------------
        def _matching_op(self, names: list[str]) -> str | None:
            for spec in self.ops:
                exact = spec.count(".") == 2
                for name in names:
                    if name == spec or (not exact and name.rsplit(".", 1)[0] == spec):
                        return spec
            return None

        def matches(self, node: Any) -> str | None:
            """The excluded op this node is, or was decomposed from; None if it is not excluded."""
            if node.op != "call_function":
                return None
            names = [op_name(node.target)]
            original = node.meta.get("original_aten")
            if original is not None:
                names.append(op_name(original))
            names += _provenance(node.meta.get("from_node"))
            return self._matching_op(names)

        # -- the Partitioner interface ---------------------------------------------------------
        def ops_to_not_decompose(self, ep: Any) -> tuple[list, Any]:
            ops, check = self.inner.ops_to_not_decompose(ep)
            if check is None:  # keep executorch's path for filter-less partitioners
                return [op for op in ops if self._matching_op([op_name(op)]) is None], None
            return ops, lambda node: bool(check(node)) and self.matches(node) is None

        def transform_for_pre_decomposition(self, ep: Any) -> Any:
            return self.inner.transform_for_pre_decomposition(ep)

        def partition(self, exported_program: Any) -> PartitionResult:
            result = self.inner.partition(exported_program)
            gm = result.tagged_exported_program.graph_module
            touched: set[str] = set()
            for node in gm.graph.nodes:
                spec = self.matches(node)
                if not spec:
                    continue
                tag = node.meta.pop("delegation_tag", None)
                if tag:
                    touched.add(tag)
                    self.excluded[node.name] = (spec, True)
                else:  # the backend did not take it anyway; its own reason still counts
                    self.excluded.setdefault(node.name, (spec, False))
            for node in gm.graph.nodes:  # a getitem cannot stay in a delegate its producer left
                if node.target is operator.getitem and node.meta.get("delegation_tag"):
                    if not node.args[0].meta.get("delegation_tag"):
                        touched.add(node.meta.pop("delegation_tag"))
            for tag in sorted(touched):
                _split_cycle_free(gm, tag, result.partition_tags)
            if touched:
                _retag_constants(gm, result.partition_tags)
            return result

    return ExcludeOps


def _provenance(sources: Any, depth: int = 0) -> list[str]:
    """Op names in a node's `from_node` chain (what it was decomposed or copied from)."""
    names: list[str] = []
    for source in sources or []:
        target = getattr(source, "target", None)
        if isinstance(target, str):
            names.append(target)
        if depth < 16:
            names += _provenance(getattr(source, "from_node", None), depth + 1)
    return names


def _split_cycle_free(gm: Any, tag: str, partition_tags: dict[str, Any]) -> None:
    from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
    from torch.fx.passes.operator_support import OperatorSupportBase

    members = {
        n for n in gm.graph.nodes if n.op == "call_function" and n.meta.get("delegation_tag") == tag
    }
    spec = partition_tags.get(tag)
    if not members:
        partition_tags.pop(tag, None)
        return

    class _Members(OperatorSupportBase):
        def is_node_supported(self, submodules: Any, node: Any) -> bool:
            return node in members

    parts = CapabilityBasedPartitioner(
        gm, _Members(), allows_single_node_partition=True
    ).propose_partitions()
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    for index, part in enumerate(sorted(parts, key=lambda p: min(order[n] for n in p.nodes))):
        new_tag = tag if index == 0 else f"{tag}_split{index}"
        partition_tags[new_tag] = spec
        for node in part.nodes:
            node.meta["delegation_tag"] = new_tag


def _retag_constants(gm: Any, partition_tags: dict[str, Any]) -> None:
    """A tagged weight goes with its users' partition, or stays outside if they are split."""
    for node in gm.graph.nodes:
        if node.op not in ("placeholder", "get_attr") or not node.meta.get("delegation_tag"):
            continue
        tags = {user.meta.get("delegation_tag") for user in node.users}
        if len(tags) == 1 and None not in tags:
            node.meta["delegation_tag"] = tags.pop()
        else:
            del node.meta["delegation_tag"]
    used = {n.meta.get("delegation_tag") for n in gm.graph.nodes if n.op == "call_function"}
    for tag in [t for t in partition_tags if t not in used]:
        del partition_tags[tag]
