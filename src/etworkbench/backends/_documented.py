"""Schemes a backend documents but the workbench cannot quantize with: listed, never lowered.

A scheme without a quantizer lowers the float program. For a quantized scheme that would put a
float program under an int8 label, so such a scheme is declared with `documented_only` and the
backend's `partitioners` call `refuse_documented_only` first: lowering with it fails with the
reason instead.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ._base import Scheme

DOCUMENTED_ONLY = "documented, cannot quantize here: "


def documented_only(name: str, description: str, reason: str) -> Scheme:
    """A scheme the backend's documentation names but no quantizer here implements."""
    return Scheme(name, description, lowers_here=False, note=DOCUMENTED_ONLY + reason)


def is_documented_only(scheme: Scheme) -> bool:
    return not scheme.lowers_here and scheme.note.startswith(DOCUMENTED_ONLY)


def refuse_documented_only(backend: Any, scheme: str) -> None:
    """Raise `UsageError` naming the backend, the scheme and why, for a documented-only scheme."""
    declared = backend.schemes.get(scheme)
    if declared is None or not is_documented_only(declared):
        return
    usable = [s.name for s in backend.schemes.values() if not is_documented_only(s)]
    raise UsageError(
        f"{backend.title} ({backend.name}) scheme {scheme!r} is {declared.note}; "
        + (f"use one of: {', '.join(usable)}" if usable else "this backend has no usable scheme")
        + " (see `etwb schemes`)"
    )
