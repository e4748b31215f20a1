"""Per-event times of a program from an ETDump: delegate calls, ops inside delegates, kernels."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from ._report import Profile, ProfileRow


def profile_program(buffer: bytes, inputs: list, executions: int = 5) -> Profile:
    """Per-event times from an ETDump: delegate calls, ops inside delegates, CPU kernels.

    Needs a runtime built with the event tracer (the pip wheel is). Delegate-internal events
    are whatever the delegate reports (XNNPACK: each XNNPACK operator, microsecond ticks).
    """
    import warnings

    from executorch.runtime import Runtime

    profile = Profile(executions=executions)
    try:
        program = Runtime.get().load_program(buffer, enable_etdump=True, debug_buffer_size=0)
        method = program.load_method("forward")
        for _ in range(executions):
            method.execute(inputs)
        with tempfile.TemporaryDirectory(prefix="etwb-etdump-") as tmp:
            etdump = Path(tmp) / "run.etdp"
            program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
            if not etdump.exists() or etdump.stat().st_size == 0:
                profile.note = "the runtime wrote no ETDump (built without the event tracer?)"
                return profile
            from executorch.devtools import Inspector

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inspector = Inspector(etdump_path=str(etdump))
    except Exception as exc:  # profiling is optional; say why it is missing
        profile.note = f"no profile: {type(exc).__name__}: {exc}"
        return profile
    seen: dict[str, int] = {}
    # The ETDump does not name the backend of delegate events; when the program has one
    # delegate backend, every delegate event is its.
    from ..analysis.pte_file import inspect_pte

    ids = {d.backend_id for d in inspect_pte(buffer, isolate=False).delegates}
    only = ids.pop() if len(ids) == 1 else None
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue  # the "Default" block is load-time events (Method::init, load_method)
        for event in block.events:
            raw = list(event.perf_data.raw) if event.perf_data is not None else []
            if not raw:
                continue
            name = event.name
            seen[name] = seen.get(name, 0) + 1
            label = f"{name} #{seen[name]}" if name in ("DELEGATE_CALL", "OPERATOR_CALL") else name
            profile.rows.append(
                ProfileRow(
                    name=label,
                    kind=_event_kind(event),
                    backend=event.delegate_backend_name
                    or (only if _event_kind(event) in ("delegate op", "delegate call") else None),
                    median_ms=round(statistics.median(raw), 6),
                    mean_ms=round(statistics.fmean(raw), 6),
                    count=len(raw),
                )
            )
    if not profile.rows:
        profile.note = "the ETDump holds no execution events"
    return profile


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
