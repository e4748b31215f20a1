"""One case on one backend: the workbench's answer against the plain executorch API's.

The plain side is executorch used the way its docs show (`torch.export.export` ->
`to_edge_transform_and_lower` -> `get_delegation_info` -> `to_executorch`) with the same
partitioner objects and `EdgeCompileConfig` the engine uses (`get_backend(b).partitioners`,
`.edge_compile_config()`), on a freshly built module. The workbench side is the default
`etworkbench.lower(module, [b], example_inputs=args, cache=True)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from ._cases import Case

# The stages both sides are compared in (the workbench's finer stages map onto these).
STAGES = ("build", "export", "to_edge+partition", "preprocess", "to_executorch")
_WORKBENCH_STAGE = {"to_edge": "to_edge+partition", "partition": "to_edge+partition"}
_GENERIC_REASON = "no reason given"


@dataclass
class Side:
    """What one side produced: counts, or the stage it failed in."""

    status: str  # ok | failed (a lowering stage raised) | error (the API itself raised)
    stage: str | None = None
    message: str | None = None
    delegated: int | None = None
    non_delegated: int | None = None
    subgraphs: int | None = None
    delegate_calls: int | None = None  # executorch_call_delegate nodes (plain side)
    ops: dict[str, list[int]] = field(default_factory=dict)  # op -> [delegated, non-delegated]
    pte_bytes: int | None = None
    pte_sha256: str | None = None
    seconds: float = 0.0
    cached: bool = False
    fallback_nodes: int = 0  # workbench only: reason coverage of its fallback nodes
    fallback_with_reason: int = 0
    fallback_generic_reason: int = 0  # "no reason given by <backend>"
    fallback_without_reason: list[str] = field(default_factory=list)  # node names
    preview: list[int] | None = None  # workbench only: [delegated, non-delegated] of preview()
    preview_error: str | None = None
    run_error: float | None = None  # workbench only: max abs error of the .pte vs eager
    run_note: str | None = None  # why it was not run here


@dataclass
class CaseResult:
    suite: str
    case: str
    backend: str
    scheme: str
    outcome: str  # agree | mismatch | error
    differences: list[str] = field(default_factory=list)
    op_diff: list[dict] = field(default_factory=list)  # {op, plain: [d, n], workbench: [d, n]}
    pte_compared: bool = False
    pte_equal: bool | None = None
    plain: Side | None = None
    workbench: Side | None = None
    note: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:400] if text else ''}"


def _plain_stage(exc: BaseException) -> str:
    """preprocess when the innermost lowering frame is a backend's compiler, else partition."""
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        name, path = frame.f_code.co_name, frame.f_code.co_filename
        if name == "preprocess" or name.endswith("lower_all_submodules_to_backend"):
            return "preprocess"
        if name == "partition" and "executorch" in path:
            return "to_edge+partition"
    return "to_edge+partition"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plain_lower(case: Case, backend_name: str, scheme: str) -> tuple[Side, bytes | None]:
    """The plain executorch API on a fresh build of `case`."""
    import torch
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    from ..backends import get_backend

    backend = get_backend(backend_name)
    start = time.perf_counter()
    side = Side("failed")

    def fail(stage: str, exc: BaseException) -> tuple[Side, None]:
        side.stage, side.message = stage, _first_line(exc)
        side.seconds = round(time.perf_counter() - start, 3)
        return side, None

    try:
        module, args, kwargs = case.build()
    except Exception as exc:
        return fail("build", exc)
    try:  # torch prints the partial graph of a failed export; the message says enough
        with contextlib.redirect_stderr(io.StringIO()):
            program = torch.export.export(module, args, kwargs=kwargs)
    except Exception as exc:
        return fail("export", exc)
    options: dict[str, Any] = {"partitioner": backend.partitioners(scheme)}
    config = backend.edge_compile_config()
    if config is not None:
        options["compile_config"] = config
    try:
        edge = to_edge_transform_and_lower(program, **options)
    except Exception as exc:
        return fail(_plain_stage(exc), exc)
    graph_module = edge.exported_program().graph_module
    info = get_delegation_info(graph_module)
    side.delegated, side.non_delegated = info.num_delegated_nodes, info.num_non_delegated_nodes
    side.subgraphs = info.num_delegated_subgraphs
    side.delegate_calls = sum(
        1
        for n in graph_module.graph.nodes
        if n.op == "call_function" and "executorch_call_delegate" in str(n.target)
    )
    side.ops = {
        op: [b.delegated, b.non_delegated] for op, b in sorted(info.delegation_by_operator.items())
    }
    try:
        buffer = bytes(edge.to_executorch().buffer)
    except Exception as exc:
        return fail("to_executorch", exc)
    side.status, side.pte_bytes, side.pte_sha256 = "ok", len(buffer), _sha(buffer)
    side.seconds = round(time.perf_counter() - start, 3)
    return side, buffer


def workbench_counts(placement: Any) -> dict[str, list[int]]:
    """op -> [delegated, fallback] from the workbench's placement (its coverage table)."""
    return {row.op: [row.delegated, row.fallback] for row in placement.coverage()}


def workbench_lower(case: Case, backend_name: str) -> tuple[Side, bytes | None]:
    """The default workbench call (cache on) on a fresh build of `case`."""
    import inspect

    from .. import lower

    start = time.perf_counter()
    side = Side("error")
    try:
        module, args, kwargs = case.build()
    except Exception as exc:
        side.stage, side.message = "build", _first_line(exc)
        return side, None
    options: dict[str, Any] = {"example_inputs": args, "cache": True}
    if kwargs:
        if "example_kwargs" not in inspect.signature(lower).parameters:
            side.stage, side.message = "api", "lower() takes no example_kwargs in this build"
            return side, None
        options["example_kwargs"] = kwargs
    try:
        result = lower(module, [backend_name], **options)[backend_name]
    except Exception as exc:  # the API refused the case (e.g. inputs it cannot take yet)
        side.stage, side.message = "api", _first_line(exc)
        side.seconds = round(time.perf_counter() - start, 3)
        return side, None
    side.seconds = round(time.perf_counter() - start, 3)
    side.cached = result.cached
    if result.status != "ok":
        side.status = "failed"
        if result.error is not None:
            side.stage = _WORKBENCH_STAGE.get(result.error.stage, result.error.stage)
            side.message = f"{result.error.type}: {result.error.message.strip()[:400]}"
        else:
            side.stage, side.message = "unavailable", result.reason
        return side, None
    placement = result.placement
    side.status = "ok"
    side.delegated, side.non_delegated = placement.delegated_nodes, placement.fallback_nodes
    side.subgraphs = placement.num_delegated_subgraphs
    side.ops = workbench_counts(placement)
    for node in placement.fallbacks():
        side.fallback_nodes += 1
        if not node.reason:
            side.fallback_without_reason.append(node.name)
        elif node.reason.startswith(_GENERIC_REASON):
            side.fallback_generic_reason += 1
        else:
            side.fallback_with_reason += 1
    buffer = result.buffer
    side.pte_bytes, side.pte_sha256 = len(buffer), _sha(buffer)
    _preview_counts(side, case, backend_name)
    _run_error(side, result, case)
    return side, buffer


def _preview_counts(side: Side, case: Case, backend_name: str) -> None:
    """The placement preview (no compile) of a fresh build: it must place like the lowering."""
    from .. import preview

    try:
        module, args, kwargs = case.build()
        result = preview(module, [backend_name], example_inputs=args, example_kwargs=kwargs)
        placed = result[backend_name]
        if placed.status != "ok":
            side.preview_error = placed.error.one_line if placed.error else placed.status
            return
        side.preview = [placed.placement.delegated_nodes, placed.placement.fallback_nodes]
    except Exception as exc:
        side.preview_error = _first_line(exc)


def _run_error(side: Side, result: Any, case: Case) -> None:
    """Max abs error of the lowered program against eager, where the runtime runs it here."""
    import torch
    from executorch.runtime import Runtime

    from ..lowering._run import runnability
    from ..models._inputs import flat_inputs

    try:
        refusal = runnability(result)
        if refusal is not None:
            side.run_note = refusal[1]
            return
        module, args, kwargs = case.build()
        with torch.no_grad():
            expected = torch.utils._pytree.tree_leaves(module(*args, **kwargs))
        method = Runtime.get().load_program(result.buffer).load_method("forward")
        outputs = method.execute(flat_inputs(args, kwargs))
        pairs = [
            (a, b)
            for a, b in zip(outputs, expected, strict=False)
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
        ]
        if not pairs or any(a.shape != b.shape for a, b in pairs):
            side.run_note = "outputs do not line up with eager's"
            return
        side.run_error = max(
            float((a.double() - b.double()).abs().max()) if a.numel() else 0.0 for a, b in pairs
        )
    except Exception as exc:
        side.run_note = f"run failed: {_first_line(exc)}"


def op_diff(plain: dict[str, list[int]], work: dict[str, list[int]]) -> list[dict]:
    return [
        {"op": op, "plain": plain.get(op, [0, 0]), "workbench": work.get(op, [0, 0])}
        for op in sorted(set(plain) | set(work))
        if plain.get(op, [0, 0]) != work.get(op, [0, 0])
    ]


def judge(result: CaseResult, deterministic: bool) -> CaseResult:
    """Set outcome, differences and op diff from the two sides."""
    plain, work = result.plain, result.workbench
    if plain.stage == "build" or work.status == "error":
        result.outcome = "error"
        side = "case build" if plain.stage == "build" else "workbench API"
        result.differences.append(f"{side} raised: {plain.message or work.message}")
        return result
    if plain.status != "ok" or work.status != "ok":
        if plain.status == work.status == "failed" and plain.stage == work.stage:
            result.outcome = "agree"  # both fail, in the same stage
        else:
            result.outcome = "mismatch"
            result.differences.append(
                f"plain {plain.status}{' at ' + plain.stage if plain.stage else ''}, "
                f"workbench {work.status}{' at ' + work.stage if work.stage else ''}"
            )
        return result
    for what, a, b in (
        ("delegated nodes", plain.delegated, work.delegated),
        ("non-delegated nodes", plain.non_delegated, work.non_delegated),
        ("delegate subgraphs", plain.subgraphs, work.subgraphs),
        ("delegate calls", plain.delegate_calls, work.subgraphs),
    ):
        if a != b:
            result.differences.append(f"{what}: plain {a}, workbench {b}")
    if work.preview is not None and work.preview != [plain.delegated, plain.non_delegated]:
        result.differences.append(
            f"preview placement: plain {plain.delegated}/{plain.non_delegated}, "
            f"preview {work.preview[0]}/{work.preview[1]}"
        )
    elif work.preview is None and work.preview_error:
        result.differences.append(f"preview failed: {work.preview_error}")
    result.op_diff = op_diff(plain.ops, work.ops)
    if result.op_diff:
        result.differences.append(f"{len(result.op_diff)} op(s) counted differently")
    result.pte_compared = deterministic
    result.pte_equal = plain.pte_sha256 == work.pte_sha256
    if deterministic and not result.pte_equal:
        result.differences.append(
            f".pte bytes differ: plain {plain.pte_bytes} B, workbench {work.pte_bytes} B"
        )
    result.outcome = "mismatch" if result.differences else "agree"
    return result


def compare_case(case: Case, backend_name: str, deterministic: bool) -> CaseResult:
    from ..backends import get_backend

    scheme = get_backend(backend_name).default_scheme
    start = time.perf_counter()
    plain, _ = plain_lower(case, backend_name, scheme)
    work, _ = workbench_lower(case, backend_name)
    result = CaseResult(
        case.suite, case.name, backend_name, scheme, "", plain=plain, workbench=work, note=case.note
    )
    judge(result, deterministic)
    result.seconds = round(time.perf_counter() - start, 3)
    return result
