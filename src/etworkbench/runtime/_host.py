"""What can run here: the installed runtime's registered backends and operators.

The truth about what can run here is the installed runtime itself: a program runs only if
every backend in it declares `runs_on_host`, every delegate id in the .pte is registered in
this runtime, and every CPU kernel it calls is in the runtime's operator registry.
"""

from __future__ import annotations

import functools
from typing import Any

from ._report import NOT_RUNNABLE


@functools.lru_cache(maxsize=1)
def registered_backends() -> tuple[str, ...]:
    """Delegate ids the installed ExecuTorch runtime has registered (e.g. XnnpackBackend)."""
    from executorch.runtime import Runtime

    return tuple(Runtime.get().backend_registry.registered_backend_names)


@functools.lru_cache(maxsize=1)
def registered_operators() -> frozenset[str]:
    from executorch.runtime import Runtime

    return frozenset(Runtime.get().operator_registry.operator_names)


def runnability(result: Any) -> tuple[str, str] | None:
    """None when `result`'s program can run on this host, else (status, reason)."""
    from ..analysis.pte_file import inspect_pte
    from ..backends import get_backend

    if not result.ok or result.preview or not result.has_program:
        what = "a preview has no .pte" if result.preview else f"the lowering {result.status}"
        return "not run", f"nothing to run: {what}"
    for name in result.backends:
        backend = get_backend(name)
        if not backend.runs_on_host:
            where = backend.hardware or "other hardware"
            return NOT_RUNNABLE, f"{backend.title} programs run on {where}, not on this host"
    pte = inspect_pte(result.pte_data, isolate=False)  # our own buffer: no need to fork
    registered = registered_backends()
    for delegate in pte.delegates:
        if delegate.backend_id not in registered:
            return NOT_RUNNABLE, f"runtime has no {delegate.backend_id} backend registered"
    if "OpenvinoBackend" in {d.backend_id for d in pte.delegates}:
        absent = _absent_openvino_device(result.pte_data)
        if absent:
            return NOT_RUNNABLE, absent
    missing = sorted(op for op in pte.cpu_operators() if op not in registered_operators())
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        return NOT_RUNNABLE, f"runtime has no kernel for {', '.join(missing[:5])}{more}"
    return None


def _absent_openvino_device(pte: bytes) -> str | None:
    """Why an OpenVINO delegate cannot run here: the device it was compiled for (compile spec
    `device`, e.g. GPU) is not one of this host's OpenVINO devices; None when it is."""
    from ..analysis.compile_specs import delegate_compile_specs
    from ..backends.openvino import DeviceMissing, check_device

    for delegate in delegate_compile_specs(pte):
        device = delegate.text("device") if delegate.backend_id == "OpenvinoBackend" else None
        if device and device != "CPU":
            try:
                check_device(device)
            except DeviceMissing as missing:
                return str(missing)
    return None
