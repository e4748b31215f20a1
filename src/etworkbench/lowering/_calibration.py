"""Calibration data for static quantization: from the example inputs, an iterable, or a file.

A static scheme observes activations on calibration batches before it fixes the int8 scales,
so what it is calibrated on decides the error users see. The file form (`--calibration
FILE.pt`) is whatever `torch.save` wrote, read with `weights_only=True` so nothing in it runs:

- a Tensor shaped like the single example input: one batch;
- a Tensor with one more leading dimension (N, *example shape): N batches;
- a Tensor whose first dimension is a multiple of the example's batch size (N*B, ...): N
  batches of B, the example's own batch size;
- a list of Tensors (single-input models) or a list of tuples/lists of Tensors, one per batch.

A batch has the structure of the example inputs: for `forward(x, state)` with `state=(h, c)`
it is `(x, (h, c))`. For a model with keyword arguments a batch may be `(args, kwargs)`; one
without kwargs uses the example's. Every batch must match the example inputs in pytree
structure and, leaf by leaf, dtype and shape (plain values must be equal): the exported program
was traced with those.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..models._inputs import leaf_path
from ..models._spec import _describe

FORMAT_HELP = (
    "save with torch.save either a tensor shaped like the model's input (one batch), a tensor "
    "with an extra leading dimension (N batches), a list of tensors, or a list of tuples of "
    "tensors (one tuple per batch for models with several inputs, nested like the example inputs)"
)


class Batch(tuple):
    """One batch's positional args; `.kwargs` holds its keyword args (the quantizer calls
    `model(*batch, **batch.kwargs)`). A tuple, so backends' own drivers can iterate it."""

    kwargs: dict

    def __new__(cls, args: Any, kwargs: dict | None = None) -> Batch:
        batch = super().__new__(cls, args)
        batch.kwargs = dict(kwargs or {})
        return batch

    def __reduce__(self) -> tuple:
        return (Batch, (tuple(self), self.kwargs))


@dataclass
class Calibration:
    """Validated calibration batches and where they came from (for reports and cache keys)."""

    batches: list[tuple]
    source: str  # "example inputs", "iterable" or the file path

    @property
    def digest(self) -> str:
        """A content hash of the batches, so a calibrated program can be cached."""
        import torch

        from .._compat.torch import keystr, tree_flatten_with_path

        h = hashlib.blake2b(digest_size=16)
        for batch in self.batches:
            tree = (tuple(batch), getattr(batch, "kwargs", {}))
            for path, leaf in tree_flatten_with_path(tree)[0]:
                h.update(keystr(path).encode())
                if isinstance(leaf, torch.Tensor):
                    h.update(f"{leaf.dtype}{tuple(leaf.shape)}".encode())
                    h.update(leaf.detach().contiguous().cpu().numpy().tobytes())
                else:
                    h.update(repr(leaf).encode())
        return h.hexdigest()


def load_calibration(
    data: Any, example_inputs: tuple, example_kwargs: dict | None = None
) -> Calibration:
    """Batches to calibrate on: `data` is None (the example inputs), a path, a tensor, an
    iterable of batches or an already loaded `Calibration`. Raises UsageError naming the problem and the expected format."""
    example = (tuple(example_inputs), dict(example_kwargs or {}))
    if data is None:
        return Calibration([Batch(*example)], "example inputs")
    if isinstance(data, Calibration):  # already checked (e.g. by the parent of a worker)
        return data
    if isinstance(data, str | Path):
        path = Path(data)
        return Calibration(_batches(_read(path), example, f"{path}"), str(path))
    return Calibration(_batches(data, example, "calibration data"), "iterable")


def _read(path: Path) -> Any:
    import torch

    if not path.exists():
        raise UsageError(f"calibration file {path} does not exist; {FORMAT_HELP}")
    if path.is_dir():
        raise UsageError(f"calibration file {path} is a directory; give a .pt file ({FORMAT_HELP})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any way torch.load refuses the file is the user's to fix
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"calibration file {path} is not a tensor file torch.load can read safely "
            f"({first}); {FORMAT_HELP}"
        ) from exc


def _batches(data: Any, example: tuple[tuple, dict], where: str) -> list[tuple]:
    import torch

    if isinstance(data, torch.Tensor):
        batches = [Batch(b, example[1]) for b in _split_tensor(data, example, where)]
    elif isinstance(data, dict):
        raise UsageError(f"{where} holds a dict; {FORMAT_HELP}")
    elif isinstance(data, Iterable):
        batches = [_as_batch(item, example) for item in list(data)]
    else:
        raise UsageError(f"{where} holds a {type(data).__name__}; {FORMAT_HELP}")
    if not batches:
        raise UsageError(f"{where} has no batches; {FORMAT_HELP}")
    for index, batch in enumerate(batches):
        _check_batch(batch, example, f"{where}: batch {index}")
    return batches


def _as_batch(item: Any, example: tuple[tuple, dict]) -> Batch:
    """One item of the data as `Batch(args, kwargs)`: the reading whose structure fits."""
    from .._compat.torch import tree_structure

    args, kwargs = example
    readings = []
    if kwargs and isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[1], dict):
        first = item[0]
        readings.append(Batch(first if isinstance(first, list | tuple) else (first,), item[1]))
    if isinstance(item, list | tuple):
        readings.append(Batch(item, kwargs))
    readings.append(Batch((item,), kwargs))  # a single input that is itself a tuple, or a tensor
    readings = [Batch(_align(tuple(r), args), _align(r.kwargs, kwargs)) for r in readings]
    want = tree_structure(example)
    for reading in readings:
        if tree_structure((tuple(reading), reading.kwargs)) == want:
            return reading
    return readings[0]  # checked next, with an error naming what differs


def _split_tensor(tensor: Any, example: tuple[tuple, dict], where: str) -> list[tuple]:
    import torch

    args, kwargs = example
    if len(args) != 1 or not isinstance(args[0], torch.Tensor) or _has_tensor(kwargs):
        raise UsageError(
            f"{where} is one tensor but the model takes {len(args)} inputs"
            f"{' and tensor keyword arguments' if _has_tensor(kwargs) else ''}; save a list of "
            "batches, each structured like the example inputs"
        )
    shape, want = tuple(tensor.shape), tuple(args[0].shape)
    if shape == want:
        return [(tensor,)]
    if shape[1:] == want:
        return [(sample,) for sample in tensor]
    if want and shape[1:] == want[1:] and want[0] > 0 and shape[0] % want[0] == 0:
        return [(chunk,) for chunk in tensor.split(want[0])]
    raise UsageError(
        f"{where} is a tensor of shape {list(shape)}, which does not fit the example input "
        f"{list(want)}: give {list(want)}, [N, *{list(want)}] or [N*{want[0] if want else 1}, ...]"
    )


def _has_tensor(tree: Any) -> bool:
    import torch

    from .._compat.torch import tree_leaves

    return any(isinstance(leaf, torch.Tensor) for leaf in tree_leaves(tree))


def _check_batch(batch: Batch, example: tuple[tuple, dict], where: str) -> None:
    """Same pytree structure as the example, then per leaf the same dtype and shape."""
    import torch

    from .._compat.torch import tree_flatten_with_path

    args, kwargs = example
    if len(batch) != len(args):
        raise UsageError(
            f"{where} has {len(batch)} inputs but the model takes {len(args)} "
            f"(example inputs: {_describe(args)})"
        )
    differs = [
        _first_difference(g, w, f"input[{i}]")
        for i, (g, w) in enumerate(zip(batch, args, strict=True))
    ]
    differs.append(_first_difference(batch.kwargs, kwargs, "kwargs"))
    for difference in differs:
        if difference:
            raise UsageError(
                f"{where} is structured differently from the example inputs: {difference}"
            )
    got_leaves = tree_flatten_with_path((tuple(batch), batch.kwargs))[0]
    want_leaves = tree_flatten_with_path((args, kwargs))[0]
    for (path, got), (_, want) in zip(got_leaves, want_leaves, strict=True):
        name = _path_name(path)
        if isinstance(want, torch.Tensor):
            if not isinstance(got, torch.Tensor):
                raise UsageError(f"{where}, {name} is a {type(got).__name__}, not a tensor")
            if got.dtype != want.dtype or tuple(got.shape) != tuple(want.shape):
                raise UsageError(
                    f"{where}, {name} is {_describe(got)} but the model was exported with "
                    f"{_describe(want)}; calibration batches must match the example inputs"
                )
        elif type(got) is not type(want) or got != want:
            raise UsageError(
                f"{where}, {name} is {got!r} but the model was exported with {want!r} (plain "
                "values are fixed into the program at export)"
            )


def _path_name(path: tuple) -> str:
    """`input[1][0]` / `kwargs['mask']` for a key path into `(args, kwargs)`."""
    if path[0].idx == 1:
        return leaf_path("kwargs", path[1:])
    return leaf_path(f"input[{path[1].idx}]", path[2:])


def _first_difference(got: Any, want: Any, name: str) -> str | None:
    """Where two pytrees first differ in structure (a leaf for a leaf is no difference)."""
    from .._compat.torch import tree_structure

    if tree_structure(got) == tree_structure(want):
        return None
    if type(got) is type(want) and isinstance(want, list | tuple) and len(got) == len(want):
        for index, (g, w) in enumerate(zip(got, want, strict=True)):
            found = _first_difference(g, w, f"{name}[{index}]")
            if found:
                return found
    if isinstance(want, dict) and isinstance(got, dict) and list(got) == list(want):
        for key in want:
            found = _first_difference(got[key], want[key], f"{name}[{key!r}]")
            if found:
                return found
    return f"{name} is {_describe(got)} but the example has {_describe(want)}"


def _align(got: Any, want: Any) -> Any:
    """`got` with its dicts' keys in the example's order (pytree specs compare key order)."""
    if isinstance(got, dict) and isinstance(want, dict) and set(got) == set(want):
        return {key: _align(got[key], want[key]) for key in want}
    if isinstance(got, list | tuple) and isinstance(want, list | tuple) and len(got) == len(want):
        items = [_align(g, w) for g, w in zip(got, want, strict=True)]
        return type(got)(items) if type(got) in (list, tuple) else got
    return got
