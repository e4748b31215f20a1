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


def _forward(name: str) -> Any:
    """`torch.utils._pytree.<name>`, looked up on the first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_pytree(), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


tree_leaves = _forward("tree_leaves")
tree_flatten = _forward("tree_flatten")
tree_flatten_with_path = _forward("tree_flatten_with_path")
tree_structure = _forward("tree_structure")
tree_map = _forward("tree_map")
keystr = _forward("keystr")


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
