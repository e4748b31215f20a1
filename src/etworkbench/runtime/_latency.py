"""Per-node latency from an ETDump profile: every event charged to the graph nodes it ran.

An ETDump event records the chain instruction it ran in. Two exact ways lead from there to
the placement's nodes, and the result is the same (tests/test_latency_overlay.py checks it):

- with an ETRecord, executorch's Inspector resolves each event to the debug handles of the
  edge program's nodes (and a delegate's own debug ids through the delegate map);
- without one, the .pte's execution plan says what each instruction is: a `KernelCall` of an
  operator or a `DelegateCall` of a delegate. The emitter writes one instruction per
  top-level node in graph order, so the k-th `DelegateCall` is the placement's k-th delegate
  (its backend id is checked) and the `KernelCall`s are its CPU-kernel nodes in order (each
  pairing's operator name is checked; a kernel `to_executorch` added has no node and is
  reported as unattributed).

A delegate call is charged to its delegate as a block (`values[delegate id]`, the call's
median); ops inside it get values of their own only when the delegate reports them with debug
handles and an ETRecord maps those (XNNPACK names its operators instead, so its blocks carry
the total only). A CPU node's value is its OPERATOR_CALL (the instruction, kernel included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..analysis.overlays import NodeOverlay
from ..analysis.placement import CPU_KERNEL, STRUCTURAL

# Profile / ProfileRow: runtime._report's (whose Profile.overlay calls overlay_of)
Profile = ProfileRow = Any

ALIASES = {"view_copy": "et_view", "_unsafe_view": "et_view"}  # edge op -> its runtime kernel


@dataclass
class _Charges:
    """What each instruction's events are charged to: a CPU node or a delegate block."""

    cpu: dict[int, str] = field(default_factory=dict)  # instruction -> node name
    delegate: dict[int, str] = field(default_factory=dict)  # instruction -> delegate id
    members: dict[str, list[str]] = field(default_factory=dict)  # delegate id -> node names
    names: dict[str, str] = field(default_factory=dict)  # edge name -> node name (handles)
    unattributed: list[str] = field(default_factory=list)
    how: str = ""


def overlay_of(
    profile: Profile, result: Any = None, *, placement: Any = None, pte: bytes | None = None
) -> NodeOverlay:
    """`NodeOverlay("latency", "ms")`: per-node and per-delegate-call median milliseconds.

    Keys are the placement's node names, and delegate ids for delegate calls measured as a
    whole. `result` (a `BackendResult`) supplies the placement and the .pte; without a
    placement, node names come from the ETRecord (delegates named lowered_module_<k> in call
    order, executorch's naming when one pass lowers the graph).
    """
    if result is not None:
        placement = placement if placement is not None else result.placement
        pte = pte if pte is not None else getattr(result, "pte_data", None)
    rows = [r for r in profile.rows if r.instruction is not None and r.kind != "method"]
    if profile.handle_names and any(r.debug_handles for r in rows):
        charges = _by_handles(rows, profile.handle_names, placement)
    elif pte is not None and placement is not None:
        charges = _by_instructions(pte, placement)
    else:
        raise ValueError(
            "per-node latency needs the program's ETRecord (debug handles) or its .pte and "
            "placement (instruction order); this profile has neither"
        )
    return _overlay(profile, rows, charges)


def _by_instructions(pte: bytes, placement: Any) -> _Charges:
    from .._compat.pte import deserialize_pte

    plan = deserialize_pte(pte).program.execution_plan[0]
    operators = [op.name for op in plan.operators]
    cpu_nodes = [n for n in placement.nodes if n.kind == CPU_KERNEL]
    charges = _Charges(how="by instruction order of the .pte's execution plan")
    charges.members = {d.id: [] for d in placement.delegates}
    for node in placement.nodes:
        if node.delegated and node.delegate in charges.members:
            charges.members[node.delegate].append(node.name)
    cursor, calls = 0, 0
    for index, instruction in enumerate(plan.chains[0].instructions):
        args = instruction.instr_args
        kind = type(args).__name__
        if kind == "DelegateCall":
            if calls < len(placement.delegates):
                delegate = placement.delegates[calls]
                if plan.delegates[args.delegate_index].id != delegate.backend_id:
                    raise ValueError(
                        f"delegate call {calls} runs {plan.delegates[args.delegate_index].id}, "
                        f"the placement's {delegate.id} is {delegate.backend_id}: this .pte is "
                        "not the program of this placement"
                    )
                charges.delegate[index] = delegate.id
            calls += 1
        elif kind == "KernelCall":
            op = operators[args.op_index]
            match = next(
                (j for j in range(cursor, len(cpu_nodes)) if _same_op(op, cpu_nodes[j].target)),
                None,
            )
            if match is None:
                charges.unattributed.append(f"instruction {index} ({op})")
                continue
            charges.cpu[index] = cpu_nodes[match].name
            cursor = match + 1
    if calls != len(placement.delegates):
        raise ValueError(
            f"the .pte makes {calls} delegate calls, the placement has "
            f"{len(placement.delegates)} delegates: not the program of this placement"
        )
    return charges


def _same_op(runtime_op: str, target: str) -> bool:
    """aten::mean (the .pte's operator) is aten.mean.dim (the edge node's target)."""
    name = runtime_op.split("::")[-1]
    parts = target.split(".")
    base = parts[-2] if len(parts) >= 2 else target
    return name == base or name == ALIASES.get(base)


def _by_handles(
    rows: list[ProfileRow], handle_names: dict[int, list[str]], placement: Any
) -> _Charges:
    charges = _Charges(how="by debug handles (ETRecord)")
    if placement is not None:  # edge name -> placement name (delegated ones are <id>/<name>)
        for node in placement.nodes:
            if node.kind != STRUCTURAL:
                charges.names.setdefault(node.name.rpartition("/")[2], node.name)
    calls = sorted({r.instruction for r in rows if r.kind == "delegate call"})
    for row in rows:
        edge = [n for h in row.debug_handles for n in handle_names.get(h, [])]
        if row.kind == "delegate call":
            fallback = f"lowered_module_{calls.index(row.instruction)}"
            named = [charges.names.get(e, f"{fallback}/{e}") for e in edge]
            block = next((n.rpartition("/")[0] for n in named if "/" in n), fallback)
            charges.delegate[row.instruction] = block
            charges.members[block] = named
        elif row.kind in ("operator call", "CPU kernel") and edge:
            charges.cpu[row.instruction] = charges.names.get(edge[0], edge[0])
    if placement is None:
        charges.names = {}
    return charges


def _overlay(profile: Profile, rows: list[ProfileRow], charges: _Charges) -> NodeOverlay:
    values: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    kernels = {r.instruction: r.event for r in rows if r.kind == "CPU kernel"}
    for row in rows:
        if row.kind == "operator call" and row.instruction in charges.cpu:
            node = charges.cpu[row.instruction]
            values[node] = row.median_ms
            details[node] = _metrics(row, kernels.get(row.instruction, row.event))
        elif row.kind == "delegate call" and row.instruction in charges.delegate:
            block = charges.delegate[row.instruction]
            values[block] = round(values.get(block, 0.0) + row.median_ms, 6)
            details[block] = _metrics(row, row.event) | {
                "backend": row.backend or "?",
                "nodes": len(charges.members.get(block, [])),
            }
    for row in rows:  # CPU kernels with no OPERATOR_CALL around them
        node = charges.cpu.get(row.instruction)
        if row.kind == "CPU kernel" and node is not None and node not in values:
            values[node] = row.median_ms
            details[node] = _metrics(row, row.event)
    inside = _delegate_ops(rows, profile.handle_names, charges, values, details)
    for block, members in charges.members.items():
        for node in members:
            if node not in values and block in values:
                details[node] = {
                    "delegate call": block,
                    "block median ms": values[block],
                    "note": "the delegate reports no time of its own for this node",
                }
    method = next((r for r in profile.rows if r.kind == "method"), None)
    total = sum(v for k, v in values.items() if k not in inside)
    note = (
        f"median of {profile.executions} executions, mapped {charges.how}; "
        f"nodes and delegate calls add up to {total:.3f} ms"
        + (f" of Method::execute's {method.median_ms:.3f} ms" if method else "")
    )
    if not inside and charges.members:
        note += "; delegate blocks show their call's total (no per-op debug handles)"
    if charges.unattributed:
        note += "; not in the graph: " + ", ".join(charges.unattributed)
    return NodeOverlay("latency", "ms", values, details, higher_is_worse=True, note=note)


def _delegate_ops(
    rows: list[ProfileRow],
    handle_names: dict[int, list[str]],
    charges: _Charges,
    values: dict[str, float],
    details: dict[str, dict[str, Any]],
) -> set[str]:
    """Ops inside delegates that the delegate reported with debug handles (an ETRecord maps
    them): each event goes to the first node it names. Returns the nodes given a value."""
    inside: set[str] = set()
    for row in rows:
        block = charges.delegate.get(row.instruction)
        if row.kind != "delegate op" or block is None or not row.debug_handles:
            continue
        edge = [n for h in row.debug_handles for n in handle_names.get(h, [])]
        if not edge:
            continue
        node = charges.names.get(edge[0]) or f"{block}/{edge[0]}"
        values[node] = round(values.get(node, 0.0) + row.median_ms, 6)
        details[node] = _metrics(row, row.event) | {"delegate call": block}
        inside.add(node)
    return inside


def _metrics(row: ProfileRow, event: str) -> dict[str, Any]:
    return {
        "median ms": row.median_ms,
        "mean ms": row.mean_ms,
        "count": row.count,
        "event": event,
        "instruction": row.instruction,
    }
