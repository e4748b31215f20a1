"""Per-event times of a program from an ETDump: delegate calls, ops inside delegates, kernels.

`profile_program` records one here (a separate, untimed load with the event tracer on);
`read_etdump` reads one recorded anywhere (a device), optionally with the program's ETRecord,
whose debug handles tie each event to the edge graph's nodes (runtime._latency).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .._compat.executorch import event_instruction_id
from ._report import Profile, ProfileRow


def profile_program(buffer: bytes, inputs: list, executions: int = 5) -> Profile:
    """Per-event times from an ETDump: delegate calls, ops inside delegates, CPU kernels.

    Needs a runtime built with the event tracer (the pip wheel is). Delegate-internal events
    are whatever the delegate reports (XNNPACK: each XNNPACK operator, microsecond ticks).
    """
    from executorch.runtime import Runtime

    try:
        program = Runtime.get().load_program(buffer, enable_etdump=True, debug_buffer_size=0)
        method = program.load_method("forward")
        for _ in range(executions):
            method.execute(inputs)
        with tempfile.TemporaryDirectory(prefix="etwb-etdump-") as tmp:
            etdump = Path(tmp) / "run.etdp"
            program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
            if not etdump.exists() or etdump.stat().st_size == 0:
                note = "the runtime wrote no ETDump (built without the event tracer?)"
                return Profile(executions=executions, note=note)
            return read_etdump(etdump, pte=buffer, executions=executions)
    except Exception as exc:  # profiling is optional; say why it is missing
        return Profile(executions=executions, note=f"no profile: {type(exc).__name__}: {exc}")


def latency_overlay(
    result: Any, inputs: tuple | None = None, *, kwargs: dict | None = None, executions: int = 5
) -> Any:
    """Profile `result`'s .pte here (ETDump, `executions` runs on `inputs`, default the
    example inputs) and charge each event to its graph nodes: a latency `NodeOverlay`
    (runtime._latency.overlay_of)."""
    from ..errors import UsageError
    from ..models._inputs import flat_inputs

    spec = result.model_spec
    if not result.has_program or spec is None:
        raise UsageError(f"{result.backend}: no program and model here to profile")
    args = tuple(inputs) if inputs is not None else tuple(spec.example_inputs)
    flat = flat_inputs(args, dict(spec.example_kwargs if kwargs is None else kwargs))
    profile = profile_program(result.pte_data, flat, executions)
    if not profile.rows:
        raise UsageError(f"{result.backend}: {profile.note}")
    return profile.overlay(result)


def read_etdump(
    etdump: str | os.PathLike,
    etrecord: Any = None,
    pte: bytes | None = None,
    executions: int | None = None,
) -> Profile:
    """The "Execute" events of an ETDump file as a `Profile`.

    `etrecord` (a path or executorch's `ETRecord`) lets executorch's Inspector resolve each
    event to debug handles, kept on the rows with the edge nodes they name; `pte` (the
    program's bytes) names the delegate backend when the program has only one.
    `executions` defaults to the most times any event ran.
    """
    from executorch.devtools import Inspector

    record = load_etrecord(etrecord) if isinstance(etrecord, (str, os.PathLike)) else etrecord
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inspector = Inspector(etdump_path=str(etdump), etrecord=record)
    # The ETDump does not name the backend of delegate events; when the program has one
    # delegate backend, every delegate event is its.
    only = None
    if pte is not None:
        from ..analysis.pte_file import inspect_pte

        ids = {d.backend_id for d in inspect_pte(pte, isolate=False).delegates}
        only = ids.pop() if len(ids) == 1 else None
    rows: list[ProfileRow] = []
    seen: dict[str, int] = {}
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue  # the "Default" block is load-time events (Method::init, load_method)
        for event in block.events:
            raw = list(event.perf_data.raw) if event.perf_data is not None else []
            if not raw:
                continue
            name, kind = event.name, _event_kind(event)
            seen[name] = seen.get(name, 0) + 1
            label = f"{name} #{seen[name]}" if name in ("DELEGATE_CALL", "OPERATOR_CALL") else name
            handles = event.debug_handles if kind != "method" else None
            handles = [handles] if isinstance(handles, int) else list(handles or [])
            rows.append(
                ProfileRow(
                    name=label,
                    kind=kind,
                    backend=event.delegate_backend_name
                    or (only if kind in ("delegate op", "delegate call") else None),
                    median_ms=round(statistics.median(raw), 6),
                    mean_ms=round(statistics.fmean(raw), 6),
                    count=len(raw),
                    instruction=event_instruction_id(event),
                    debug_handles=[int(h) for h in handles],
                    event=name,
                )
            )
    runs = executions if executions is not None else max((r.count for r in rows), default=0)
    profile = Profile(executions=runs, rows=rows)
    if record is not None:
        profile.handle_names = handle_names(record)
    if not rows:
        profile.note = "the ETDump holds no execution events"
    return profile


def load_etrecord(path: str | os.PathLike) -> Any:
    """executorch's own ETRecord loader (`parse_etrecord`)."""
    from executorch.devtools.etrecord import parse_etrecord

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_etrecord(str(path))


def handle_names(etrecord: Any) -> dict[int, list[str]]:
    """debug handle -> names of the edge-program nodes carrying it (inside lowered modules
    too), from the ETRecord's edge dialect program (the graph the handles were given on)."""
    program = etrecord.edge_dialect_program
    if isinstance(program, dict):
        program = program.get("forward") or next(iter(program.values()), None)
    names: dict[int, list[str]] = {}
    if program is None:
        return names
    modules = [program.graph_module]
    while modules:
        module = modules.pop()
        for node in module.graph.nodes:
            if node.op == "get_attr":
                inner = getattr(getattr(module, str(node.target), None), "original_module", None)
                if inner is not None:
                    modules.append(inner.graph_module)
            handle = node.meta.get("debug_handle") if node.op == "call_function" else None
            for h in [handle] if isinstance(handle, int) else list(handle or []):
                names.setdefault(int(h), []).append(node.name)
    return names


_KINDS = {
    "Method::execute": "method",
    "DELEGATE_CALL": "delegate call",
    "OPERATOR_CALL": "operator call",
}


def _event_kind(event: Any) -> str:
    if event.is_delegated_op:
        return "delegate op"
    if event.name.startswith("native_call_"):
        return "CPU kernel"
    return _KINDS.get(event.name, "other")
