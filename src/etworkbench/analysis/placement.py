"""Where every node of a lowered edge program went: into which delegate, or to the CPU.

The walk follows executorch's own rules (`devtools.backend_debug.get_delegation_info`): every
`call_function` node of the top-level graph except `executorch_call_delegate` is non-delegated,
and every `call_function` node inside a lowered module's original program is delegated. Ops are
grouped the same way, by node name with its numeric suffix removed.

The counts every view shows (`NodePlacement.kind`, `NodeCounts`: delegated, CPU fallback that
runs a kernel, structural getitem that runs none, and the delegated share) are defined once,
in analysis._counts, and re-exported here with the rest of the placement names.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._counts import (  # noqa: F401  (re-exported: every count name lives in analysis._counts)
    CPU_KERNEL,
    DELEGATED,
    DELEGATION_INFO_DEFINITION,
    KIND_LABELS,
    KINDS,
    SHARE_DEFINITION,
    STRUCTURAL,
    NodeCounts,
    NodePlacement,
    share_text,
)
from .source_ops import source_op_of

_SUFFIX = re.compile(r"_[\d]+$")
_CALL_DELEGATE = "executorch_call_delegate"


def op_type_of(node_name: str) -> str:
    """The op key get_delegation_info groups a node under (name minus its `_N` suffix)."""
    return _SUFFIX.sub("", node_name)


@dataclass
class DelegateSummary:
    """One delegate instance (one lowered module) in a program."""

    id: str
    backend: str
    backend_id: str
    nodes: int
    payload_bytes: int
    data_bytes: int  # named data (weights) the delegate stored alongside its payload


@dataclass
class OpCoverage:
    """One op key's nodes, as get_delegation_info groups them: `fallback` is its
    non-delegated count (structural included), `structural` the part of it that runs no kernel."""

    op: str
    target: str
    delegated: int
    fallback: int
    structural: int = 0

    @property
    def cpu_kernels(self) -> int:
        return self.fallback - self.structural


@dataclass
class Placement:
    nodes: list[NodePlacement]
    delegates: list[DelegateSummary]
    graph_inputs: list[str]
    graph_outputs: list[str]
    num_delegated_subgraphs: int = 0

    @property
    def counts(self) -> NodeCounts:
        """Delegated / CPU fallback / structural nodes and the delegated share (module doc)."""
        return NodeCounts.of(self.nodes)

    @property
    def delegated_nodes(self) -> int:
        """get_delegation_info's num_delegated_nodes (== counts.delegated)."""
        return self.counts.delegation_info_delegated

    @property
    def fallback_nodes(self) -> int:
        """get_delegation_info's num_non_delegated_nodes: CPU fallback + structural nodes.

        For the nodes that run a kernel on the CPU use `counts.cpu_kernels`."""
        return self.counts.delegation_info_non_delegated

    def coverage(self) -> list[OpCoverage]:
        """op -> (delegated, fallback, structural) counts, sorted by op key."""
        table: dict[str, OpCoverage] = {}
        for node in self.nodes:
            row = table.setdefault(node.op, OpCoverage(node.op, node.target, 0, 0))
            kind = node.kind
            if kind == DELEGATED:
                row.delegated += 1
            else:
                row.fallback += 1
                row.structural += kind == STRUCTURAL
        return [table[key] for key in sorted(table)]

    def fallbacks(self) -> list[NodePlacement]:
        """Every non-delegated node, structural ones included (each carries a reason)."""
        return [n for n in self.nodes if not n.delegated]

    def cpu_fallbacks(self) -> list[NodePlacement]:
        """The non-delegated nodes that run a kernel (`counts.cpu_kernels` of them)."""
        return [n for n in self.nodes if n.kind == CPU_KERNEL]


def _module_of(node: Any) -> tuple[str, str]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, kind = list(stack.values())[-1]
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    return str(path), kind_name.rsplit(".", 1)[-1]


# Frames in these packages are the machinery, not the model: a torchvision, timm or transformers
# model's own forward is model code, so it counts as the user's source.
_LIBRARY_DIRS = tuple(os.sep + part + os.sep for part in ("torch", "executorch", "torchao"))


def source_line(stack_trace: str | None) -> str:
    """The most useful frame of a node's stack trace: the innermost one outside torch,
    executorch and torchao (the model's own code, torchvision's included), else the last."""
    if not stack_trace:
        return ""
    frames: list[tuple[str, str, str]] = []
    lines = stack_trace.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r'\s*File "(.+)", line (\d+), in (.+)', line)
        if match:
            code = lines[index + 1].strip() if index + 1 < len(lines) else ""
            frames.append((match.group(1), match.group(2), code))
    if not frames:
        return ""
    user = [f for f in frames if not any(d in f[0] for d in _LIBRARY_DIRS)]
    path, line, code = (user or frames)[-1]
    return f"{path}:{line}: {code}"


def _shape_of(node: Any) -> str:
    value = node.meta.get("val")
    values = value if isinstance(value, (list, tuple)) else [value]
    parts = []
    for item in values:
        shape = getattr(item, "shape", None)
        dtype = getattr(item, "dtype", None)
        if shape is not None and dtype is not None:
            parts.append(f"{str(dtype).replace('torch.', '')}{list(shape)}")
    return ", ".join(parts)


def _arg_nodes(node: Any) -> list[Any]:
    import torch.fx

    found: list[Any] = []
    torch.fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n))
    return found


def _node_row(node: Any, op_name: Callable[[Any], str], **extra: Any) -> NodePlacement:
    path, kind = _module_of(node)
    return NodePlacement(
        name=extra.pop("name", node.name),
        op=op_type_of(node.name),
        target=op_name(node.target),
        module_path=path,
        module_type=kind,
        source=source_line(node.meta.get("stack_trace")),
        shape=_shape_of(node),
        source_op=source_op_of(node, op_name),
        **extra,
    )


def analyze_placement(
    graph_module: Any,
    backend_names: dict[str, str],
    reason_for: Callable[[Any], str | None],
    op_name: Callable[[Any], str],
) -> Placement:
    """Walk a lowered edge graph module and place every call_function node.

    `backend_names` maps delegate backend ids (XnnpackBackend) to workbench names (xnnpack);
    `reason_for(node)` gives the fallback reason of a top-level CPU node.
    """
    nodes: list[NodePlacement] = []
    delegates: list[DelegateSummary] = []
    graph_inputs: list[str] = []
    graph_outputs: list[str] = []
    # Where a value produced by a top-level node really comes from (delegate outputs are
    # redirected to the inner node that produced them).
    delegate_outputs: dict[str, list[str]] = {}

    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            graph_inputs.append(node.name)
        elif node.op == "output":
            graph_outputs.extend(a.name for a in _arg_nodes(node))
        elif node.op != "call_function":
            continue
        elif (
            node.name.startswith(_CALL_DELEGATE)
            or getattr(node.target, "__name__", "") == _CALL_DELEGATE
        ):
            lowered = getattr(graph_module, node.args[0].target)
            delegate_id = node.args[0].target
            backend = backend_names.get(lowered.backend_id, lowered.backend_id)
            inner_rows, outputs = _delegate_rows(lowered, delegate_id, backend, node, op_name)
            nodes.extend(inner_rows)
            delegate_outputs[node.name] = outputs
            delegates.append(
                DelegateSummary(
                    id=delegate_id,
                    backend=backend,
                    backend_id=lowered.backend_id,
                    nodes=len(inner_rows),
                    payload_bytes=len(lowered.processed_bytes),
                    data_bytes=_named_data_bytes(lowered),
                )
            )
        else:
            structural = node.target is operator.getitem
            inputs = [a.name for a in _arg_nodes(node)]
            reason = None
            if structural and inputs and inputs[0] in delegate_outputs:
                index = node.args[1]
                produced = delegate_outputs[inputs[0]]
                inputs = [produced[index]] if index < len(produced) else []
                reason = "structural: unpacks a delegate output; runs no kernel"
            elif structural:
                reason = "structural: unpacks an output of a multi-output op; runs no kernel"
            else:
                reason = reason_for(node)
            nodes.append(
                _node_row(
                    node,
                    op_name,
                    delegated=False,
                    structural=structural,
                    reason=reason,
                    inputs=inputs,
                )
            )
    return Placement(nodes, delegates, graph_inputs, graph_outputs, len(delegates))


def _delegate_rows(
    lowered: Any, delegate_id: str, backend: str, call_node: Any, op_name: Callable[[Any], str]
) -> tuple[list[NodePlacement], list[str]]:
    """Rows for the nodes inside one lowered module, and the names its outputs map to."""
    program = lowered.original_module
    user_inputs = list(program.graph_signature.user_inputs)
    outer_args = [a.name if hasattr(a, "name") else str(a) for a in call_node.args[1:]]
    renamed: dict[str, str] = {}
    if len(user_inputs) == len(outer_args):
        renamed.update(zip(user_inputs, outer_args, strict=True))
    rows: list[NodePlacement] = []
    outputs: list[str] = []
    for inner in program.graph.nodes:
        if inner.op == "call_function":
            renamed[inner.name] = f"{delegate_id}/{inner.name}"
    for inner in program.graph.nodes:
        if inner.op == "call_function":
            inputs = [renamed[a.name] for a in _arg_nodes(inner) if a.name in renamed]
            rows.append(
                _node_row(
                    inner,
                    op_name,
                    name=renamed[inner.name],
                    delegated=True,
                    backend=backend,
                    delegate=delegate_id,
                    inputs=inputs,
                )
            )
        elif inner.op == "output":
            outputs = [renamed.get(a.name, a.name) for a in _arg_nodes(inner)]
    return rows, outputs


def _named_data_bytes(lowered: Any) -> int:
    store = getattr(lowered, "named_data_store_output", None)
    if store is None:
        return 0
    indices = {entry.buffer_index for entry in store.pte_data.values()}
    return sum(len(getattr(store.buffers[i], "buffer", store.buffers[i])) for i in indices)


def analyze_tagged(
    graph_module: Any,
    owners: dict[str, tuple[str, str]],
    reason_for: Callable[[Any], str | None],
    op_name: Callable[[Any], str],
) -> Placement:
    """Placement of a partitioned-but-not-lowered graph (a preview).

    `owners` maps node name -> (backend, delegate id) for the nodes partitioners tagged. Counts
    follow what lowering would produce: tagged call_function nodes become delegated, untagged
    ones stay on the CPU, and each delegate output becomes one structural `getitem` node.
    """
    nodes: list[NodePlacement] = []
    graph_inputs: list[str] = []
    graph_outputs: list[str] = []
    members: dict[str, list[Any]] = {}
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            graph_inputs.append(node.name)
        elif node.op == "output":
            graph_outputs.extend(a.name for a in _arg_nodes(node))
        elif node.op == "call_function" and node.name in owners:
            members.setdefault(owners[node.name][1], []).append(node)

    unpacked: dict[str, str] = {}  # delegate output node -> the getitem that will unpack it
    for delegate_id, inner in members.items():
        inner_set = set(inner)
        outputs = [n for n in inner if any(u not in inner_set for u in n.users)]
        for index, node in enumerate(outputs):
            unpacked[node.name] = f"getitem_{delegate_id}_{index}"

    def producer(arg: Any, consumer_delegate: str | None) -> str:
        owner = owners.get(arg.name) if arg.op == "call_function" else None
        if owner is None:
            return arg.name
        if owner[1] == consumer_delegate:
            return f"{owner[1]}/{arg.name}"
        return unpacked.get(arg.name, f"{owner[1]}/{arg.name}")

    delegates: list[DelegateSummary] = []
    for delegate_id, inner in members.items():
        backend = owners[inner[0].name][0]
        for node in inner:
            nodes.append(
                _node_row(
                    node,
                    op_name,
                    name=f"{delegate_id}/{node.name}",
                    delegated=True,
                    backend=backend,
                    delegate=delegate_id,
                    inputs=[
                        producer(a, delegate_id) for a in _arg_nodes(node) if a.op != "get_attr"
                    ],
                )
            )
            if node.name in unpacked:
                nodes.append(
                    NodePlacement(
                        name=unpacked[node.name],
                        op="getitem",
                        target="getitem",
                        delegated=False,
                        structural=True,
                        reason="structural: unpacks a delegate output; runs no kernel",
                        inputs=[f"{delegate_id}/{node.name}"],
                    )
                )
        delegates.append(DelegateSummary(delegate_id, backend, backend, len(inner), 0, 0))
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.name not in owners:
            structural = node.target is operator.getitem
            reason = (
                "structural: unpacks an output of a multi-output op; runs no kernel"
                if structural
                else reason_for(node)
            )
            inputs = [producer(a, None) for a in _arg_nodes(node)]
            nodes.append(
                _node_row(
                    node,
                    op_name,
                    delegated=False,
                    structural=structural,
                    reason=reason,
                    inputs=inputs,
                )
            )
    return Placement(nodes, delegates, graph_inputs, graph_outputs, len(delegates))
