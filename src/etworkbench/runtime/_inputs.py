"""Seeded random inputs shaped like the example inputs, for checking more than one input."""

from __future__ import annotations

from typing import Any


def random_like(inputs: Any, count: int, seed: int) -> list[Any]:
    """`count` copies of `inputs` (any pytree: an args tuple, `(args, kwargs)`, nested) with
    each tensor leaf redrawn at its shape and dtype from a seeded generator.

    Floats are standard normal; integers are drawn within the example's own [min, max] (so
    token ids stay in range); booleans are fair coins; plain values (fixed into the program at
    export) are kept as given.
    """
    import torch

    from .._compat.torch import tree_map

    generator = torch.Generator().manual_seed(seed)

    def redraw(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        if value.dtype.is_floating_point:
            return torch.randn(value.shape, generator=generator).to(value.dtype)
        if value.dtype == torch.bool:
            return torch.randint(0, 2, value.shape, generator=generator).bool()
        low = int(value.min()) if value.numel() else 0
        high = int(value.max()) + 1 if value.numel() else 1
        return torch.randint(low, high, value.shape, generator=generator, dtype=value.dtype)

    return [tree_map(redraw, inputs) for _ in range(count)]
