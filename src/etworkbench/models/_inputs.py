"""Example inputs as torch.export takes them: positional args and kwargs, nested pytrees.

torch.export accepts any pytree (tuples, lists, dicts, namedtuples, registered dataclasses) of
tensors and plain values; plain values are specialized into the program. The ExecuTorch
runtime then takes the program's inputs as one flat list, in pytree order of `(args, kwargs)`,
including the plain leaves (an int, a float, None); it refuses strings. So leaves are checked
here, once, with the path of a bad one, instead of failing deep inside export or a host run.
"""

from __future__ import annotations

import inspect
from typing import Any

from .._compat import torch as pytree
from ..errors import UsageError

ACCEPTED = "tensors, ints, floats, bools and None, nested in tuples, lists and dicts"
_MAX_ITEMS = 4  # items shown per container before "… +N more"
_MAX_DEPTH = 3  # nesting shown before a container is summarized
_MAX_CHARS = 240


def leaf_path(prefix: str, path: tuple) -> str:
    """`example_inputs[1]['h']` from a pytree key path."""
    return prefix + pytree.keystr(path)


def check_example(args: Any, kwargs: Any, what: str) -> tuple[tuple, dict]:
    """`(args, kwargs)` normalized (a tensor or list becomes a tuple), every leaf checked."""
    import torch

    if isinstance(args, torch.Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif args is None:
        args = ()
    if isinstance(args, dict):
        raise UsageError(
            f"{what} is a dict; give forward()'s positional arguments as a tuple and its keyword "
            "arguments as example_kwargs={...}"
        )
    if not isinstance(args, tuple):
        raise UsageError(f"{what} must be a non-empty tuple of tensors, got {type(args).__name__}")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise UsageError(
            f"{what}: example_kwargs must be a dict of forward() keyword argument names to "
            f"values, got {type(kwargs).__name__}"
        )
    if not args and not kwargs:
        raise UsageError(f"{what} must be a non-empty tuple of tensors, got an empty one")
    for prefix, tree in (("example_inputs", args), ("example_kwargs", kwargs)):
        for path, leaf in pytree.tree_flatten_with_path(tree)[0]:
            if not _accepted_leaf(leaf):
                raise UsageError(
                    f"{what}: {leaf_path(prefix, path)} is a {type(leaf).__name__}; export and "
                    f"the ExecuTorch runtime take {ACCEPTED} (a namedtuple or a dataclass "
                    "registered with torch.export.register_dataclass also works)"
                )
    return args, dict(kwargs)


def _accepted_leaf(leaf: Any) -> bool:
    import torch

    return leaf is None or isinstance(leaf, torch.Tensor | bool | int | float)


def flat_inputs(args: tuple, kwargs: dict) -> list:
    """The flat input list `Method.execute` wants: every leaf of `(args, kwargs)`, plain ones too."""
    return pytree.tree_leaves((tuple(args), dict(kwargs)))


# -- descriptions -------------------------------------------------------------------------------


def describe_value(value: Any, depth: int = 0) -> str:
    """`float32[1, 8, 16]`, `(float32[1, 1, 32], float32[1, 1, 32])`, `{a: ..., b: ...}`."""
    import torch

    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).replace('torch.', '')}{list(value.shape)}"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return f"dict of {len(value)}"
        parts = [f"{k}: {describe_value(v, depth + 1)}" for k, v in value.items()]
        return "{" + _join(parts) + "}"
    if isinstance(value, tuple | list):
        kind = type(value).__name__
        if depth >= _MAX_DEPTH:
            return f"{kind} of {len(value)}"
        if hasattr(value, "_fields"):  # namedtuple
            parts = [
                f"{k}={describe_value(v, depth + 1)}"
                for k, v in zip(value._fields, value, strict=True)
            ]
            return f"{kind}({_join(parts)})"
        parts = [describe_value(v, depth + 1) for v in value]
        if len(parts) > 2 and len(set(parts)) == 1:
            body = f"{len(parts)}× {parts[0]}"
        else:
            body = _join(parts) + ("," if len(parts) == 1 and isinstance(value, tuple) else "")
        return f"({body})" if isinstance(value, tuple) else f"[{body}]"
    leaves = pytree.tree_leaves(value)  # a registered dataclass or other pytree node
    return f"{type(value).__name__}({len(leaves)} leaves)"


def _join(parts: list[str]) -> str:
    if len(parts) > _MAX_ITEMS + 1:
        return ", ".join(parts[:_MAX_ITEMS]) + f", … +{len(parts) - _MAX_ITEMS} more"
    return ", ".join(parts)


def describe(module: Any, args: tuple, kwargs: dict) -> str:
    """`x: float32[1, 8, 16], state: (float32[1, 1, 32], float32[1, 1, 32]), scale=0.5`."""
    names = _positional_names(module)
    parts = []
    for index, value in enumerate(args):
        text = describe_value(value)
        parts.append(f"{names[index]}: {text}" if index < len(names) else text)
    parts += [f"{key}={describe_value(value)}" for key, value in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def _positional_names(module: Any) -> list[str]:
    """forward()'s positional parameter names, when its signature can be read."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError, AttributeError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = []
    for parameter in signature.parameters.values():
        if parameter.kind not in kinds:
            break  # *args: the rest have no names of their own
        names.append(parameter.name)
    return names
