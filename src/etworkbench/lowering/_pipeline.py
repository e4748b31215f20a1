"""Export once, lower per backend (or per priority list), explain placement, serialize.

This is the engine behind the API, the CLI and the widgets. It uses executorch's own
machinery (`torch.export`, `to_edge_transform_and_lower`, `to_executorch`) and only adds
observation around it: stage timings, the partitioners' reasons, and failure triage. A failure
in one backend is recorded on its result and the others go on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..analysis.placement import analyze_placement
from ..backends import Backend, Reasons, get_backend
from ..backends._base import op_name
from ..errors import UsageError
from ..models import ModelSpec, load_model
from ._cache import ProgramCache, model_facts, model_fingerprint, program_key
from ._cache_check import answer_of, still_answers
from ._calibration import load_calibration
from ._exclude import exclude_partitioner, excluded_reason, normalize_exclude_ops
from ._fingerprint import Unkeyable
from ._provenance import shared_provenance
from ._quantize import quantize
from ._results import BackendResult, LoweringReport, Sizes
from ._shared_edge import SharedExport
from ._shared_edge import to_edge_transform_and_lower as shared_to_edge
from ._stages import StageClock, timed_partition_and_preprocess
from ._triage import Failure, lead_with_summary, triage

Progress = Callable[[str, str], None]  # (program label, stage)


@shared_provenance()
def lower(
    model: Any,
    backends: Sequence[str] | str = ("xnnpack",),
    quantization: str | None = None,
    *,
    example_inputs: tuple | None = None,
    example_kwargs: dict | None = None,
    priority: bool = False,
    out_dir: str | Path | None = None,
    calibration: Iterable[tuple] | str | Path | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    cache: bool = True,
    exclude_ops: Sequence[str] | None = None,
    stop: Callable[[], bool] | None = None,
    jobs: int | None = None,
    _shared: Any = None,
) -> LoweringReport:
    """Lower `model` for each backend (or one ordered priority list) and explain the result.

    `model` is a zoo name, a `file.py:factory` / `module:factory` reference, or an `nn.Module`
    with `example_inputs`. Returns a `LoweringReport`; `.pte` files are written to `out_dir`
    as `<model>_<backend>[_<scheme>].pte` when it is given. With `cache=True` a program already
    lowered with the same model, inputs, backends, scheme and versions is served from disk.
    `exclude_ops` (e.g. ["aten.mean.dim"]) keeps those ops on CPU in every backend.
    `calibration` (static schemes) is an iterable of input tuples, a tensor, or a `torch.save`
    file of them (see _calibration); by default they calibrate on the example inputs.
    `stop()` is asked before each backend starts (Cancel in the app): once it says True the
    rest are listed in `report.not_started`; a backend already lowering finishes.
    `jobs` lowers several programs at once in worker processes (0: as many as cores and memory
    allow; see `_workers`): the export is still shared, a crash stays in its worker, and `stop()`
    kills the running workers (their results say "Cancelled"). None or 1: in this process.
    (`_shared`: a forked worker's inherited `shared_float_export`, used instead of exporting.)
    """
    from .._io import check_out_dir

    check_out_dir(out_dir)  # an unwritable out_dir is a UsageError now, not after lowering
    if jobs is not None and jobs != 1 and _worth_workers(model, backends, priority):
        from ._workers import lower_in_workers

        return lower_in_workers(
            model,
            backends,
            quantization,
            example_inputs=example_inputs,
            example_kwargs=example_kwargs,
            name=name,
            priority=priority,
            out_dir=out_dir,
            jobs=jobs or None,
            progress=progress,
            cancelled=stop,
            cache=cache,
            exclude_ops=exclude_ops,
            calibration=calibration,
        )
    excluded_ops = normalize_exclude_ops(exclude_ops)
    # A zoo model is keyed by name: with the cache on it is built only if something is lowered.
    spec = load_model(model, example_inputs, name, lazy=cache, example_kwargs=example_kwargs)
    groups = program_groups(backends, priority)
    schemes = [_scheme_for(group, quantization) for group in groups]
    notify = progress or (lambda label, stage: None)
    calib = _user_calibration(calibration, groups, schemes, spec)
    report = LoweringReport(spec.name, *model_facts(spec, cache), [])

    # Exported and functionalized once, shared by every float lowering (see _shared_edge).
    float_program: list[Any] = [] if _shared is None else [_shared]
    if isinstance(_shared, SharedExport):
        report.timings_s["export"] = round(_shared.export_s, 4)

    def exported(label: str) -> Any:
        if not float_program:
            notify(label, "export")
            start = time.perf_counter()
            float_program.append(new_shared_export(spec, uses=len(groups)))
            report.timings_s["export"] = round(time.perf_counter() - start, 4)
        if isinstance(float_program[0], _StageFailure):
            raise float_program[0]
        return float_program[0]

    def model_key(label: str) -> str | None:
        """The model's part of the cache key; a user module's needs its export (shared)."""
        if spec.source == "zoo":
            return model_fingerprint(spec)
        try:
            return exported(label).fingerprint
        except _StageFailure:
            return None  # the lowering reports the export failure

    for index, (group, scheme) in enumerate(zip(groups, schemes, strict=True)):
        label = "+".join(b.name for b in group)
        if stop is not None and stop():
            report.not_started = ["+".join(b.name for b in g) for g in groups[index:]]
            break
        result = BackendResult(
            label, [b.name for b in group], scheme, "ok", model=spec.name, _model_spec=spec
        )
        report.results.append(result)
        if mark_unavailable(result, group):
            continue
        if group[0].schemes[scheme].calibrate:  # known before lowering, so cached results have it
            result.calibration_batches = len(calib.batches) if calib else 1
            result.calibration_source = calib.source if calib else "example inputs"
        key = (
            _cache_key(model_key(label), result.backends, scheme, excluded_ops, calib)
            if cache
            else None
        )
        try:
            if not (key and _from_cache(key, result, notify)):
                _lower_group(spec, group, scheme, result, exported, calib, notify, excluded_ops)
                if key:
                    result._answer = answer_of(result, spec)  # a hit must still give it
                    ProgramCache().put(key, result)
        except _StageFailure as failure:
            result.status = "failed"
            result.error = failure.failure
            result._buffer = None
            notify(label, "failed")
            continue
        if out_dir is not None:
            notify(label, "save")
            try:
                result.save(Path(out_dir) / pte_filename(spec.name, label, scheme))
            except UsageError as exc:
                result.status = "failed"
                result.error = Failure("save", type(exc).__name__, str(exc))
        notify(label, "done")
    return report


def _worth_workers(model: Any, backends: Sequence[str] | str, priority: bool) -> bool:
    """Several programs, and a model that reaches a worker (forked, or named for a spawned one)."""
    from ._fork_workers import can_fork

    programs = 1 if priority or isinstance(backends, str) else len(set(backends))
    return programs > 1 and (can_fork() or isinstance(model, str))


def _cache_key(model_key: str | None, backends: list[str], scheme: str, excluded_ops, calib):
    """None when the model cannot be keyed (its export failed or holds an unhashable value)."""
    if model_key is None:
        return None
    extra = "exclude=" + ",".join(sorted(excluded_ops)) if excluded_ops else ""
    if calib is not None:
        extra += f";calibration={calib.digest}"
    return program_key(model_key, backends, scheme, extra)


def new_shared_export(spec: ModelSpec, uses: int | None = None) -> Any:
    """Export `spec` once: a `SharedExport` (with a user module's cache fingerprint, taken from
    the export before anything else touches it), or the `_StageFailure` of the export."""
    start = time.perf_counter()
    try:
        program = _export(spec)
    except _StageFailure as failure:
        return failure
    shared = SharedExport(program, uses=uses, reexport=lambda: _export(spec))
    shared.export_s = time.perf_counter() - start
    if spec.source != "zoo":
        try:
            shared.fingerprint = model_fingerprint(spec, program)
        except Unkeyable:
            shared.fingerprint = None  # lowered, just not cached
    return shared


@shared_provenance()
def shared_float_export(
    spec: ModelSpec,
    backends: Sequence[str],
    quantization: str | None,
    *,
    priority: bool,
    cache: bool,
    exclude_ops: Sequence[str] | None,
    calibration: Any,
) -> Any:
    """The exported, functionalized program that `lower(...)` calls with these arguments share.

    Made once before worker processes are forked, so they inherit it. None when no program
    needs it (all quantized, unavailable or cached); a `_StageFailure` when the export fails,
    which each worker then reports as its own.
    """
    groups = program_groups(backends, priority)
    excluded_ops = normalize_exclude_ops(exclude_ops)
    needed, shared = False, None
    for group in groups:
        scheme = _scheme_for(group, quantization)
        if any(not b.availability.available for b in group):
            continue
        if cache:
            if spec.source != "zoo" and shared is None:  # a user module's key needs its export
                shared = new_shared_export(spec)
                if isinstance(shared, _StageFailure):
                    return shared
            model_key = model_fingerprint(spec) if spec.source == "zoo" else shared.fingerprint
            names = [b.name for b in group]
            key = _cache_key(model_key, names, scheme, excluded_ops, calibration)
            if key and ProgramCache().has(key):
                continue
        if group[0].schemes[scheme].float_export:
            needed = True
    if not needed:
        return shared  # exported for the keys only (None for a zoo name): nothing to functionalize
    if shared is None:
        shared = new_shared_export(spec)
        if isinstance(shared, _StageFailure):
            return shared
    return shared.prepare()


def _from_cache(key: str, result: BackendResult, notify: Progress) -> bool:
    """Fill `result` from the cache; False on a miss."""
    start = time.perf_counter()
    cache = ProgramCache()
    cached = cache.get(key)
    if cached is None:
        return False
    if cached._answer is not None and not still_answers(cached._buffer, cached._answer):
        cache.discard(key)  # it no longer computes what it did when stored: lower again
        return False
    result.placement, result.sizes = cached.placement, cached.sizes
    result._pte_data, result._pte_file = cached._pte_data, cached._pte_file  # read on first use
    result.timings_s = dict(cached.timings_s)
    result.timings_s.pop("save", None)
    result.timings_s["cache_load"] = round(time.perf_counter() - start, 4)
    result.cached = True
    notify(result.backend, "cached")
    return True


def mark_unavailable(result: BackendResult, group: list[Backend]) -> bool:
    """Mark `result` unavailable, with every missing backend's reason and hint; False if none is."""
    missing = [b for b in group if not b.availability.available]
    if missing:
        result.status = "unavailable"
        result.reason = "; ".join(f"{b.title}: {b.availability.reason}" for b in missing)
        result.hint = "; ".join(b.availability.hint for b in missing if b.availability.hint)
    return bool(missing)


def pte_filename(model: str, backend: str, scheme: str) -> str:
    """`<model>_<backend>[_<scheme>].pte`; float32 has no suffix."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    suffix = "" if scheme in ("fp32", "") else f"_{scheme}"
    return f"{safe}_{backend.replace('+', '-')}{suffix}.pte"


class _StageFailure(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.one_line)
        self.failure = failure


def program_groups(backends: Sequence[str] | str, priority: bool) -> list[list[Backend]]:
    """The programs a call makes: one per backend, or with `priority` one for the ordered list."""
    chosen = _resolve_backends(backends)
    return [chosen] if priority else [[backend] for backend in chosen]


def _resolve_backends(backends: Sequence[str] | str) -> list[Backend]:
    names = [backends] if isinstance(backends, str) else list(backends)
    if not names:
        raise UsageError(
            "no backends given; pass at least one, e.g. backends=['xnnpack'] (see `etwb backends`)"
        )
    resolved: list[Backend] = []
    for name in names:
        backend = get_backend(name)
        if backend not in resolved:
            resolved.append(backend)
    return resolved


def _scheme_for(group: list[Backend], quantization: str | None) -> str:
    """The scheme name for a program; the lead backend's schemes decide what is valid."""
    lead = group[0]
    scheme = (quantization or lead.default_scheme).strip().lower()
    if not lead.availability.available:
        return scheme
    if scheme not in lead.schemes:
        raise UsageError(
            f"{lead.title} has no quantization scheme {scheme!r}; its schemes are: "
            f"{', '.join(lead.schemes)} (see `etwb schemes`)"
        )
    return scheme


def _export(spec: ModelSpec) -> Any:
    import contextlib
    import io
    import sys

    import torch

    # torch prints the partial graph of a failed export to stderr; the failure says it better.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            program = torch.export.export(
                spec.module, tuple(spec.example_inputs), kwargs=dict(spec.example_kwargs)
            )
    except Exception as exc:
        failure = lead_with_summary(triage("export", exc, op_name), spec.describe_inputs())
        raise _StageFailure(failure) from exc
    sys.stderr.write(captured.getvalue())
    return program


def _user_calibration(calibration: Any, groups: list, schemes: list, spec: ModelSpec) -> Any:
    """The validated user calibration, or None for the default (the example inputs)."""
    if calibration is None:
        return None
    if not any(group[0].schemes[s].calibrate for group, s in zip(groups, schemes, strict=True)):
        raise UsageError(
            f"calibration data was given but no chosen scheme ({', '.join(sorted(set(schemes)))}) "
            "calibrates; pick a static scheme (see `etwb schemes`) or drop --calibration"
        )
    return load_calibration(calibration, spec.example_inputs, spec.example_kwargs)


def _lower_group(spec, group, scheme, result, exported, calib, notify, exclude=()) -> None:
    from executorch.exir import to_edge_transform_and_lower

    label = result.backend
    lead = group[0]
    scheme_def = lead.schemes[scheme]
    shared = None
    if scheme_def.float_export:
        shared = exported(label)  # copied inside, so no lowering can disturb another
    else:
        notify(label, "quantize")
        start = time.perf_counter()
        batches = calib.batches if calib else [tuple(spec.example_inputs)]

        def calibrated(done: int, total: int) -> None:
            if scheme_def.calibrate:
                notify(label, f"calibrate {done}/{total}")

        try:
            program = quantize(spec, scheme_def, batches, calibrated)
        except Exception as exc:
            raise _StageFailure(triage("quantize", exc, op_name)) from exc
        result.timings_s["quantize"] = round(time.perf_counter() - start, 4)

    notify(label, "to_edge+partition")
    try:
        partitioners = [p for backend in group for p in backend.partitioners(scheme)]
    except Exception as exc:
        raise _StageFailure(triage("partition", exc, op_name)) from exc
    excluded: dict[str, tuple[str, bool]] = {}  # node name -> (op spec, backend had taken it)
    if exclude:
        partitioners = [exclude_partitioner(p, list(exclude), excluded) for p in partitioners]
    config = next((c for c in (b.edge_compile_config() for b in group) if c is not None), None)
    reasons = Reasons()
    clock = StageClock()
    start = time.perf_counter()
    try:
        with (
            _each_backend(group, lambda backend: backend.lowering_output()),  # whole lowering
            timed_partition_and_preprocess(
                clock, partitioners, around_partition=lambda: _capture_all(group, reasons)
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
        raise _StageFailure(lead_with_summary(failure, spec.describe_inputs())) from exc
    total = time.perf_counter() - start
    result.timings_s["partition"] = round(clock.seconds.get("partition", 0.0), 4)
    result.timings_s["preprocess"] = round(clock.seconds.get("preprocess", 0.0), 4)
    result.timings_s["to_edge"] = round(total - sum(clock.seconds.values()), 4)

    names = {delegate_id: b.name for b in group for delegate_id in b.delegate_ids}
    result.placement = analyze_placement(
        edge.exported_program().graph_module,
        names,
        _reason_finder(group, reasons, excluded),
        op_name,
    )

    notify(label, "to_executorch")
    start = time.perf_counter()
    try:
        executorch_program = edge.to_executorch()
        buffer = executorch_program.buffer
    except Exception as exc:
        raise _StageFailure(triage("to_executorch", exc, op_name)) from exc
    result.timings_s["to_executorch"] = round(time.perf_counter() - start, 4)
    result._buffer = bytes(buffer)
    result.sizes = _sizes(result, edge)


def _capture_all(group: list[Backend], reasons: Reasons) -> contextlib.AbstractContextManager:
    """Every backend's reason capture, for one `partition()` call (or a preview's)."""
    return _each_backend(group, lambda backend: backend.capture_reasons(reasons))


@contextlib.contextmanager
def _each_backend(
    group: list[Backend], context: Callable[[Backend], contextlib.AbstractContextManager]
) -> Iterator[None]:
    """`context(backend)` entered for every backend of one program."""
    with contextlib.ExitStack() as stack:
        for backend in group:
            stack.enter_context(context(backend))
        yield


def _reason_finder(
    group: list[Backend], reasons: Reasons, excluded: dict[str, tuple[str, bool]] | None = None
) -> Callable[[Any], str]:
    def reason_for(node: Any) -> str:
        if excluded and node.name in excluded:
            op, taken = excluded[node.name]
            user = excluded_reason(op)
            return user if taken else f"{user}; not taken anyway: {backend_reason(node)}"
        return backend_reason(node)

    def backend_reason(node: Any) -> str:
        captured = reasons.for_node(node.name)
        parts: list[str] = []
        for backend in group:
            own = [text for name, text in captured if name == backend.name]
            if not own:
                derived = backend.derived_reason(node)
                own = [derived] if derived else [f"no reason given by {backend.title}"]
            prefix = f"{backend.title}: " if len(group) > 1 else ""
            parts.append(prefix + "; ".join(own))
        return " | ".join(parts)

    return reason_for


def _sizes(result: BackendResult, edge: Any) -> Sizes:
    placement = result.placement
    program = edge.exported_program()
    constant_bytes = 0
    for value in list(program.state_dict.values()) + list(program.constants.values()):
        if hasattr(value, "nbytes"):
            constant_bytes += int(value.nbytes)
    return Sizes(
        pte_bytes=len(result._buffer or b""),
        delegate_payload_bytes=sum(d.payload_bytes for d in placement.delegates),
        delegate_data_bytes=sum(d.data_bytes for d in placement.delegates),
        constant_bytes=constant_bytes,
    )
