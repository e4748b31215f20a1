"""Calibration data for static quantization: from the example inputs, an iterable, or a file.

A static scheme observes activations on calibration batches before it fixes the int8 scales,
so what it is calibrated on decides the error users see. The file form (`--calibration
FILE.pt`) is whatever `torch.save` wrote, read with `weights_only=True` so nothing in it runs:

- a Tensor shaped like the single example input: one batch;
- a Tensor with one more leading dimension (N, *example shape): N batches;
- a Tensor whose first dimension is a multiple of the example's batch size (N*B, ...): N
  batches of B, the example's own batch size;
- a list of Tensors (single-input models) or a list of tuples/lists of Tensors, one per batch.

Every batch must match the example inputs in count, dtype and shape: the exported program was
traced with those shapes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..models._spec import _describe

FORMAT_HELP = (
    "save with torch.save either a tensor shaped like the model's input (one batch), a tensor "
    "with an extra leading dimension (N batches), a list of tensors, or a list of tuples of "
    "tensors (one tuple per batch for models with several inputs)"
)


@dataclass
class Calibration:
    """Validated calibration batches and where they came from (for reports and cache keys)."""

    batches: list[tuple]
    source: str  # "example inputs", "iterable" or the file path

    @property
    def digest(self) -> str:
        """A content hash of the batches, so a calibrated program can be cached."""
        h = hashlib.blake2b(digest_size=16)
        for batch in self.batches:
            for tensor in batch:
                h.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
                h.update(tensor.detach().contiguous().cpu().numpy().tobytes())
        return h.hexdigest()


def load_calibration(data: Any, example_inputs: tuple) -> Calibration:
    """Batches to calibrate on: `data` is None (the example inputs), a path, a tensor, an
    iterable of batches or an already loaded `Calibration`. Raises UsageError naming the problem and the expected format."""
    if data is None:
        return Calibration([tuple(example_inputs)], "example inputs")
    if isinstance(data, Calibration):  # already checked (e.g. by the parent of a worker)
        return data
    if isinstance(data, str | Path):
        path = Path(data)
        return Calibration(_batches(_read(path), example_inputs, f"{path}"), str(path))
    return Calibration(_batches(data, example_inputs, "calibration data"), "iterable")


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


def _batches(data: Any, example: tuple, where: str) -> list[tuple]:
    import torch

    if isinstance(data, torch.Tensor):
        batches = _split_tensor(data, example, where)
    elif isinstance(data, dict):
        raise UsageError(f"{where} holds a dict; {FORMAT_HELP}")
    elif isinstance(data, Iterable):
        batches = [
            tuple(item) if isinstance(item, list | tuple) else (item,) for item in list(data)
        ]
    else:
        raise UsageError(f"{where} holds a {type(data).__name__}; {FORMAT_HELP}")
    if not batches:
        raise UsageError(f"{where} has no batches; {FORMAT_HELP}")
    for index, batch in enumerate(batches):
        _check_batch(batch, example, f"{where}: batch {index}")
    return batches


def _split_tensor(tensor: Any, example: tuple, where: str) -> list[tuple]:
    if len(example) != 1:
        raise UsageError(
            f"{where} is one tensor but the model takes {len(example)} inputs; save a list of "
            f"{len(example)}-tuples of tensors, one per batch"
        )
    shape, want = tuple(tensor.shape), tuple(example[0].shape)
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


def _check_batch(batch: tuple, example: tuple, where: str) -> None:
    import torch

    if len(batch) != len(example):
        raise UsageError(
            f"{where} has {len(batch)} tensors but the model takes {len(example)} inputs"
        )
    for position, (got, want) in enumerate(zip(batch, example, strict=True)):
        if not isinstance(got, torch.Tensor):
            raise UsageError(f"{where}, input {position} is a {type(got).__name__}, not a tensor")
        if got.dtype != want.dtype or tuple(got.shape) != tuple(want.shape):
            raise UsageError(
                f"{where}, input {position} is {_describe(got)} but the model was exported with "
                f"{_describe(want)}; calibration batches must match the example inputs"
            )
