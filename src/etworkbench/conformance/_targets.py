"""What a conformance column compares: one backend or an ordered priority list, at a scheme.

Written `BACKEND`, `BACKEND:SCHEME` or `A+B[:SCHEME]` (a priority list, as `lower(...,
priority=True)` makes it: one program, the partitioners in that order, the lead backend's
scheme and quantizer). The label is also the column name in reports and part of file names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Target:
    backends: tuple[str, ...]
    scheme: str
    # normalized backend compile options (`backends._options`): both sides build their
    # partitioners with them; () is each backend's default
    options: tuple[tuple[str, str, str], ...] = ()

    @property
    def label(self) -> str:
        """`xnnpack`, `xnnpack:int8`, `coreml+xnnpack`: the scheme only when not the default."""
        from ..backends import get_backend

        names = "+".join(self.backends)
        default = get_backend(self.backends[0]).default_scheme
        return names if self.scheme == default else f"{names}:{self.scheme}"

    @property
    def priority(self) -> bool:
        return len(self.backends) > 1

    @property
    def lowering_label(self) -> str:
        """The key of the workbench's result for this program (`lower(...)[label]`)."""
        return "+".join(self.backends)


def parse_target(text: str) -> Target:
    """`A+B:scheme` -> Target; unknown backends or schemes are usage errors naming the choices."""
    from ..backends import get_backend

    names_part, _, scheme = text.strip().partition(":")
    names = [n.strip().lower() for n in names_part.split("+") if n.strip()]
    if not names:
        raise UsageError(f"conformance target {text!r} names no backend (e.g. xnnpack:int8)")
    backends = [get_backend(n) for n in names]  # raises naming the known backends
    if len({b.name for b in backends}) != len(backends):
        raise UsageError(f"conformance target {text!r} lists a backend twice")
    lead = backends[0]
    scheme = (scheme or lead.default_scheme).strip().lower()
    if scheme not in lead.schemes:
        raise UsageError(
            f"{lead.title} has no quantization scheme {scheme!r} (target {text!r}); "
            f"its schemes are: {', '.join(lead.schemes)}"
        )
    return Target(tuple(b.name for b in backends), scheme)


def unavailable_reason(target: Target) -> str | None:
    """Why this target cannot be compared here, or None."""
    from ..backends import get_backend

    for name in target.backends:
        backend = get_backend(name)
        if not backend.availability.available:
            return f"{backend.title} cannot lower here: {backend.availability.reason}"
    scheme = get_backend(target.backends[0]).schemes[target.scheme]
    if not scheme.lowers_here:
        return f"scheme {target.scheme} cannot lower here: {scheme.note}"
    return None
