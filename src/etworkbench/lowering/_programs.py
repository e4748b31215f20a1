"""What one `lower()` call makes: its programs (backend groups), their schemes and file names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backends import Backend, get_backend
from ..errors import UsageError
from ._calibration import load_calibration


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


def scheme_for(group: list[Backend], quantization: str | None) -> str:
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


def mark_unavailable(result: Any, group: list[Backend]) -> bool:
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


def user_calibration(calibration: Any, groups: list, schemes: list, spec: Any) -> Any:
    """The validated user calibration, or None for the default (the example inputs)."""
    if calibration is None:
        return None
    if not any(group[0].schemes[s].calibrate for group, s in zip(groups, schemes, strict=True)):
        raise UsageError(
            f"calibration data was given but no chosen scheme ({', '.join(sorted(set(schemes)))}) "
            "calibrates; pick a static scheme (see `etwb schemes`) or drop --calibration"
        )
    return load_calibration(calibration, spec.example_inputs, spec.example_kwargs)
