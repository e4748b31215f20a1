"""ETRecords, made only when asked: the program is lowered again with `generate_etrecord=True`.

An ETRecord holds the edge program and the emitter's debug-handle maps that tie ETDump events to
graph nodes. Keeping the edge program on every lowering would cost memory and time for a file
most users never ask for, so the default lowering makes none. When one is asked for (save it, or
per-node numerics) the program is lowered again through executorch's public path
(`to_edge_transform_and_lower(..., generate_etrecord=True)`) and the .pte that makes is compared
with the one this result holds: byte for byte, or equal in everything but delegate payloads
(`same_but_delegate_blobs`); anything else is refused, so an ETRecord never describes another
program. The ETRecord and a small node map (debug handle -> placement node
name, float reference candidates) are cached under the program cache by the .pte's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes
from ..errors import UsageError
from ._cache_dir import cache_dir

_QDQ = ("quantize_per", "dequantize_per", "choose_qparams")


class NotReproducible(UsageError):
    """Lowering again did not give this result's .pte, so no ETRecord can describe it."""


def pte_digest(buffer: bytes) -> str:
    return hashlib.sha256(buffer).hexdigest()


def _store() -> Path:
    """`<cache dir>/etrecords`, or a per-user temporary one when that cannot be written."""
    for base in (cache_dir(), Path(tempfile.gettempdir()) / f"etwb-etrecords-{os.getuid()}"):
        where = base / "etrecords"
        try:
            where.mkdir(parents=True, exist_ok=True)
            if os.access(where, os.W_OK):
                return where
        except OSError:
            continue
    raise UsageError("no writable directory for ETRecords: set ETWB_CACHE_DIR")


def etrecord_files(
    result: Any, exclude_ops: Any = (), calibration: Any = None
) -> tuple[Path, dict[str, Any]]:
    """(ETRecord path, node map) of `result`'s program; lowered again once, then cached.

    `exclude_ops` / `calibration`: what the original lowering was given, if anything (a result
    does not record them); without them such a program is `NotReproducible`.
    """
    buffer = result.buffer
    digest = pte_digest(buffer)
    store = _store()
    record, nodes_file = store / f"{digest}.etrecord", store / f"{digest}.nodes-v3.json"
    if record.is_file() and nodes_file.is_file():
        return record, json.loads(nodes_file.read_text())
    nodes, program = _lower_again(result, exclude_ops, calibration)
    if pte_digest(program.buffer) != digest and not same_but_delegate_blobs(buffer, program.buffer):
        raise NotReproducible(
            f"{result.backend}: lowering again with an ETRecord gave a different .pte, so no "
            "ETRecord can describe this one (was it lowered with exclude_ops or a calibration "
            "file? pass the same ones)"
        )
    with tempfile.TemporaryDirectory(dir=store) as tmp:
        path = Path(tmp) / "record.etrecord"
        program.get_etrecord().save(str(path))
        atomic_write_bytes(record, path.read_bytes())
    atomic_write_bytes(nodes_file, json.dumps(nodes).encode())
    return record, nodes


def same_but_delegate_blobs(first: bytes, second: bytes) -> bool:
    """Whether two .pte files differ only inside delegate payloads.

    Some backends compile to bytes that differ run to run (OpenVINO's blobs differ in size from
    one lowering to the next). What an ETRecord maps (instructions, values, delegate calls and
    their debug handles, constants) lives outside the payloads, so such a pair has one ETRecord.
    """
    from .._compat.pte import deserialize_pte

    a, b = deserialize_pte(first), deserialize_pte(second)
    fields = [f for f in vars(a.program) if f != "backend_delegate_data"]
    return (
        all(getattr(a.program, f) == getattr(b.program, f) for f in fields)
        and len(a.program.backend_delegate_data) == len(b.program.backend_delegate_data)
        and a.mutable_data == b.mutable_data
        and a.named_data == b.named_data
    )


def save_etrecord(result: Any, path: str | os.PathLike, **lowering: Any) -> Path:
    """Write `result`'s ETRecord to `path` (a `.pte` path becomes `<name>.etrecord`); atomic."""
    target = Path(path).expanduser()
    if target.suffix == ".pte":
        target = target.with_suffix(".etrecord")
    record, _ = etrecord_files(result, **lowering)
    return atomic_write_bytes(target, record.read_bytes())


def numerics_method(result: Any, inputs: Any = None, **options: Any) -> Any:
    """`BackendResult.numerics`: the per-node gap to float (`runtime._numerics.numerics`)."""
    from ..runtime._numerics import numerics

    return numerics(result, inputs, records=etrecord_files, **options)


def _lower_again(result: Any, exclude_ops: Any, calibration: Any) -> tuple[dict, Any]:
    from executorch.exir import to_edge_transform_and_lower

    from ..backends import get_backend, normalize_options
    from ..backends._options import group_partitioners, of_backend, parse_assignments
    from ._dynamic_export import export_spec
    from ._exclude import exclude_partitioner
    from ._keep_float import keep_float_hook, resolve
    from ._programs import user_calibration
    from ._quantize import quantize

    spec = result.model_spec
    if spec is None:
        raise UsageError(f"{result.backend}: no model on this result to lower again")
    group = [get_backend(name) for name in result.backends]
    options = normalize_options(parse_assignments(result.options), result.backends)
    scheme = group[0].schemes[result.scheme]
    if scheme.float_export:
        program = export_spec(spec, spec.module)
    else:
        if calibration is None and result.calibration_source not in (None, "example inputs"):
            raise NotReproducible(
                f"{result.backend}: calibrated on {result.calibration_source}; pass "
                "calibration= to lower it again for an ETRecord"
            )
        calib = user_calibration(calibration, [group], [result.scheme], spec)
        batches = calib.batches if calib else [tuple(spec.example_inputs)]
        resolved = group[0].resolve_options(of_backend(options, group[0].name))
        keep = resolve(tuple(getattr(result, "float_modules", ())), spec.module)
        program = quantize(spec, scheme, batches, None, resolved, keep_float_hook(group[0], keep))
    partitioners = group_partitioners(group, result.scheme, options)
    if exclude_ops:
        partitioners = [exclude_partitioner(p, list(exclude_ops), {}) for p in partitioners]
    kwargs: dict[str, Any] = {"partitioner": partitioners, "generate_etrecord": True}
    config = next((c for c in (b.edge_compile_config() for b in group) if c is not None), None)
    if config is not None:
        kwargs["compile_config"] = config
    edge = to_edge_transform_and_lower(program, **kwargs)
    # read before to_executorch, which rewrites the graph (alloc nodes, new handles), as the
    # placement was
    nodes = node_map(edge.exported_program().graph_module)
    return nodes, edge.to_executorch()


def node_map(graph_module: Any) -> dict[str, Any]:
    """Debug handles -> placement node names, and each node's float reference candidates.

    CPU nodes are named as in the placement (their own name); a delegate is known by its
    debug handles and its outputs, named `<delegate id>/<inner node>` as the placement does.
    An output made by a per-tensor quantize node carries its [scale, zero point] ("dequant"),
    so an int8 boundary (XNNPACK per_op_mode) is compared in float.
    A node's reference candidates are the names along its `from_node` chain, oldest first,
    after stepping back over quantize/dequantize nodes (dequantize(quantize(x)) stands for x).
    """
    top, delegates = [], []
    for node in graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        name = str(getattr(node.target, "__name__", node.target))
        if "executorch_call_delegate" in name:
            lowered = getattr(graph_module, node.args[0].target)
            inner = lowered.original_module.graph_module
            handles = sorted({h for n in inner.graph.nodes for h in _handles(n)})
            output = next(n for n in inner.graph.nodes if n.op == "output")
            outs = output.args[0] if isinstance(output.args[0], (list, tuple)) else output.args
            delegates.append(
                {
                    "id": node.args[0].target,
                    "handles": handles,
                    "outputs": [
                        {
                            "name": f"{node.args[0].target}/{out.name}",
                            "refs": _references(out),
                            "dequant": _quant_params(out),
                        }
                        for out in outs
                    ],
                }
            )
        elif name != "getitem":
            top.append(
                {
                    "name": node.name,
                    "handles": _handles(node),
                    "refs": _references(node),
                    "dequant": _quant_params(node),
                }
            )
    seen = set()  # every float node name any node here descends from (inside delegates too)
    for node in graph_module.graph.nodes:
        seen.update(_chain(node))
    for delegate in delegates:
        inner = getattr(graph_module, delegate["id"]).original_module.graph_module
        for node in inner.graph.nodes:
            seen.update(_chain(node))
    return {"top": top, "delegates": delegates, "seen": sorted(seen)}


def _chain(node: Any) -> list[str]:
    names, sources = [node.name], node.meta.get("from_node")
    while sources:
        names.append(sources[0].name)
        sources = sources[0].from_node
    return names


def _quant_params(node: Any) -> list[float] | None:
    """[scale, zero point] of a per-tensor quantize node with constant parameters, else None:
    such an output is int8 at runtime, and dequantized with these it compares with float."""
    if "quantize_per_tensor" not in str(node.target) or "dequantize" in str(node.target):
        return None
    if len(node.args) < 3:
        return None
    scale, zero = node.args[1], node.args[2]
    if isinstance(scale, (int, float)) and isinstance(zero, (int, float)):
        return [float(scale), float(zero)]
    return None


def _handles(node: Any) -> list[int]:
    handle = node.meta.get("debug_handle")
    if handle is None:
        return []
    return [int(handle)] if isinstance(handle, int) else [int(h) for h in handle]


def _references(node: Any) -> list[str]:
    while (
        any(key in str(node.target) for key in _QDQ)
        and node.args
        and getattr(node.args[0], "op", "") == "call_function"
    ):
        node = node.args[0]
    return list(dict.fromkeys(reversed(_chain(node))))
