"""Reading a .pte without running it: what each method delegates, what it leaves to CPU kernels.

The header and extended header are checked here in plain Python against the file size before
anything is parsed. The flatbuffer itself is read by executorch's own deserializer
(`deserialize_pte_binary`), which only builds dataclasses and never executes anything from the
file. It is pure Python, but a corrupt length or offset can still make it loop for a very long
time or allocate a lot, so by default it runs in a forked worker process with a memory limit and
a deadline. The worker is reused (forking a process that holds torch costs ~70 ms, a parse of a
small program ~5 ms) and replaced after a timeout or crash. Every bad input ends in
`PteFormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import importlib
import os
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._compat.pte import DESERIALIZER_MODULE, LayoutError, deserialize_pte, lazy_layout
from .._forked import ForkedWorker
from .._io import arena_listing
from ..errors import PteFormatError, UsageError

IDENTIFIER = b"ET12"  # the flatbuffer file identifier executorch writes and its runtime accepts
_EH_MAGIC = b"eh00"
_EH_MIN, _EH_FULL = 24, 32  # extended header length without / with segment_data_size
_KNOWN_MAGIC = {  # what people pass by mistake, so the message can say what the file is
    b"PK\x03\x04": "a zip archive (a PyTorch .pt/.pt2 checkpoint?)",
    b"\x7fELF": "an ELF binary",
    b"\x80\x02": "a Python pickle",
    b"{": "JSON text",
}


@dataclass
class DelegateEntry:
    index: int
    backend_id: str
    location: str  # "inline" (in the flatbuffer) or "segment" (after it)
    payload_bytes: int
    compile_specs: list[str] = field(default_factory=list)  # keys only


@dataclass
class MethodEntry:
    """One execution plan: its delegates and the CPU kernels its instructions call."""

    name: str
    delegates: list[DelegateEntry]
    operators: dict[str, int]  # "aten::mean.out" -> KernelCall instructions that call it
    instructions: int
    delegate_calls: int
    inputs: int
    outputs: int
    # bytes of each planned activation arena by memory id (`non_const_buffer_sizes`; id 0 is
    # reserved by executorch and is 0): what the runtime must allocate to run the method
    planned_arena_bytes: list[int] = field(default_factory=list)

    @property
    def cpu_kernel_calls(self) -> int:
        return sum(self.operators.values())


@dataclass
class PteReport:
    """What a .pte holds, as read from the file alone."""

    path: str
    total_bytes: int
    identifier: str
    version: int
    program_bytes: int  # the flatbuffer (with its headers)
    segment_count: int
    segment_bytes: int
    methods: list[MethodEntry]
    named_data_entries: int
    named_data_bytes: int
    constant_bytes: int
    constant_location: str  # "segment", "inline" or "none"
    mutable_data_bytes: int

    @property
    def delegates(self) -> list[DelegateEntry]:
        return [d for m in self.methods for d in m.delegates]

    @property
    def delegate_payload_bytes(self) -> int:
        return sum(d.payload_bytes for d in self.delegates)

    def cpu_operators(self) -> Counter:
        """KernelCall counts per operator over all methods."""
        total: Counter = Counter()
        for method in self.methods:
            total.update(method.operators)
        return total

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["delegate_payload_bytes"] = self.delegate_payload_bytes
        for method, entry in zip(self.methods, data["methods"], strict=True):
            entry["cpu_kernel_calls"] = method.cpu_kernel_calls
        return data

    def summary(self) -> str:
        lines = [
            f"{self.path}: ExecuTorch program {self.identifier}, {self.total_bytes:,} bytes "
            f"(flatbuffer {self.program_bytes:,}; {self.segment_count} segments, "
            f"{self.segment_bytes:,} bytes)"
        ]
        for m in self.methods:
            lines.append(
                f"  method {m.name}: {len(m.delegates)} delegates, {m.cpu_kernel_calls} CPU kernel "
                f"calls, {m.instructions} instructions, {m.inputs} inputs, {m.outputs} outputs"
            )
            arenas = arena_listing(m.planned_arena_bytes) or "nothing planned"
            lines.append(f"    memory plan (activations): {arenas}")
            for d in m.delegates:
                lines.append(
                    f"    delegate {d.index}: {d.backend_id}, {d.payload_bytes:,} bytes ({d.location})"
                )
            width = max((len(op) for op in m.operators), default=0)
            for op, count in sorted(m.operators.items()):
                lines.append(f"    CPU {op:<{width}}  x{count}")
        lines.append(
            f"  named data: {self.named_data_entries} entries, {self.named_data_bytes:,} bytes; "
            f"constants: {self.constant_bytes:,} bytes ({self.constant_location}); "
            f"mutable data: {self.mutable_data_bytes:,} bytes"
        )
        return "\n".join(lines)


def inspect_pte(
    source: str | os.PathLike | bytes | bytearray,
    *,
    isolate: bool = True,
    timeout: float | None = None,
    memory_limit: int | None = None,
) -> PteReport:
    """Report a .pte given as a path or its bytes; raises `PteFormatError` for any bad file.

    `isolate=False` parses in this process (faster for many small trusted files, but a
    malicious file could then make it hang). `timeout` (seconds) and `memory_limit` (bytes the
    parse may allocate) default to values scaled by the file size.
    """
    return _report(*read_guarded(source, "", isolate, timeout, memory_limit))


def read_guarded(
    source: Any, reader: str, isolate: bool, timeout: float | None, memory_limit: int | None
) -> tuple[str, int, Any]:
    """(label, size, parsed): `inspect_pte`'s checks, parsed by `reader` ("module:function")."""
    label, head, size, content = _read(source)
    program_size, segment_base = check_layout(label, head, size)
    timeout = timeout if timeout is not None else 10.0 + size / 50e6
    budget = memory_limit if memory_limit is not None else (512 << 20) + 4 * size
    args = (content, size, program_size, segment_base, reader)
    if isolate and hasattr(os, "fork"):
        status, payload = _WORKER.run(args, timeout, budget)
    else:
        status, payload = _parse_guarded(*args)
    if status == "timeout":
        raise PteFormatError(
            f"{label}: reading it did not finish within {timeout:.0f} s; the file is corrupt "
            "(a length or offset makes the reader loop) or far larger than it looks"
        )
    if status == "memory":
        raise PteFormatError(
            f"{label}: reading it needed more than {budget >> 20} MB; the file is corrupt "
            "(a length field is far too large)"
        )
    if status == "crash":
        raise PteFormatError(f"{label}: the reader process died ({payload}); the file is corrupt")
    if status == "error":
        raise PteFormatError(f"{label}: {payload}")
    return label, size, payload


def _read(source: Any) -> tuple[str, bytes, int, bytes | str]:
    """(label, first 64 bytes, size, the bytes or the path for the reader to load)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return "<bytes>", data[:64], len(data), data
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError(f"inspect_pte takes a path or bytes, not {type(source).__name__}")
    path = Path(source).expanduser()
    if not path.exists():
        raise UsageError(f"{str(path)!r} does not exist; give the path of a .pte file")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a directory; give the path of a .pte file")
    try:  # only the header here: the reader loads the rest, so big files are not copied over
        with path.open("rb") as handle:
            head, size = handle.read(64), os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    return str(path), head, size, str(path.resolve())  # the reader may have another cwd


def check_layout(label: str, data: bytes, size: int) -> tuple[int, int]:
    """Check magic and header offsets (`data`: the first 64 bytes) against the file size.

    Returns (program size, segment base offset).
    """
    if size == 0:
        raise PteFormatError(f"{label}: empty file (0 bytes); it is not an ExecuTorch program")
    if size < 8:
        raise PteFormatError(
            f"{label}: truncated: {size} bytes is shorter than the 8-byte flatbuffer header"
        )
    ident = data[4:8]
    if ident != IDENTIFIER:
        what = next((v for k, v in _KNOWN_MAGIC.items() if data.startswith(k)), None)
        if ident[:2] == b"ET" and ident[2:].isdigit():
            raise PteFormatError(
                f"{label}: ExecuTorch program format {ident.decode()} is not the one this "
                f"executorch reads ({IDENTIFIER.decode()}); re-export it with this version"
            )
        raise PteFormatError(
            f"{label}: not an ExecuTorch program: magic is {ident!r} at bytes 4-8, expected "
            f"{IDENTIFIER!r}" + (f"; it looks like {what}" if what else "")
        )
    program_size, segment_base, segment_data = size, 0, 0
    if data[8:12] == _EH_MAGIC:
        if size < 8 + _EH_MIN:
            raise PteFormatError(
                f"{label}: truncated: the extended header is cut off after {size} bytes"
            )
        (length,) = struct.unpack_from("<I", data, 12)
        if length < _EH_MIN:
            raise PteFormatError(f"{label}: bad extended header: length {length} < {_EH_MIN} bytes")
        program_size, segment_base = struct.unpack_from("<QQ", data, 16)
        if length >= _EH_FULL and size >= 8 + _EH_FULL:
            (segment_data,) = struct.unpack_from("<Q", data, 32)
        if program_size > size:
            raise PteFormatError(
                f"{label}: truncated: header says program is {program_size} bytes but file has {size}"
            )
        if program_size < 8 + length:
            raise PteFormatError(
                f"{label}: bad extended header: program size {program_size} is smaller than "
                "the headers themselves"
            )
        if segment_base:
            if segment_base < program_size:
                raise PteFormatError(
                    f"{label}: bad extended header: segments start at byte {segment_base}, "
                    f"inside the {program_size}-byte program"
                )
            if segment_base + segment_data > size:
                raise PteFormatError(
                    f"{label}: truncated: header says segment data ends at byte "
                    f"{segment_base + segment_data} but file has {size}"
                )
    (root,) = struct.unpack_from("<I", data, 0)
    if root < 8 or root + 4 > program_size or root % 4:
        raise PteFormatError(
            f"{label}: bad flatbuffer: root table offset {root} is outside the "
            f"{program_size}-byte program"
        )
    return program_size, segment_base


def _parse_guarded(
    content: bytes | str, size: int, program_size: int, segment_base: int, reader: str = ""
) -> tuple[str, Any]:
    """Load (if a path) and parse, turning every exception into ("error"/"memory", message)."""
    try:
        if isinstance(content, str):
            try:
                with open(content, "rb") as handle:
                    content = handle.read(size + 1)
            except OSError as exc:
                return "error", f"cannot read it: {exc.strerror or exc}"
            if len(content) != size:
                return (
                    "error",
                    f"the file changed while being read ({size} -> {len(content)} bytes)",
                )
        module, _, name = reader.partition(":")  # imported here, in the worker
        parse = getattr(importlib.import_module(module), name) if reader else _parse
        return "ok", parse(content, program_size, segment_base)
    except MemoryError:
        return "memory", None
    except RecursionError:
        return "error", "bad flatbuffer: nesting too deep"
    except _Bad as exc:
        return "error", str(exc)
    except Exception as exc:  # the deserializer raises anything on corrupt data
        text = str(exc).splitlines()[0][:300] if str(exc) else ""
        return (
            "error",
            f"corrupt flatbuffer: the executorch deserializer raised {type(exc).__name__}"
            + (f": {text}" if text else ""),
        )


_Bad = LayoutError  # a structural problem found while parsing, worded for the user


def _vec(items: Any) -> Any:
    """A flatbuffer vector the deserializer left as None (absent in corrupt bytes): empty."""
    return () if items is None else items


def _parse(data: bytes, program_size: int, segment_base: int) -> dict[str, Any]:
    """Parse with executorch's deserializer and reduce to plain data (picklable, small)."""
    from executorch.exir.schema import DelegateCall, KernelCall

    # The segment table and delegate locations, read lazily before the deserializer inlines them.
    segments, locations, constant_in_segment = lazy_layout(data, program_size, segment_base)

    pte = deserialize_pte(data)
    program = pte.program
    inline = _vec(program.backend_delegate_data)
    methods = []
    for p, plan in enumerate(_vec(program.execution_plan)):
        delegates = []
        for d, delegate in enumerate(_vec(plan.delegates)):
            if delegate.processed is None or d >= len(locations[p]):
                raise _Bad(f"bad flatbuffer: method {plan.name!r} delegate {d} has no data")
            index = delegate.processed.index
            if index >= len(inline):
                raise _Bad(
                    f"bad offsets: method {plan.name!r} delegate {d} points at payload {index} "
                    f"but there are {len(inline)}"
                )
            delegates.append(
                {
                    "index": d,
                    "backend_id": str(delegate.id),
                    "location": "segment" if locations[p][d] == 1 else "inline",
                    "payload_bytes": len(inline[index].data),
                    "compile_specs": [str(s.key) for s in _vec(delegate.compile_specs)],
                }
            )
        ops = [
            f"{o.name}.{o.overload}" if o.overload else str(o.name) for o in _vec(plan.operators)
        ]
        calls: Counter = Counter()
        instructions = delegate_calls = 0
        for chain in _vec(plan.chains):
            for instruction in _vec(chain.instructions):
                instructions += 1
                args = instruction.instr_args
                if isinstance(args, KernelCall):
                    if not 0 <= args.op_index < len(ops):
                        raise _Bad(
                            f"bad offsets: method {plan.name!r} calls operator {args.op_index} "
                            f"but its operator table has {len(ops)}"
                        )
                    calls[ops[args.op_index]] += 1
                elif isinstance(args, DelegateCall):
                    if not 0 <= args.delegate_index < len(delegates):
                        raise _Bad(
                            f"bad offsets: method {plan.name!r} calls delegate "
                            f"{args.delegate_index} but it has {len(delegates)}"
                        )
                    delegate_calls += 1
        methods.append(
            {
                "name": str(plan.name),
                "delegates": delegates,
                "operators": {op: calls.get(op, 0) for op in dict.fromkeys(ops)},
                "instructions": instructions,
                "delegate_calls": delegate_calls,
                "inputs": len(_vec(plan.inputs)),
                "outputs": len(_vec(plan.outputs)),
                "planned_arena_bytes": [int(n) for n in _vec(plan.non_const_buffer_sizes)],
            }
        )
    named = pte.named_data
    constant_bytes = sum(len(b.storage) for b in _vec(program.constant_buffer))
    return {
        "version": int(program.version),
        "program_bytes": program_size,
        "segment_count": len(segments),
        "segment_bytes": sum(size for _, size in segments),
        "methods": methods,
        "named_data_entries": len(_vec(named.pte_data)) if named else 0,
        "named_data_bytes": sum(len(b) for b in _vec(named.buffers)) if named else 0,
        "constant_bytes": constant_bytes,
        "constant_location": ("segment" if constant_in_segment else "inline")
        if constant_bytes
        else "none",
        "mutable_data_bytes": sum(len(b.storage) for b in pte.mutable_data or []),
    }


def _report(label: str, total: int, parsed: dict[str, Any]) -> PteReport:
    methods = [
        MethodEntry(**{**m, "delegates": [DelegateEntry(**d) for d in m["delegates"]]})
        for m in parsed.pop("methods")
    ]
    return PteReport(label, total, IDENTIFIER.decode(), methods=methods, **parsed)


_WORKER = ForkedWorker(_parse_guarded, preload=DESERIALIZER_MODULE)
