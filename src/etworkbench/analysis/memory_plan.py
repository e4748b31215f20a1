"""The memory plan over time: where each planned tensor sits in its arena and when it is live.

Read from a .pte's bytes alone (a lowering, a cache hit or any file given to `etwb inspect`),
through the same guarded worker as `pte_file`, so a corrupt file ends in `PteFormatError`.

A planned tensor is an EValue Tensor with `allocation_info` (memory id, offset); its bytes are
sizes x element size. Time is the method's instruction index, in program order (chains one
after the other; jumps are not followed). A tensor's lifetime is the inclusive span from the
first to the last instruction that references its value (KernelCall and DelegateCall
arguments, TensorList items, MoveCall source and target, JumpFalse conditions, FreeCall),
widened as executorch's planner widens it: method inputs are live from instruction 0, method
outputs until the last instruction, and state (a planned tensor with initial data, i.e. a
mutable buffer) for the whole method.

This is executorch's own notion (`exir.memory_planning.update_all_tensors_lifetime`, drawn by
`util.activation_memory_profiler`) mapped from graph nodes to the instructions they emit, with
one thing recovered: a view the emitter elided (a static `memory.view`) is a second EValue on
the same bytes that is read before anything writes it. It is kept as `alias_of` its base, whose
lifetime is widened to cover it (executorch's `_extend_storage_base_lifetimes`), and it is not
counted twice in live bytes. The difference that remains: executorch counts graph nodes, so an
allocation node or a trailing `getitem` can keep a tensor live one node longer, between two
instructions; here live bytes are read at instructions only.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from itertools import accumulate
from math import prod
from typing import Any

from .._compat.pte import deserialize_pte
from ..errors import UsageError

# executorch's ScalarType (exir/scalar_type.py) -> (name, bytes per element)
_SCALAR_TYPES = {
    0: ("uint8", 1), 1: ("int8", 1), 2: ("int16", 2), 3: ("int32", 4), 4: ("int64", 8),
    5: ("float16", 2), 6: ("float32", 4), 7: ("float64", 8), 8: ("complex32", 4),
    9: ("complex64", 8), 10: ("complex128", 16), 11: ("bool", 1), 12: ("qint8", 1),
    13: ("quint8", 1), 14: ("qint32", 4), 15: ("bfloat16", 2), 16: ("quint4x2", 1),
    17: ("quint2x4", 1), 22: ("bits16", 2), 23: ("float8_e5m2", 1), 24: ("float8_e4m3fn", 1),
    25: ("float8_e5m2fnuz", 1), 26: ("float8_e4m3fnuz", 1), 27: ("uint16", 2),
    28: ("uint32", 4), 29: ("uint64", 8),
}  # fmt: skip
KINDS = ("input", "state", "kernel", "delegate", "view")  # how a tensor's lifetime begins


@dataclass(frozen=True)
class TensorLifetime:
    """One planned tensor: bytes [offset, offset + nbytes) of arena `mem_id`, live at
    instructions first..last (inclusive)."""

    value_index: int
    mem_id: int
    offset: int
    nbytes: int
    first: int
    last: int
    producer: str  # the op of instruction `first` ("aten::relu.out", "XnnpackBackend"), "input"
    kind: str  # one of KINDS: input, state, kernel (CPU op), delegate, view (an elided view)
    shape: tuple[int, ...]
    dtype: str
    output: bool = False  # a method output
    alias_of: int | None = None  # a view: the value index of the tensor whose bytes it reads

    @property
    def end(self) -> int:
        return self.offset + self.nbytes


@dataclass
class MemoryPlan:
    """One method's planned tensors over its instructions."""

    method: str
    arenas: tuple[int, ...]  # bytes per memory id (`non_const_buffer_sizes`; id 0 reserved)
    instructions: tuple[str, ...]  # what each instruction runs: op, delegate backend, move...
    tensors: list[TensorLifetime]
    peak_bytes_by_instruction: tuple[int, ...]  # bytes of (non-view) tensors live at each
    unreferenced: int = 0  # planned tensors no instruction, input or output uses (not drawn)

    @property
    def peak_bytes(self) -> int:
        return max(self.peak_bytes_by_instruction, default=0)

    @property
    def peak_instruction(self) -> int | None:
        live = self.peak_bytes_by_instruction
        return live.index(self.peak_bytes) if live else None

    @property
    def arena_bytes(self) -> int:
        return sum(self.arenas)

    def largest(self, n: int = 5) -> list[TensorLifetime]:
        return sorted(self.tensors, key=lambda t: (-t.nbytes, t.value_index))[:n]

    def conflicts(self) -> list[tuple[TensorLifetime, TensorLifetime]]:
        """Pairs live at a common instruction whose bytes overlap in one arena (a view and its
        base excepted): what the planner promises never happens. Sweep per arena by time."""
        roots = {t.value_index: t.alias_of or t.value_index for t in self.tensors}
        found = []
        by_arena: dict[int, list[TensorLifetime]] = {}
        for t in self.tensors:
            if t.nbytes:
                by_arena.setdefault(t.mem_id, []).append(t)
        for tensors in by_arena.values():
            tensors.sort(key=lambda t: (t.first, t.last))
            live: list[TensorLifetime] = []
            for t in tensors:
                live = [u for u in live if u.last >= t.first]
                for u in live:
                    same = roots[u.value_index] == roots[t.value_index]
                    if not same and u.offset < t.end and t.offset < u.end:
                        found.append((u, t))
                live.append(t)
        return found

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(peak_bytes=self.peak_bytes, peak_instruction=self.peak_instruction)
        return data

    def summary(self, top: int = 5) -> str:
        arenas = ", ".join(f"id {i}: {n:,} bytes" for i, n in enumerate(self.arenas) if i or n)
        lines = [
            f"  method {self.method}: {len(self.tensors)} planned tensors over "
            f"{len(self.instructions)} instructions; arenas {arenas or 'none'}",
            f"    peak live: {self.peak_bytes:,} bytes at instruction {self.peak_instruction} "
            f"({self.peak_bytes / max(self.arena_bytes, 1):.0%} of the arenas)",
        ]
        for t in self.largest(top):
            shape = "x".join(map(str, t.shape)) or "scalar"
            lines.append(
                f"    v{t.value_index}: {t.nbytes:,} bytes ({shape} {t.dtype}) at id {t.mem_id} "
                f"+{t.offset:,}, live {t.first}-{t.last}, from {t.producer}"
            )
        return "\n".join(lines)


def memory_plans(source: Any, *, isolate: bool = True) -> list[MemoryPlan]:
    """Every method's `MemoryPlan`; `source` is a lowering result, .pte bytes or a path."""
    from .pte_file import read_guarded

    if hasattr(source, "buffer") and hasattr(source, "backend"):  # a BackendResult
        data = source.buffer
        if data is None:
            raise UsageError(f"{source.backend} has no program (status {source.status})")
        source = data
    elif not isinstance(source, (bytes, bytearray, memoryview, str, os.PathLike)):
        raise UsageError(
            f"memory_plan takes a lowering result, .pte bytes or a path, not {type(source).__name__}"
        )
    _, _, parsed = read_guarded(source, f"{__name__}:_parse", isolate, None, None)
    return [_plan(**method) for method in parsed]


def memory_plan(source: Any, method: str | None = None, *, isolate: bool = True) -> MemoryPlan:
    """The `MemoryPlan` of one method (`forward`, else the program's first)."""
    plans = memory_plans(source, isolate=isolate)
    names = [p.method for p in plans]
    if method is None:
        method = "forward" if "forward" in names else (names[0] if names else "forward")
    for plan in plans:
        if plan.method == method:
            return plan
    raise UsageError(f"the program has no method {method!r}; it has {', '.join(names) or 'none'}")


def _plan(tensors: list[dict], instructions: list[str], **rest: Any) -> MemoryPlan:
    lives = [TensorLifetime(**t) for t in tensors]
    delta = [0] * (len(instructions) + 1)
    for t in lives if instructions else ():
        if t.alias_of is None:
            delta[t.first] += t.nbytes
            delta[t.last + 1] -= t.nbytes
    live = tuple(accumulate(delta[:-1])) if instructions else ()
    return MemoryPlan(
        instructions=tuple(instructions), tensors=lives, peak_bytes_by_instruction=live, **rest
    )


def _parse(data: bytes, program_size: int, segment_base: int) -> list[dict[str, Any]]:
    """In the guarded worker: each method's planned tensors as plain data."""
    program = deserialize_pte(data).program
    return [_method(plan) for plan in program.execution_plan or ()]


def _method(plan: Any) -> dict[str, Any]:
    from executorch.exir.schema import (
        DelegateCall,
        FreeCall,
        JumpFalseCall,
        KernelCall,
        MoveCall,
        OptionalTensorList,
        Tensor,
        TensorList,
    )

    values = plan.values or []
    ops = [f"{o.name}.{o.overload}" if o.overload else str(o.name) for o in plan.operators or ()]
    backends = [str(d.id) for d in plan.delegates or ()]
    labels: list[str] = []
    refs: list[list[int]] = []  # per instruction: the values it references
    written: list[set[int]] = []  # per instruction: the values it (may) write
    for chain in plan.chains or ():
        for instruction in chain.instructions or ():
            args = instruction.instr_args
            if isinstance(args, KernelCall):
                labels.append(ops[args.op_index] if 0 <= args.op_index < len(ops) else "?")
                used, out = list(args.args), _returned(list(args.args), values)
            elif isinstance(args, DelegateCall):
                index = args.delegate_index
                labels.append(backends[index] if 0 <= index < len(backends) else "delegate?")
                used = list(args.args)
                out = set(used)  # inputs and outputs are not told apart: any may be written
            elif isinstance(args, MoveCall):
                labels.append("move")
                used, out = [args.move_from, args.move_to], {args.move_to}
            elif isinstance(args, JumpFalseCall):
                labels.append("jump_false")
                used, out = [args.cond_value_index], set()
            elif isinstance(args, FreeCall):
                labels.append("free")
                used, out = [args.value_index], set()
            else:
                labels.append(type(args).__name__)
                used, out = [], set()
            flat = []
            for v in used:
                flat.append(v)
                val = values[v].val if 0 <= v < len(values) else None
                if isinstance(val, (TensorList, OptionalTensorList)):
                    flat.extend(i for i in val.items if i >= 0)
            refs.append(flat)
            written.append(out)
    span: dict[int, list[int]] = {}
    for i, used in enumerate(refs):
        for v in used:
            span.setdefault(v, [i, i])[1] = i
    n = len(labels)
    inputs, outputs = set(plan.inputs or ()), set(plan.outputs or ())
    tensors, unreferenced = [], 0
    for v, value in enumerate(values):
        tensor = value.val
        if not isinstance(tensor, Tensor) or tensor.allocation_info is None:
            continue
        name, size = _SCALAR_TYPES.get(int(tensor.scalar_type), (str(tensor.scalar_type), 1))
        state = bool(tensor.data_buffer_idx) or bool(
            getattr(tensor.extra_tensor_info, "fully_qualified_name", None)
        )
        first, last = span.get(v, (None, None))
        if first is None and not (v in inputs or v in outputs or state):
            unreferenced += 1
            continue
        if v in inputs or state:
            first = 0
        if v in outputs or state:
            last = max(n - 1, 0)
        first = first if first is not None else 0
        last = last if last is not None else first
        if v in inputs or state:
            kind, producer = (
                ("input" if v in inputs else "state"),
                ("input" if v in inputs else "state"),
            )
        elif v in written[first]:
            kind = "delegate" if labels[first] in backends else "kernel"
            producer = labels[first]
        else:  # read before anything writes it: a view of bytes written earlier
            kind, producer = "view", labels[first]
        info = tensor.allocation_info
        tensors.append(
            {
                "value_index": v,
                "mem_id": int(info.memory_id),
                "offset": int(info.memory_offset),
                "nbytes": prod(int(s) for s in tensor.sizes) * size,
                "first": first,
                "last": last,
                "producer": producer,
                "kind": kind,
                "shape": tuple(int(s) for s in tensor.sizes),
                "dtype": name,
                "output": v in outputs,
            }
        )
    _link_views(tensors)
    return {
        "method": str(plan.name),
        "arenas": tuple(int(b) for b in plan.non_const_buffer_sizes or ()),
        "instructions": labels,
        "tensors": tensors,
        "unreferenced": unreferenced,
    }


def _returned(args: list[int], values: list[Any]) -> set[int]:
    """The values a KernelCall writes: the emitter appends the op's return as its last
    argument (an out-variant returns its `out` arguments; several as one TensorList)."""
    if not args or not 0 <= args[-1] < len(values):
        return set()
    items = getattr(values[args[-1]].val, "items", None)  # a TensorList of the outs
    return {args[-1], *(i for i in items or () if isinstance(i, int) and i >= 0)}


def _link_views(tensors: list[dict[str, Any]]) -> None:
    """Point each view at the tensor whose bytes it reads (the latest one begun before it that
    holds its bytes), and widen that base's lifetime over the view's."""
    by_index = {t["value_index"]: t for t in tensors}
    for view in sorted((t for t in tensors if t["kind"] == "view"), key=lambda t: t["first"]):
        holders = [
            t
            for t in tensors
            if t is not view
            and t["kind"] != "view"
            and t["mem_id"] == view["mem_id"]
            and t["first"] < view["first"]
            and t["offset"] <= view["offset"]
            and view["offset"] + view["nbytes"] <= t["offset"] + t["nbytes"]
        ]
        if not holders:  # nothing wrote those bytes before: count it as its own tensor
            view["kind"] = "kernel"
            continue
        base = max(holders, key=lambda t: (t["first"], t["value_index"]))
        view["alias_of"] = base["value_index"]
        root = by_index[base["value_index"]]
        root["last"] = max(root["last"], view["last"])
