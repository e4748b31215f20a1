"""Dynamic dims: which input sizes a program accepts at run time, as ranges torch.export takes.

Users say it in torch.export's own form (a dict by forward-argument name, or a tuple by
position, of `{dim_index: torch.export.Dim("batch", min=1, max=8)}`) or plainly
(`{"x": {0: (1, 8)}}`, also with positional index keys). It is normalized once, here, into a
tuple of `DynamicDim`s: plain, hashable and picklable (workers are forked or spawned), keyed
canonically (positional inputs by index, keyword inputs by name, dims non-negative) so both
spellings of the same ranges compare, hash and key the cache alike. `torch.export.Dim`s are
built from it only at export time (`export_args`).

What torch 2.14 does with sizes 0 and 1 (measured): `Dim(min=1)` is accepted and the program's
range keeps 1, but an example input whose size at a dynamic dim is 0 or 1 is specialized to that
constant (export fails: "your code specialized it to be a constant (1)"). So such an example is
widened for export only, to the smallest size >= 2 in range (its values repeated); the program
is the same as exporting a batch-2 example, and runs, calibration and reports keep the example
as given.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

FORM = "input:dim=min..max, e.g. x:0=1..8 (input: a forward() argument name or position)"
_FLAG = re.compile(r"^\s*([A-Za-z_]\w*|\d+)\s*:\s*(-?\d+)\s*=\s*(\d+)\s*\.\.\s*(\d+)\s*$")


@dataclass(frozen=True)
class DynamicDim:
    """One dynamic dim: input (positional index, or keyword-argument name), dim, [min, max].

    `group`: dims with the same group are one symbol (a `Dim` shared between inputs, so their
    sizes are always equal); numbered in canonical order, so it does not depend on Dim names.
    `label` is how reports name the input (its forward() argument name when it has one).
    """

    input: int | str
    dim: int
    min: int
    max: int
    group: int
    label: str

    @property
    def text(self) -> str:
        """`x:0=1..8`, the CLI's own syntax."""
        return f"{self.label}:{self.dim}={self.min}..{self.max}"

    @property
    def dim_name(self) -> str:
        """The name of the `torch.export.Dim` built for this dim (quoted back in failures)."""
        return re.sub(r"\W", "_", f"{self.label}_dim{self.dim}")


DynamicShapes = tuple[DynamicDim, ...]


def describe_dynamic(dims: DynamicShapes) -> str:
    """`x:0=1..8, y:0=1..8 (same as x:0)`."""
    first: dict[int, DynamicDim] = {}
    parts = []
    for d in dims:
        shared = first.setdefault(d.group, d)
        same = f" (same as {shared.label}:{shared.dim})" if shared is not d else ""
        parts.append(d.text + same)
    return ", ".join(parts)


def key_text(dims: DynamicShapes) -> str:
    """What a cache key records of them: canonical fields only (no labels, no Dim names)."""
    return ";".join(f"{d.input!r}:{d.dim}={d.min}..{d.max}@{d.group}" for d in dims)


def parse_dynamic(entries: Any, what: str = "--dynamic") -> dict:
    """`["x:0=1..8", "1:2=8..64"]` (or one comma-separated string) -> the plain form."""
    if isinstance(entries, str):
        entries = [e for e in entries.split(",")]
    shapes: dict[int | str, dict[int, tuple[int, int]]] = {}
    for entry in entries:
        if not entry.strip():
            continue
        match = _FLAG.match(entry)
        if match is None:
            raise UsageError(f"{what} {entry.strip()!r} is not of the form {FORM}")
        name, dim, low, high = match.groups()
        key: int | str = int(name) if name.isdigit() else name
        shapes.setdefault(key, {})[int(dim)] = (int(low), int(high))
    return shapes


def normalize_dynamic(value: Any, module: Any, args: tuple, kwargs: dict) -> DynamicShapes:
    """Check `value` against the example inputs and return its canonical form (UsageError if bad)."""
    if not value:
        return ()
    if isinstance(value, tuple) and all(isinstance(d, DynamicDim) for d in value):
        again: dict[int | str, dict[int, tuple]] = {}  # checked again, groups kept
        for d in value:
            again.setdefault(d.input, {})[d.dim] = (d.min, d.max, d.group)
        value = again
    names = positional_names(module)
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    if not isinstance(value, dict):
        raise UsageError(
            f"dynamic_shapes must be a dict by forward() argument name or position (or a tuple "
            f"by position) of {{dim: (min, max) or torch.export.Dim}}, not {type(value).__name__}"
        )
    raw: list[tuple[tuple, int | str, str, int, Any]] = []
    for key, per_input in value.items():
        where, canonical, label, example = _input_of(key, names, args, kwargs)
        if per_input is None:
            continue
        if isinstance(per_input, list | tuple) and not _is_range(per_input):
            per_input = dict(enumerate(per_input))
        if not isinstance(per_input, dict):
            raise UsageError(
                f"dynamic_shapes[{key!r}] must be {{dim index: (min, max) or torch.export.Dim}}, "
                f"not {per_input!r}"
            )
        for dim, spec in per_input.items():
            if spec is None:
                continue
            index = _dim_index(dim, label, example)
            raw.append((where, canonical, label, index, spec))
    raw.sort(key=lambda item: (item[0], item[3]))
    for before, after in zip(raw, raw[1:], strict=False):
        if before[0] == after[0] and before[3] == after[3]:
            raise UsageError(f"dynamic dim {after[2]}:{after[3]} is given twice")
    dims: list[DynamicDim] = []
    groups: dict[Any, int] = {}
    for _, key, label, index, spec in raw:
        low, high, identity = _range(spec, f"{label}:{index}")
        example = _example(key, args, kwargs)
        size = int(example.shape[index])
        if not low <= size <= high:
            raise UsageError(
                f"dynamic dim {label}:{index} is {low}..{high} but the example input "
                f"{label} has size {size} there; give a range that includes it"
            )
        group = groups.setdefault(identity if identity is not None else (key, index), len(groups))
        dims.append(DynamicDim(key, index, low, high, group, label))
    return tuple(dims)


def _is_range(value: Any) -> bool:
    return len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _input_of(key: Any, names: list[str], args: tuple, kwargs: dict) -> tuple:
    """(sort key, canonical key, label, example value) of the top-level input named or
    numbered `key`: positional inputs are keyed by index, keyword ones by name."""
    import torch

    known = [*names[: len(args)], *kwargs]
    if isinstance(key, int) and not isinstance(key, bool):
        if not 0 <= key < len(args):
            raise UsageError(
                f"dynamic dims: input {key} is out of range; the model takes {len(args)} "
                f"positional input{'s' if len(args) != 1 else ''}"
            )
        label = names[key] if key < len(names) else str(key)
        where, canonical, example = (0, key), key, args[key]
    elif isinstance(key, str) and key in names[: len(args)]:
        index = names.index(key)
        where, canonical, label, example = (0, index), index, key, args[index]
    elif isinstance(key, str) and key in kwargs:
        where, canonical, label, example = (1, list(kwargs).index(key)), key, key, kwargs[key]
    else:
        raise UsageError(
            f"dynamic dims: unknown input {key!r}; the model's inputs are "
            f"{', '.join(known) or ', '.join(str(i) for i in range(len(args)))}"
        )
    if not isinstance(example, torch.Tensor):
        raise UsageError(
            f"dynamic dims: input {label} is a {type(example).__name__}, not a tensor; dynamic "
            "dims apply to top-level tensor inputs"
        )
    return where, canonical, label, example


def _example(key: int | str, args: tuple, kwargs: dict) -> Any:
    return args[key] if isinstance(key, int) else kwargs[key]


def _dim_index(dim: Any, label: str, example: Any) -> int:
    rank = example.dim()
    if isinstance(dim, bool) or not isinstance(dim, int) or not -rank <= dim < rank:
        raise UsageError(
            f"dynamic dims: {label} has {rank} dims (shape {list(example.shape)}), so dim "
            f"{dim!r} is out of range"
        )
    return dim % rank


def _range(spec: Any, where: str) -> tuple[int, int, Any]:
    """(min, max, identity of a shared Dim or None) of a `Dim`, `(min, max)` or a normalized
    `(min, max, group)`."""
    import torch

    identity = None
    if isinstance(spec, torch.export.Dim):
        if getattr(spec, "fn", None) is not None:
            raise UsageError(
                f"dynamic dim {where}: derived dims ({spec.__name__}) are not supported; give "
                "a range"
            )
        low, high, identity = spec.min, spec.max, ("dim", spec.__name__)
    elif isinstance(spec, list | tuple) and len(spec) in (2, 3):
        low, high = spec[0], spec[1]
        identity = ("group", spec[2]) if len(spec) == 3 else None
    else:
        raise UsageError(
            f"dynamic dim {where} must be (min, max) or torch.export.Dim(name, min=, max=), not "
            f"{spec!r} (Dim.AUTO / Dim.DYNAMIC need a range here: it is what is checked and run)"
        )
    if not (isinstance(low, int) and isinstance(high, int)) or isinstance(low, bool):
        raise UsageError(
            f"dynamic dim {where}: min and max must be integers, got {low!r}, {high!r}"
        )
    if low < 1:
        raise UsageError(f"dynamic dim {where}: min {low} is below 1; sizes start at 1")
    if low > high:
        raise UsageError(f"dynamic dim {where}: min {low} is above max {high}")
    if low == high:
        raise UsageError(
            f"dynamic dim {where}: {low}..{high} is one size, not a range; drop it (the example's "
            "size is then fixed) or widen it"
        )
    return low, high, identity


def positional_names(module: Any) -> list[str]:
    """forward()'s positional parameter names, when its signature can be read."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError, AttributeError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = []
    for parameter in signature.parameters.values():
        if parameter.kind not in kinds:
            break
        names.append(parameter.name)
    return names


# -- at export time -----------------------------------------------------------------------------


def export_args(spec: Any, module: Any = None) -> tuple[tuple, dict, Any]:
    """`(args, kwargs, dynamic_shapes)` for `torch.export.export(module, args, kwargs=...,
    dynamic_shapes=...)` of `spec`: its example inputs (widened where torch would specialize
    a size of 0 or 1, see the module docstring) and `Dim`s built from its `DynamicDim`s."""
    args, kwargs = tuple(spec.example_inputs), dict(spec.example_kwargs)
    dims: DynamicShapes = tuple(getattr(spec, "dynamic_shapes", ()) or ())
    if not dims:
        return args, kwargs, None
    import torch

    made: dict[int, Any] = {}
    per_input: dict[int | str, dict[int, Any]] = {}
    sizes: dict[int, int] = {}
    for d in dims:
        if d.group not in made:
            made[d.group] = torch.export.Dim(d.dim_name, min=d.min, max=d.max)
        per_input.setdefault(d.input, {})[d.dim] = made[d.group]
        size = int(_example(d.input, args, kwargs).shape[d.dim])
        if size < 2:
            sizes[d.group] = max(2, d.min)
    widened_args, widened_kwargs = list(args), dict(kwargs)
    for d in dims:
        if d.group in sizes:
            target = widened_args if isinstance(d.input, int) else widened_kwargs
            target[d.input] = _resize(target[d.input], d.dim, sizes[d.group])
    positional = tuple(per_input.get(i) for i in range(len(args)))
    if not kwargs:
        shapes: Any = positional
    else:  # torch wants every argument by name when some are keywords
        names = positional_names(spec.module if module is None else module)
        shapes = {names[i]: positional[i] for i in range(len(args))}
        shapes |= {key: per_input.get(key) for key in kwargs}
    return tuple(widened_args), widened_kwargs, shapes


def _resize(tensor: Any, dim: int, size: int) -> Any:
    """`tensor` with `size` entries along `dim`: its one entry repeated (zeros if it had none)."""
    import torch

    if tensor.shape[dim] == 0:
        shape = list(tensor.shape)
        shape[dim] = size
        return tensor.new_zeros(shape)
    return torch.cat([tensor] * size, dim=dim)


def explain_violation(message: str, dims: DynamicShapes) -> str | None:
    """torch's constraint violation in the workbench's terms: which input and dim the model's
    code fixed, and torch's own suggested fix, quoted. None when `message` is not one."""
    if not dims or "Constraints violated" not in message and "specialized" not in message:
        return None
    named = [d for d in dims if re.search(rf"\b{re.escape(d.dim_name)}\b", message)]
    if not named:
        return None
    said = [
        line.strip()[2:].split(" If you're using")[0]  # torch's mark_dynamic advice: not ours
        for line in message.splitlines()
        if line.strip().startswith("- ")
    ]
    fixes = _suggested_fixes(message)
    which = ", ".join(f"{d.label}:{d.dim} ({d.min}..{d.max})" for d in named)
    names = ", ".join(f"{d.dim_name} is {d.label}:{d.dim}" for d in named)
    text = (
        f"the model's code does not allow dynamic dim {which}: torch.export says "
        f"{' '.join(said)[:600] or message.strip().splitlines()[0][:300]} ({names})"
    )
    if fixes:
        text += f"\ntorch's suggested fix: {'; '.join(fixes)}"
    text += (
        "\nmake that size generic in the model (e.g. view(x.shape[0], -1) instead of a fixed "
        "batch), narrow the range as suggested, or drop the dynamic dim"
    )
    return text


def _suggested_fixes(message: str) -> list[str]:
    lines = message.splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("Suggested fixes"):
            fixes = []
            for rest in lines[index + 1 :]:
                if not rest.startswith((" ", "\t")) or not rest.strip():
                    break
                fixes.append(rest.strip())
            return fixes
    return []
