"""Per-node numerics: which op makes a delegated or quantized program drift from float.

The program runs once here with ETDump and a debug buffer, so the runtime logs every kernel's
and every delegate call's outputs (a delegate reports at its boundary: XNNPACK logs nothing
inside). executorch's `Inspector`, given the program's ETRecord (`lowering._etrecord`, made on
first use), ties each logged value to the edge program's debug handles; the node map turns those
into placement node names. The reference is the *float* model, not the ETRecord's program (for
a quantized program that is the fake-quantized graph, whose gap to the int8 kernels says nothing
about what quantization cost): the float export runs through an fx interpreter and each node is
compared with the float node its `from_node` chain leads to. Results are kept per process by
.pte digest, input digest, model weights digest and threshold.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ._host import runnability
from ._numerics_report import DEFAULT_THRESHOLD, NodeGap, NumericsReport, gap_metrics

_CACHE: dict[tuple, NumericsReport] = {}
_MIN_DEBUG_BUFFER = 32 << 20


def numerics(
    result: Any,
    inputs: tuple | None = None,
    *,
    kwargs: dict | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    exclude_ops: Any = (),
    calibration: Any = None,
    records: Any = None,
) -> NumericsReport:
    """Gap of each recorded node of `result`'s program to the float model, on one input set.

    `inputs` / `kwargs` default to the model's example inputs. `exclude_ops` / `calibration`
    are needed only when the program was lowered with them (to make its ETRecord again).
    `records(result, exclude_ops, calibration)` gives (ETRecord path, node map): passed in by
    `BackendResult.numerics` (`lowering._etrecord.etrecord_files`), so no import cycle.
    """
    import dataclasses

    from ..errors import UsageError

    if not threshold > 0:
        raise UsageError(f"threshold must be > 0, got {threshold}")
    verdict = runnability(result)
    if verdict is not None:
        return NumericsReport(verdict[0], reason=verdict[1], backend=result.backend)
    spec = result.model_spec
    if spec is None:
        return NumericsReport("not run", "no float model on this result", result.backend)
    args = tuple(spec.example_inputs) if inputs is None else tuple(inputs)
    kw = dict(spec.example_kwargs if kwargs is None else kwargs)
    order = {key: index for index, key in enumerate(spec.example_kwargs)}
    kw = dict(sorted(kw.items(), key=lambda item: order.get(item[0], len(order))))
    if records is None:
        raise UsageError("numerics needs the ETRecord maker: call result.numerics()")
    key = (
        hashlib.sha256(result.buffer).hexdigest(),
        _digest((args, kw)),
        _weights_digest(spec.module),
        threshold,
    )
    if key in _CACHE:
        return dataclasses.replace(_CACHE[key], cached=True)
    given = inputs is not None or kwargs is not None
    lowering = (records, exclude_ops, calibration)
    report = _measure(result, spec, args, kw, given, threshold, lowering)
    if report.ok:
        _CACHE[key] = report
    return report


def _measure(result, spec, args, kw, given, threshold, lowering) -> NumericsReport:
    records, exclude_ops, calibration = lowering
    report = NumericsReport("ok", backend=result.backend, threshold=threshold)
    report.note = "given inputs" if given else "example inputs"
    clock = time.perf_counter()
    try:
        record, nodes = records(result, exclude_ops, calibration)
        report.seconds["etrecord"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        values = _run_with_etdump(result, args, kw, str(record))
        report.seconds["run"] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        reference, norms = float_intermediates(spec, args, kw)
        report.seconds["reference"] = round(time.perf_counter() - clock, 3)
    except Exception as exc:
        from ..lowering._triage import triage

        status = "not run" if type(exc).__name__ in ("NotReproducible", "UsageError") else "failed"
        return NumericsReport(
            status, reason=triage("numerics", exc).one_line, backend=result.backend
        )
    clock = time.perf_counter()
    _compare(result, nodes, values, (reference, norms), report)
    report.seconds["compare"] = round(time.perf_counter() - clock, 3)
    return report


def _run_with_etdump(result: Any, args: tuple, kw: dict, record: str) -> list:
    """The program's logged outputs, one execution, resolved through the ETRecord."""
    from executorch.runtime import Runtime

    from .._compat.devtools import intermediate_outputs
    from ..models._inputs import flat_inputs

    arena = sum(result.sizes.planned_arena_bytes) if result.sizes else 0
    size = max(_MIN_DEBUG_BUFFER, 8 * arena)  # every logged tensor is copied into it
    program = Runtime.get().load_program(result.buffer, enable_etdump=True, debug_buffer_size=size)
    program.load_method("forward").execute(flat_inputs(args, kw))
    with tempfile.TemporaryDirectory(prefix="etwb-numerics-") as tmp:
        etdump, debug = Path(tmp) / "run.etdp", Path(tmp) / "debug.bin"
        program.write_etdump_result_to_file(str(etdump), str(debug))
        if not etdump.is_file() or etdump.stat().st_size == 0:
            raise RuntimeError("the runtime wrote no ETDump (built without the event tracer?)")
        return intermediate_outputs(str(etdump), str(debug), record)


def float_intermediates(spec: Any, args: tuple, kw: dict) -> tuple[dict[str, Any], dict[str, str]]:
    """Every node output of the float model's exported program on these inputs, by node name,
    and which batch norm follows which node (`_norms_after`)."""
    import torch
    from torch.fx import Interpreter

    from .._compat.torch import tree_leaves
    from ..lowering._dynamic_export import export_spec

    module = export_spec(spec, spec.module).module()
    captured: dict[str, Any] = {}

    class Capture(Interpreter):
        def run_node(self, node: Any) -> Any:
            value = super().run_node(node)
            if node.op == "call_function" and isinstance(value, torch.Tensor):
                captured[node.name] = value.detach().clone()
            return value

    placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
    leaves = tree_leaves((args, kw))
    if len(leaves) != len(placeholders):
        raise RuntimeError(f"float graph takes {len(placeholders)} inputs, got {len(leaves)}")
    with torch.no_grad():
        Capture(module).run(*leaves)
    return captured, _norms_after(module.graph)


def _norms_after(graph: Any) -> dict[str, str]:
    """Each node whose value goes into a batch norm -> the name of that norm's tensor output.

    Quantization folds a batch norm into the convolution before it, so the convolution's runtime
    output is the float model's value *after* the norm; `_compare` uses this to find it."""
    after = {}
    for node in graph.nodes:
        if node.op != "call_function" or "batch_norm" not in str(node.target) or not node.args:
            continue
        out = node
        getitems = [u for u in node.users if "getitem" in str(u.target) and u.args[1] == 0]
        if getitems:  # the native form returns (output, mean, rstd)
            out = getitems[0]
        source = node.args[0]
        if getattr(source, "op", "") == "call_function":
            after[source.name] = out.name
    return after


def _compare(result, nodes: dict, values: list, floats: tuple, report: NumericsReport) -> None:
    import torch

    reference, norms = floats
    placement = {n.name: n for n in result.placement.nodes} if result.placement else {}
    modules = _delegate_modules(placement.values())
    kept = set(nodes.get("seen", ()))  # float nodes the lowered graph still has a node of
    order = {name: index for index, name in enumerate(placement)}
    by_handle: dict[int, list[dict]] = {}
    for node in nodes["top"]:
        for handle in node["handles"]:
            by_handle.setdefault(handle, []).append(node)
    unused = list(nodes["delegates"])  # in graph order, which is the order they run in
    for value in values:
        handles = set(value.handles)
        if value.event == "DELEGATE_CALL":
            delegate = _delegate_of(handles, unused, nodes["delegates"])
            targets = delegate["outputs"]
        else:
            targets = [n for h in value.handles for n in by_handle.get(h, [])][-1:]
        for target, out in zip(targets, value.outputs, strict=False):
            ref_name = next((r for r in target["refs"] if _same_shape(reference.get(r), out)), None)
            norm = norms.get(ref_name)
            if norm and norm not in kept and _same_shape(reference.get(norm), out):
                ref_name = norm  # the norm was folded into this node: compare after it
            if ref_name is None or not isinstance(out, torch.Tensor):
                report.unmatched.append(target["name"])
                continue
            if not out.is_floating_point():
                if not target.get("dequant"):
                    report.unmatched.append(target["name"] + " (integer output)")
                    continue
                scale, zero = target["dequant"]  # an int8 boundary: its float meaning
                out = (out.to(torch.float32) - zero) * scale
            metrics = gap_metrics(reference[ref_name], out)
            node = placement.get(target["name"])
            report.rows.append(
                NodeGap(
                    name=target["name"],
                    op=(node.source_op or node.target) if node else ref_name,
                    placement=(node.backend or "cpu") if node and node.delegated else "cpu",
                    order=order.get(target["name"], len(order) + len(report.rows)),
                    max_abs=metrics[0],
                    relative=metrics[1],
                    snr_db=metrics[2],
                    cosine=metrics[3],
                    shape=tuple(out.shape),
                    event=value.event,
                    reference=ref_name,
                    module_path=node.module_path
                    if node is not None and node.module_path
                    else modules.get(target["name"].split("/")[0], ""),
                )
            )
    report.rows.sort(key=lambda row: row.order)
    measured = {row.name for row in report.rows}  # another event of the node matched
    report.unmatched = [name for name in dict.fromkeys(report.unmatched) if name not in measured]


def _delegate_of(handles: set, unused: list[dict], delegates: list[dict]) -> dict:
    """The delegate a DELEGATE_CALL event with these debug handles stands for: the first not yet
    taken whose handles are exactly these (per_op_mode makes several delegates with one handle
    each, and one op's handle can also sit in a neighbour's set), else the most overlapping."""
    same = next((d for d in unused if set(d["handles"]) == handles), None)
    if same is None:
        pool = unused or delegates
        same = max(pool, key=lambda d: len(handles & set(d["handles"])))
    if same in unused:
        unused.remove(same)
    return same


def _delegate_modules(nodes: Any) -> dict[str, str]:
    """Each delegate's deepest module all its ops share (per_op_mode: the op's own): the module
    of a delegate output that has none itself (a quantize node)."""
    paths: dict[str, list[list[str]]] = {}
    for node in nodes:
        if node.delegate and node.module_path:
            paths.setdefault(node.delegate, []).append(node.module_path.split("."))
    return {d: ".".join(os.path.commonprefix(p)) for d, p in paths.items()}  # element-wise


def _same_shape(reference: Any, value: Any) -> bool:
    return reference is not None and tuple(getattr(value, "shape", ())) == tuple(reference.shape)


def _digest(tree: Any) -> str:
    """Digest of a pytree of inputs: every tensor's dtype, shape and bytes; other leaves' repr."""
    import torch

    from .._compat.torch import tree_leaves

    digest = hashlib.sha256()
    for leaf in tree_leaves(tree):
        if isinstance(leaf, torch.Tensor):
            tensor = leaf.detach().contiguous().cpu()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            digest.update(repr(leaf).encode())
    return digest.hexdigest()


def _weights_digest(module: Any) -> str:
    """The float reference depends on the model's weights: a changed module is a new key."""
    state = module.state_dict()
    return _digest([state[name] for name in sorted(state)]) + ",".join(sorted(state))
