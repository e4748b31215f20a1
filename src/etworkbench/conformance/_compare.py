"""One case on one target: the workbench's answer against the plain executorch API's.

The plain side (`_plain`) is executorch used the way its docs show, with the backends' own
quantizer, partitioner objects and `EdgeCompileConfig`, on a freshly built module. The
workbench side is the default `etworkbench.lower(module, backends, quantization=scheme,
priority=..., example_inputs=args, cache=True)`, plus its `preview()` (float targets) and a
run of its program against eager where the runtime runs it here.
"""

from __future__ import annotations

import time
from typing import Any

from ._cases import Case
from ._plain import plain_lower
from ._sides import (
    GENERIC_REASON,
    CaseResult,
    Side,
    first_line,
    record_failed_lowering,
    sha256,
)
from ._targets import Target


def workbench_counts(placement: Any) -> dict[str, list[int]]:
    """op -> [delegated, fallback] from the workbench's placement (its coverage table)."""
    return {row.op: [row.delegated, row.fallback] for row in placement.coverage()}


def workbench_lower(case: Case, target: Target) -> tuple[Side, bytes | None]:
    """The default workbench call (cache on) on a fresh build of `case`."""
    from ..lowering import lower

    start = time.perf_counter()
    side = Side("error")
    try:
        module, args, kwargs = case.build()
    except Exception as exc:
        side.stage, side.message = "build", first_line(exc)
        return side, None
    options: dict[str, Any] = {
        "example_inputs": args,
        "example_kwargs": kwargs or None,
        "quantization": target.scheme,
        "priority": target.priority,
        "cache": True,
    }
    if target.options:
        options["options"] = target.options
    try:
        result = lower(module, list(target.backends), **options)[target.lowering_label]
    except Exception as exc:  # the API refused the case (e.g. inputs it cannot take yet)
        side.stage, side.message = "api", first_line(exc)
        side.seconds = round(time.perf_counter() - start, 3)
        return side, None
    side.seconds = round(time.perf_counter() - start, 3)
    side.cached = result.cached
    if result.status != "ok":
        record_failed_lowering(side, result)
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
        elif node.reason.startswith(GENERIC_REASON):
            side.fallback_generic_reason += 1
        else:
            side.fallback_with_reason += 1
    buffer = result.buffer
    side.pte_bytes, side.pte_sha256 = len(buffer), sha256(buffer)
    _preview_counts(side, case, target)
    _run_error(side, result, case)
    return side, buffer


def _preview_counts(side: Side, case: Case, target: Target) -> None:
    """The placement preview (no compile) of a fresh build: it must place like the lowering.

    Previews place the float program, so quantized targets have none."""
    from ..backends import get_backend
    from ..lowering import preview

    if not get_backend(target.backends[0]).schemes[target.scheme].float_export:
        return
    try:
        module, args, kwargs = case.build()
        result = preview(
            module,
            list(target.backends),
            example_inputs=args,
            example_kwargs=kwargs,
            priority=target.priority,
            options=target.options,
        )
        placed = result[target.lowering_label]
        if placed.status != "ok":
            side.preview_error = placed.error.one_line if placed.error else placed.status
            return
        side.preview = [placed.placement.delegated_nodes, placed.placement.fallback_nodes]
    except Exception as exc:
        side.preview_error = first_line(exc)


def _run_error(side: Side, result: Any, case: Case) -> None:
    """Max abs error of the lowered program against eager, where the runtime runs it here."""
    import torch
    from executorch.runtime import Runtime

    from .._compat.torch import tree_leaves
    from ..models._inputs import flat_inputs
    from ..runtime import runnability

    try:
        refusal = runnability(result)
        if refusal is not None:
            side.run_note = refusal[1]
            return
        module, args, kwargs = case.build()
        with torch.no_grad():
            expected = tree_leaves(module(*args, **kwargs))
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
        side.run_note = f"run failed: {first_line(exc)}"


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


def compare_case(case: Case, target: Target, deterministic: bool) -> CaseResult:
    start = time.perf_counter()
    plain, _ = plain_lower(case, target)
    work, _ = workbench_lower(case, target)
    result = CaseResult(
        case.suite,
        case.name,
        target.label,
        target.scheme,
        "",
        plain=plain,
        workbench=work,
        note=case.note,
    )
    judge(result, deterministic)
    result.seconds = round(time.perf_counter() - start, 3)
    return result
