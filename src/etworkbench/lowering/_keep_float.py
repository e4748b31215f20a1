"""Keep in float: per-layer float fallback in a quantized program (`lower(float_modules=...)`).

An entry is one of
- a module path from the model's `named_modules()`, e.g. "features.18" or "classifier.1":
  that module and everything inside it;
- a module type, e.g. "torch.nn.Linear", "nn.Linear", "Linear" or the full
  "torch.nn.modules.linear.Linear": every module of that type in the model;
- an ATen op, "aten.<op>" (every overload) or "aten.<op>.<overload>": every node of it
  (only quantizers that take a node filter: XNNPACK, Vulkan, OpenVINO).
Entries are checked against the model and the scheme before anything is lowered (a
`UsageError` names the bad entry and close matches); the backend's own quantizer is then
configured to skip them (`Backend.keep_float`), and the rest is quantized as before.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from ..backends._keep_float import KeepFloat
from ..errors import UsageError


def normalize_float_modules(value: Iterable[str] | str | None) -> tuple[str, ...]:
    """The entries as given, stripped and without duplicates (a string: comma-separated)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise UsageError(f"float_modules entries are strings; got {item!r}")
    return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))


def resolve_keep_float(
    entries: tuple[str, ...], groups: list, schemes: list, spec: Any
) -> KeepFloat:
    """`entries` checked against the model and every program's scheme (a `UsageError` first)."""
    if not entries:
        return KeepFloat(())
    keep = resolve(entries, spec.module)
    check_programs(groups, schemes, keep)
    return keep


def resolve(entries: tuple[str, ...], module: Any) -> KeepFloat:
    """Check `entries` against `module` and expand types to module paths (see module docs)."""
    if not entries:
        return KeepFloat(())
    paths = {name: sub for name, sub in module.named_modules() if name}
    types = _type_spellings(paths)
    canonical, modules, ops = set(), set(), set()
    for entry in entries:
        if entry in paths:
            canonical.add(entry)
            modules.add(entry)
        elif entry in types:
            spelled, owners = types[entry]
            canonical.add(spelled)
            modules.update(owners)
        elif entry.startswith("aten."):
            ops.add(_check_op(entry))
            canonical.add(entry)
        else:
            raise UsageError(_unknown(entry, list(paths), sorted({t for t, _ in types.values()})))
    return KeepFloat(tuple(sorted(canonical)), tuple(sorted(modules)), tuple(sorted(ops)))


def _type_spellings(paths: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Every accepted spelling of each module type in the model -> (canonical, module paths)."""
    import torch

    by_type: dict[type, list[str]] = {}
    for name, sub in paths.items():
        by_type.setdefault(type(sub), []).append(name)
    spellings: dict[str, tuple[str, list[str]]] = {}
    for tp, owners in by_type.items():
        full = f"{tp.__module__}.{tp.__qualname__}"
        short = f"torch.nn.{tp.__name__}"
        public = getattr(torch.nn, tp.__name__, None) is tp
        canonical = short if public else full
        names = [full, tp.__qualname__] + ([short, f"nn.{tp.__name__}"] if public else [])
        for spelling in names:
            spellings.setdefault(spelling, (canonical, owners))
    return spellings


def _check_op(entry: str) -> str:
    import torch

    parts = entry.split(".")
    packet = getattr(torch.ops.aten, parts[1], None) if len(parts) in (2, 3) else None
    if packet is None or (len(parts) == 3 and parts[2] not in packet.overloads()):
        raise UsageError(
            f"keep-float entry {entry!r} is not an ATen op; write aten.<op> or "
            "aten.<op>.<overload>, e.g. aten.linear or aten.conv2d.default"
        )
    return entry


def _unknown(entry: str, paths: list[str], types: list[str]) -> str:
    close = difflib.get_close_matches(entry, paths + types, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(paths[:12]) + (f", ... ({len(paths)} in all)" if len(paths) > 12 else "")
    return (
        f"keep-float entry {entry!r} is not a module of the model, a module type in it, or an "
        f"ATen op (aten.<op>){hint} Module names: {shown or 'none'}"
    )


def check_programs(groups: list, schemes: list[str], keep: KeepFloat) -> None:
    """Refuse, before any lowering, a program whose scheme or quantizer cannot keep `keep`."""
    if not keep:
        return
    for group, scheme in zip(groups, schemes, strict=True):
        lead = group[0]  # the lead backend's quantizer quantizes a priority list's program
        if not lead.availability.available:
            continue  # reported as unavailable
        why = refusal(lead, scheme, keep)
        if why:
            raise UsageError(f"cannot keep {', '.join(keep.entries)} in float on {why}")


def refusal(backend: Any, scheme: str, keep: KeepFloat) -> str:
    """Why `backend`'s `scheme` cannot leave `keep` in float, or ''."""
    from ..backends import Backend

    definition = backend.schemes[scheme]
    where = f"{backend.title} {scheme}"
    if definition.float_export:
        return f"{where}: the scheme is not quantized, so everything is float already"
    if definition.transform is not None:
        return (
            f"{where}: the scheme is a torchao eager transform (quantize_) applied to every "
            "eligible layer, not a PT2E quantizer with per-module settings"
        )
    if type(backend).keep_float is Backend.keep_float:
        return f"{where}: its quantizer has no per-module skip etworkbench can set"
    if keep.ops and not backend.keep_float_ops:
        return (
            f"{where}: its quantizer skips modules by name or type, not ATen ops "
            f"({', '.join(keep.ops)}); name the modules instead"
        )
    return ""


def keep_float_hook(backend: Any, keep: KeepFloat) -> Callable[[Any, Any], Any] | None:
    """(quantizer, captured graph) -> the quantizer configured to skip `keep`; None: nothing."""
    if not keep:
        return None
    return lambda quantizer, graph: backend.keep_float(quantizer, keep, graph)
