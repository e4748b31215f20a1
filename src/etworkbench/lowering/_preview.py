"""Placement preview: what each backend would take, with reasons, without compiling anything.

A full lowering spends about half its time in decompositions and half in the backends'
preprocess (compilation). A preview stops after partitioning: it decomposes the exported
program the way the backends ask (`_shared_edge.edge_manager`, the first step of
`to_edge_transform_and_lower`) and runs their `partition()` to tag nodes. Exports (with their
functionalized form, shared by every backend) and decomposed programs are kept in memory per
model, so changing only the backend selection for an already exported model costs a re-tag, a
fraction of a second, and a newly chosen backend costs only its own decomposition.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..analysis.advice import attach_advice
from ..analysis.placement import analyze_tagged
from ..backends import Reasons, normalize_options
from ..backends._base import op_name
from ..backends._options import describe, for_program, of_backend
from ..models import load_model
from ._cache import model_facts, model_fingerprint
from ._compile import capture_all, group_partitioners, reason_finder
from ._exclude import exclude_partitioner, normalize_exclude_ops
from ._fingerprint import Unkeyable
from ._programs import mark_unavailable, program_groups, scheme_for
from ._provenance import shared_provenance
from ._results import BackendResult, LoweringReport
from ._shared_edge import (
    SharedExport,
    can_share,
    copies_are_faithful,
    copy_program,
    edge_manager,
)
from ._triage import triage

_MEMORY = 8  # models whose exports / decompositions stay in memory
_exports: OrderedDict[str, Any] = OrderedDict()
_decomposed: OrderedDict[tuple, Any] = OrderedDict()  # (model, backends, excluded, options)


def _remember(store: OrderedDict, key: Any, build) -> Any:
    if key in store:
        store.move_to_end(key)
        return store[key]
    value = build()
    store[key] = value
    while len(store) > _MEMORY * 4:
        store.popitem(last=False)
    return value


@shared_provenance()
def preview(
    model: Any,
    backends: Sequence[str] | str = ("xnnpack",),
    *,
    example_inputs: tuple | None = None,
    example_kwargs: dict | None = None,
    priority: bool = False,
    name: str | None = None,
    exclude_ops: Sequence[str] | None = None,
    dynamic_shapes: Any = None,
    options: Any = None,
) -> LoweringReport:
    """Placement of `model` for each backend (float schemes), without preprocess or .pte.

    Results have `preview=True`, a `placement` with reasons, and no buffer or sizes.
    `exclude_ops` keeps those ops on CPU exactly as `lower(..., exclude_ops=...)` would;
    `dynamic_shapes` makes input dims dynamic as in `lower()`; `options` are backend
    compile options as `lower(..., options=...)` takes them.
    """

    excluded_ops = normalize_exclude_ops(exclude_ops)
    options = normalize_options(options, backends)  # a UsageError before the model is built

    spec = load_model(  # built only if not in memory
        model,
        example_inputs,
        name,
        lazy=True,
        example_kwargs=example_kwargs,
        dynamic_shapes=dynamic_shapes,
    )
    groups = program_groups(backends, priority)
    own_options = [for_program(options, group, scheme_for(group, None)) for group in groups]
    report = LoweringReport(spec.name, *model_facts(spec, disk=False), [])
    shared_export: list[Any] = []  # (key, SharedExport), or the export's exception
    for group, own in zip(groups, own_options, strict=True):
        label = "+".join(b.name for b in group)
        scheme = scheme_for(group, None)
        result = BackendResult(label, [b.name for b in group], scheme, "ok", model=spec.name)
        result.preview = True
        result.options = describe(own)
        report.results.append(result)
        if mark_unavailable(result, group):
            continue
        stage = "export"
        try:
            start = time.perf_counter()
            if not shared_export:
                try:
                    shared_export.append(_shared_export_of(spec))
                except Exception as exc:  # every backend reports the one export failure
                    shared_export.append(exc)
            if isinstance(shared_export[0], Exception):
                raise shared_export[0]
            fingerprint, exported = shared_export[0]
            result.timings_s["export"] = round(time.perf_counter() - start, 4)
            stage = "to_edge"
            start = time.perf_counter()
            key = (fingerprint, tuple(b.name for b in group), tuple(excluded_ops), own)
            if fingerprint is not None and key in _decomposed:
                _decomposed.move_to_end(key)
                program = copy_program(_decomposed[key])
            else:
                program = _decompose(group, scheme, exported, excluded_ops, own)
                if fingerprint is not None and copies_are_faithful(program):  # else not kept
                    _remember(_decomposed, key, lambda p=program: p)
                    program = copy_program(program)
            result.timings_s["to_edge"] = round(time.perf_counter() - start, 4)
            stage = "partition"
            start = time.perf_counter()
            reasons = Reasons()
            owners: dict[str, tuple[str, str]] = {}
            excluded: dict[str, tuple[str, bool]] = {}
            with capture_all(group, reasons):
                for backend in group:
                    built = backend.partitioners(scheme, of_backend(own, backend.name))
                    for index, partitioner in enumerate(built):
                        if excluded_ops:
                            partitioner = exclude_partitioner(partitioner, excluded_ops, excluded)
                        _tag(partitioner, program, backend.name, index, owners)
            result.placement = analyze_tagged(
                program.graph_module, owners, reason_finder(group, reasons, excluded), op_name
            )
            attach_advice(result.placement, program.graph_module, group, reasons, excluded)
            result.timings_s["partition"] = round(time.perf_counter() - start, 4)
        except Exception as exc:
            result.status = "failed"
            result.error = triage(stage, exc, op_name)
            if stage == "export":
                from ._dynamic_export import explain_export

                result.error = explain_export(result.error, exc, spec)
    return report


def _shared_export_of(spec: Any) -> tuple[str | None, SharedExport]:
    """The model's shared export, kept in memory under its key (None: not kept).

    A zoo name is its key, so a kept export saves the export itself; a user module is keyed by
    its exported program (as the program cache is), so what is kept is the functionalization
    and the backends' decompositions of exactly that program.
    """
    if spec.source == "zoo":
        key = model_fingerprint(spec)
        return key, _remember(
            _exports, key, lambda: SharedExport(_export_of(spec), reexport=lambda: _export_of(spec))
        )
    program = _export_of(spec)
    shared = SharedExport(program, reexport=lambda: _export_of(spec))
    try:
        key = model_fingerprint(spec, program)
    except Unkeyable:
        return None, shared
    return key, _remember(_exports, key, lambda: shared)


def _export_of(spec: Any) -> Any:
    from ._dynamic_export import export_spec

    return export_spec(spec)  # with its dynamic dims, if any


def _decompose(
    group: list, scheme: str, shared: SharedExport, exclude: list[str], options: Any = ()
) -> Any:
    """The edge program `to_edge_transform_and_lower` would partition, from the shared export."""
    from executorch.exir import EdgeCompileConfig

    from .._compat import internals_supported
    from .._compat.executorch import gen_edge_manager_for_partitioners

    partitioners = group_partitioners(group, scheme, options)
    if exclude:  # excluded ops are decomposed as usual, so the program differs
        partitioners = [exclude_partitioner(p, exclude, {}) for p in partitioners]
    config = next((c for c in (b.edge_compile_config() for b in group) if c is not None), None)
    config = config or EdgeCompileConfig()
    if internals_supported() and can_share(partitioners):
        return edge_manager(shared, partitioners, config).exported_program()
    manager = gen_edge_manager_for_partitioners(shared.raw(), partitioners, config)
    return manager.exported_program()


def _tag(partitioner: Any, program: Any, backend: str, index: int, owners: dict) -> None:
    """Run one partitioner; nodes it tags that no earlier partitioner took become its delegates."""
    from .._compat.patches import partitioning_for

    for node in program.graph.nodes:
        node.meta.pop("delegation_tag", None)
    with partitioning_for(backend):  # its reasons are recorded under `backend` only
        result = partitioner.partition(program)
    for node in result.tagged_exported_program.graph.nodes:
        tag = node.meta.pop("delegation_tag", None)
        if tag is not None and node.op == "call_function" and node.name not in owners:
            owners[node.name] = (backend, f"{backend}_{index}_{tag}")
