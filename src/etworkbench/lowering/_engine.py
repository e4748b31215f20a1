"""The in-process engine: export once, then each program from the cache or lowered here.

`lower_here` is `lower()` without worker processes: what `lower()` runs for one program (or
`jobs` None/1), and what each worker runs for its own. A failure in one program is recorded on
its result and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..backends import normalize_options
from ..backends._base import op_name
from ..backends._options import describe, for_program
from ..errors import UsageError
from ..models import ModelSpec, load_model
from ..progress import Progress, ProgressCallback, ignore
from ._cache import ProgramCache, model_facts, model_fingerprint, program_key
from ._cache_check import answer_of, still_answers
from ._compile import StageFailure, lower_group
from ._exclude import normalize_exclude_ops
from ._fingerprint import Unkeyable
from ._keep_float import normalize_float_modules, resolve_keep_float
from ._programs import mark_unavailable, program_groups, pte_filename, scheme_for, user_calibration
from ._provenance import shared_provenance
from ._results import BackendResult, LoweringReport
from ._shared_edge import SharedExport
from ._triage import Failure, lead_with_summary, triage


@shared_provenance()
def lower_here(
    model: Any,
    backends: Sequence[str] | str,
    quantization: str | None = None,
    *,
    example_inputs: tuple | None = None,
    example_kwargs: dict | None = None,
    priority: bool = False,
    out_dir: str | Path | None = None,
    calibration: Iterable[tuple] | str | Path | None = None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    cache: bool = True,
    exclude_ops: Sequence[str] | None = None,
    dynamic_shapes: Any = None,
    stop: Callable[[], bool] | None = None,
    shared: Any = None,
    options: Any = None,
    float_modules: Any = None,
) -> LoweringReport:
    """`lower()` in this process (arguments as there). `shared`: a forked worker's inherited
    `shared_float_export`, used instead of exporting."""
    excluded_ops = normalize_exclude_ops(exclude_ops)
    float_entries = normalize_float_modules(float_modules)
    options = normalize_options(options, backends)
    # A zoo model is keyed by name: with the cache on it is built only if something is lowered.
    spec = load_model(
        model,
        example_inputs,
        name,
        lazy=cache,
        example_kwargs=example_kwargs,
        dynamic_shapes=dynamic_shapes,
    )
    groups = program_groups(backends, priority)
    schemes = [scheme_for(group, quantization) for group in groups]
    # each program's options, checked against its scheme before anything is lowered
    group_options = [for_program(options, g, s) for g, s in zip(groups, schemes, strict=True)]
    keep = resolve_keep_float(float_entries, groups, schemes, spec)  # checked before any work
    notify = progress or ignore
    calib = user_calibration(calibration, groups, schemes, spec)
    report = LoweringReport(spec.name, *model_facts(spec, cache), [])

    # Exported and functionalized once, shared by every float lowering (see _shared_edge).
    float_program: list[Any] = [] if shared is None else [shared]
    if isinstance(shared, SharedExport):
        report.timings_s["export"] = round(shared.export_s, 4)

    def exported(label: str) -> Any:
        if not float_program:
            notify(Progress(label, "export"))
            start = time.perf_counter()
            float_program.append(new_shared_export(spec, uses=len(groups)))
            report.timings_s["export"] = round(time.perf_counter() - start, 4)
        if isinstance(float_program[0], StageFailure):
            raise float_program[0]
        return float_program[0]

    def model_key(label: str) -> str | None:
        """The model's part of the cache key; a user module's needs its export (shared)."""
        if spec.source == "zoo":
            return model_fingerprint(spec)
        try:
            return exported(label).fingerprint
        except StageFailure:
            return None  # the lowering reports the export failure

    for index, (group, scheme) in enumerate(zip(groups, schemes, strict=True)):
        label = "+".join(b.name for b in group)
        if stop is not None and stop():
            report.not_started = ["+".join(b.name for b in g) for g in groups[index:]]
            break
        result = BackendResult(label, [b.name for b in group], scheme, "ok", model=spec.name)
        result.options = describe(group_options[index])
        result.float_modules = keep.entries
        result.attach_model(spec)
        report.results.append(result)
        if mark_unavailable(result, group):
            continue
        if group[0].schemes[scheme].calibrate:  # known before lowering, so cached results have it
            result.calibration_batches = len(calib.batches) if calib else 1
            result.calibration_source = calib.source if calib else "example inputs"
        key = (
            cache_key(
                model_key(label),
                result.backends,
                scheme,
                excluded_ops,
                calib,
                group_options[index],
                keep.entries,
            )
            if cache
            else None
        )
        try:
            if not (key and _from_cache(key, result, notify)):
                own = group_options[index]
                lower_group(
                    spec, group, scheme, result, exported, calib, notify, excluded_ops, own, keep
                )
                if key:
                    result.attach_answer(answer_of(result, spec))  # a hit must still give it
                    ProgramCache().put(key, result)
        except StageFailure as failure:
            result.status = "failed"
            result.error = failure.failure
            result.drop_program()
            notify(Progress(label, "failed"))
            continue
        if out_dir is not None:
            notify(Progress(label, "save"))
            try:
                result.save(Path(out_dir) / pte_filename(spec.name, label, scheme))
            except UsageError as exc:
                result.status = "failed"
                result.error = Failure("save", type(exc).__name__, str(exc))
        notify(Progress(label, "done"))
    return report


def cache_key(
    model_key: str | None,
    backends: list[str],
    scheme: str,
    excluded_ops,
    calib,
    options=(),
    float_modules=(),
):
    """None when the model cannot be keyed (its export failed or holds an unhashable value).
    `options`: the program's normalized non-default backend options (none: today's key);
    `float_modules`: the canonical keep-float entries (none: today's key)."""
    if model_key is None:
        return None
    extra = "exclude=" + ",".join(sorted(excluded_ops)) if excluded_ops else ""
    if calib is not None:
        extra += f";calibration={calib.digest}"
    if options:
        extra += ";options=" + ",".join(sorted(describe(options)))
    if float_modules:
        extra += ";float=" + ",".join(sorted(set(float_modules)))
    return program_key(model_key, backends, scheme, extra)


def new_shared_export(spec: ModelSpec, uses: int | None = None) -> Any:
    """Export `spec` once: a `SharedExport` (with a user module's cache fingerprint, taken from
    the export before anything else touches it), or the `StageFailure` of the export."""
    start = time.perf_counter()
    try:
        program = _export(spec)
    except StageFailure as failure:
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
    options: Any = (),
) -> Any:
    """The exported, functionalized program that `lower(...)` calls with these arguments share.

    Made once before worker processes are forked, so they inherit it. None when no program
    needs it (all quantized, unavailable or cached); a `StageFailure` when the export fails,
    which each worker then reports as its own.
    """
    groups = program_groups(backends, priority)
    excluded_ops = normalize_exclude_ops(exclude_ops)
    options = normalize_options(options, backends)
    needed, shared = False, None
    for group in groups:
        scheme = scheme_for(group, quantization)
        if any(not b.availability.available for b in group):
            continue
        if cache:
            if spec.source != "zoo" and shared is None:  # a user module's key needs its export
                shared = new_shared_export(spec)
                if isinstance(shared, StageFailure):
                    return shared
            model_key = model_fingerprint(spec) if spec.source == "zoo" else shared.fingerprint
            names = [b.name for b in group]
            own = for_program(options, group, scheme)
            key = cache_key(model_key, names, scheme, excluded_ops, calibration, own)
            if key and ProgramCache().has(key):
                continue
        if group[0].schemes[scheme].float_export:
            needed = True
    if not needed:
        return shared  # exported for the keys only (None for a zoo name): nothing to functionalize
    if shared is None:
        shared = new_shared_export(spec)
        if isinstance(shared, StageFailure):
            return shared
    return shared.prepare()


def _from_cache(key: str, result: BackendResult, notify: ProgressCallback) -> bool:
    """Fill `result` from the cache; False on a miss."""
    start = time.perf_counter()
    cache = ProgramCache()
    cached = cache.get(key)
    if cached is None:
        return False
    answer = cached.stored_answer
    if answer is not None and not still_answers(cached.pte_data, answer):
        cache.discard(key)  # it no longer computes what it did when stored: lower again
        return False
    result.placement, result.sizes = cached.placement, cached.sizes
    result.take_program_of(cached)  # read on first use
    result.timings_s = dict(cached.timings_s)
    result.timings_s.pop("save", None)
    result.timings_s["cache_load"] = round(time.perf_counter() - start, 4)
    result.cached = True
    notify(Progress(result.backend, "cached"))
    return True


def _export(spec: ModelSpec) -> Any:
    import io
    import sys

    from .._compat.output import route_stderr
    from ._dynamic_export import explain_export, export_spec

    # torch prints the partial graph of a failed export to stderr; the failure says it better.
    captured = io.StringIO()
    try:
        with route_stderr(captured):
            program = export_spec(spec)  # with its dynamic dims, if any
    except Exception as exc:
        failure = lead_with_summary(triage("export", exc, op_name), spec.describe_inputs())
        raise StageFailure(explain_export(failure, exc, spec)) from exc
    sys.stderr.write(captured.getvalue())
    return program
