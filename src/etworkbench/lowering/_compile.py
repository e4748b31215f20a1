"""Lower one program: quantize or take the shared export, partition, preprocess, serialize.

Executorch's own `to_edge_transform_and_lower` and `to_executorch` do the work; around them
this records stage timings, the partitioners' reasons, the placement and the sizes. A stage
that raises becomes a `StageFailure` carrying its triaged `Failure`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..analysis.advice import attach_advice
from ..analysis.placement import analyze_placement
from ..backends import Backend, Reasons
from ..backends._base import op_name
from ..backends._options import group_partitioners, of_backend
from ..progress import Progress, ProgressCallback
from ._exclude import exclude_partitioner, excluded_reason
from ._keep_float import keep_float_hook
from ._quantize import ModelExportFailed, quantize
from ._results import BackendResult, Sizes
from ._shared_edge import to_edge_transform_and_lower as shared_to_edge
from ._stages import StageClock, timed_partition_and_preprocess
from ._triage import Failure, lead_with_summary, triage


class StageFailure(Exception):
    """A stage of one program failed; `failure` says which, how and where."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.one_line)
        self.failure = failure


def lower_group(
    spec: Any,
    group: list[Backend],
    scheme: str,
    result: BackendResult,
    exported: Callable[[str], Any],
    calib: Any,
    notify: ProgressCallback,
    exclude: Any = (),
    options: Any = (),
    keep: Any = None,
) -> None:
    """Lower `spec` for the backends of `group` into `result` (raises `StageFailure`).

    `exported(label)` hands out the shared float export; `calib` is the user's calibration
    (None: the example inputs); `exclude` the ops kept on CPU; `options` the normalized
    backend options (`backends._options`), handed to each backend's partitioner factory;
    `keep` the modules the lead backend's quantizer leaves in float (`_keep_float`).
    """
    from executorch.exir import to_edge_transform_and_lower

    label = result.backend
    scheme_def = group[0].schemes[scheme]
    shared = None
    if scheme_def.float_export:
        shared = exported(label)  # copied inside, so no lowering can disturb another
    else:
        notify(Progress(label, "quantize"))
        start = time.perf_counter()
        batches = calib.batches if calib else [tuple(spec.example_inputs)]

        def calibrated(done: int, total: int) -> None:
            if scheme_def.calibrate:
                notify(Progress(label, "calibrate", done, total))

        try:
            resolved = group[0].resolve_options(of_backend(options, group[0].name))
            hook = keep_float_hook(group[0], keep)
            program = quantize(spec, scheme_def, batches, calibrated, resolved, hook)
        except ModelExportFailed as failed:
            from ._dynamic_export import explain_export

            failure = explain_export(
                triage("export", failed.original, op_name), failed.original, spec
            )
            raise StageFailure(failure) from failed.original
        except Exception as exc:
            raise StageFailure(triage("quantize", exc, op_name)) from exc
        result.timings_s["quantize"] = round(time.perf_counter() - start, 4)

    notify(Progress(label, "to_edge+partition"))
    try:
        partitioners = group_partitioners(group, scheme, options)
    except Exception as exc:
        raise StageFailure(triage("partition", exc, op_name)) from exc
    excluded: dict[str, tuple[str, bool]] = {}  # node name -> (op spec, backend had taken it)
    if exclude:
        partitioners = [exclude_partitioner(p, list(exclude), excluded) for p in partitioners]
    config = next((c for c in (b.edge_compile_config() for b in group) if c is not None), None)
    reasons = Reasons()
    clock = StageClock()
    start = time.perf_counter()
    try:
        with (
            each_backend(group, lambda backend: backend.lowering_output()),  # whole lowering
            timed_partition_and_preprocess(
                clock, partitioners, around_partition=lambda: capture_all(group, reasons)
            ),
        ):
            if shared is not None:
                edge = shared_to_edge(shared, partitioners, config)
            else:
                kwargs = {"partitioner": partitioners}
                if config is not None:
                    kwargs["compile_config"] = config
                edge = to_edge_transform_and_lower(program, **kwargs)
    except Exception as exc:
        failure = triage(clock.failed_stage or "to_edge", exc, op_name)
        raise StageFailure(lead_with_summary(failure, spec.describe_inputs())) from exc
    total = time.perf_counter() - start
    result.timings_s["partition"] = round(clock.seconds.get("partition", 0.0), 4)
    result.timings_s["preprocess"] = round(clock.seconds.get("preprocess", 0.0), 4)
    result.timings_s["to_edge"] = round(total - sum(clock.seconds.values()), 4)

    names = {delegate_id: b.name for b in group for delegate_id in b.delegate_ids}
    graph_module = edge.exported_program().graph_module
    result.placement = analyze_placement(
        graph_module, names, reason_finder(group, reasons, excluded), op_name
    )
    attach_advice(result.placement, graph_module, group, reasons, excluded)  # text only

    notify(Progress(label, "to_executorch"))
    start = time.perf_counter()
    try:
        executorch_program = edge.to_executorch()
        buffer = executorch_program.buffer
    except Exception as exc:
        raise StageFailure(triage("to_executorch", exc, op_name)) from exc
    result.timings_s["to_executorch"] = round(time.perf_counter() - start, 4)
    result.attach_program(buffer)
    result.sizes = _sizes(result, edge, executorch_program)


def capture_all(group: list[Backend], reasons: Reasons) -> contextlib.AbstractContextManager:
    """Every backend's reason capture, for one `partition()` call (or a preview's)."""
    return each_backend(group, lambda backend: backend.capture_reasons(reasons))


@contextlib.contextmanager
def each_backend(
    group: list[Backend], context: Callable[[Backend], contextlib.AbstractContextManager]
) -> Iterator[None]:
    """`context(backend)` entered for every backend of one program."""
    with contextlib.ExitStack() as stack:
        for backend in group:
            stack.enter_context(context(backend))
        yield


def reason_finder(
    group: list[Backend], reasons: Reasons, excluded: dict[str, tuple[str, bool]] | None = None
) -> Callable[[Any], str]:
    """node -> why it stayed on CPU: the exclusion, the partitioners' own words, or derived."""

    def reason_for(node: Any) -> str:
        if excluded and node.name in excluded:
            op, taken = excluded[node.name]
            user = excluded_reason(op)
            return user if taken else f"{user}; not taken anyway: {backend_reason(node)}"
        return backend_reason(node)

    def backend_reason(node: Any) -> str:
        parts: list[str] = []
        for backend, own, _ in reasons.per_backend(node, group):
            own = own or [f"no reason given by {backend.title}"]
            prefix = f"{backend.title}: " if len(group) > 1 else ""
            parts.append(prefix + "; ".join(own))
        return " | ".join(parts)

    return reason_for


def _sizes(result: BackendResult, edge: Any, executorch_program: Any) -> Sizes:
    placement = result.placement
    program = edge.exported_program()
    constant_bytes = 0
    for value in list(program.state_dict.values()) + list(program.constants.values()):
        if hasattr(value, "nbytes"):
            constant_bytes += int(value.nbytes)
    return Sizes(
        pte_bytes=len(result.pte_data or b""),
        delegate_payload_bytes=sum(d.payload_bytes for d in placement.delegates),
        delegate_data_bytes=sum(d.data_bytes for d in placement.delegates),
        constant_bytes=constant_bytes,
        planned_arena_bytes=planned_arena_bytes(executorch_program),
    )


def planned_arena_bytes(executorch_program: Any) -> tuple[int, ...]:
    """The forward method's memory plan as the program states it (`non_const_buffer_sizes`)."""
    plans = executorch_program.executorch_program.execution_plan
    plan = next((p for p in plans if p.name == "forward"), plans[0] if plans else None)
    return tuple(int(n) for n in plan.non_const_buffer_sizes) if plan is not None else ()
