"""torch internals, written for torch 2.14 (2.14.1 installed when written).

- `torch.utils._pytree`: torch has no public pytree module in 2.14; `torch.export` flattens
  inputs with exactly this one, so the workbench must too (same leaf order, same key paths).
- `Tensor._version`: the in-place write counter, to prove a tensor was never written.
- `torch.nn.modules.batchnorm._BatchNorm`: the base of every BatchNorm layer (1d/2d/3d, Sync,
  Lazy and user subclasses).
- `OpOverload._schema` / `._overloadname` and `EdgeOpOverload._op`: the qualified operator
  name (`aten.mean.dim`) of aten and edge-dialect overloads.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _pytree() -> Any:
    """`torch.utils._pytree` (torch 2.14), imported on first use: importing etworkbench (and
    drawing the app) must not wait ~2 s for torch."""
    from torch.utils import _pytree

    return _pytree


def tree_leaves(*args: Any, **kwargs: Any) -> Any:
    return _pytree().tree_leaves(*args, **kwargs)


def tree_flatten(*args: Any, **kwargs: Any) -> Any:
    return _pytree().tree_flatten(*args, **kwargs)


def tree_flatten_with_path(*args: Any, **kwargs: Any) -> Any:
    return _pytree().tree_flatten_with_path(*args, **kwargs)


def tree_structure(*args: Any, **kwargs: Any) -> Any:
    return _pytree().tree_structure(*args, **kwargs)


def tree_map(*args: Any, **kwargs: Any) -> Any:
    return _pytree().tree_map(*args, **kwargs)


def keystr(*args: Any, **kwargs: Any) -> Any:
    return _pytree().keystr(*args, **kwargs)


def tensor_version(tensor: Any) -> int:
    """The tensor's version counter: it changes with every in-place write (torch 2.14)."""
    return tensor._version


def op_overload_name(target: Any) -> str | None:
    """`aten.mean.dim` for an aten `OpOverload` or an edge-dialect overload wrapping one
    (`._op`); None for anything without a schema (torch 2.14, executorch 1.5.1)."""
    overload = target if hasattr(target, "_schema") else getattr(target, "_op", target)
    schema = getattr(overload, "_schema", None)
    if schema is None:
        return None
    overload_name = getattr(overload, "_overloadname", "") or "default"
    return f"{schema.name.replace('::', '.')}.{overload_name}"


def is_batch_norm(module: Any) -> bool:
    """True for any BatchNorm layer: an instance of torch 2.14's `_BatchNorm` base class."""
    from torch.nn.modules.batchnorm import _BatchNorm

    return isinstance(module, _BatchNorm)
