"""A cache key for a user module from what is lowered: its exported program.

Hashing the module's `repr`, its classes' code and its state dict missed everything else that
decides the program: a plain Python attribute `forward` reads (a scale, a flag), a helper
function or a closure it calls, tensor attributes that are not buffers. The exported program
holds all of it, traced: the graphs' code (every constant and call baked in), the signature,
the input and output specs (pytree structure, dtypes, shapes, dynamic dims), every parameter,
buffer and constant tensor, and the node metadata the reports show (module paths, source
lines). Two modules with the same key lower to the same program; any difference that can
change the program changes the key.
"""

from __future__ import annotations

import hashlib
from typing import Any


class Unkeyable(Exception):
    """The program holds a value that cannot be hashed faithfully; lower it without the cache."""


def program_fingerprint(exported: Any, args: tuple = (), kwargs: dict | None = None) -> str:
    """A digest of `exported` and of the example inputs it was exported with.

    The inputs' values matter too: static quantization calibrates on them by default.
    """

    from .._compat.torch import tree_flatten

    digest = hashlib.blake2b(digest_size=20)

    def text(value: Any) -> None:
        digest.update(str(value).encode())
        digest.update(b"\0")

    for name, module in exported.graph_module.named_modules():
        graph = getattr(module, "graph", None)
        if graph is None:
            continue
        text(name)
        text(module.code)
        for node in graph.nodes:
            text(node.name)
            text(_value_spec(node.meta.get("val")))
            stack = node.meta.get("nn_module_stack") or {}
            text([(key, stack[key]) for key in stack])
            text(node.meta.get("stack_trace") or "")
    text(exported.graph_signature)
    text(exported.call_spec.in_spec)
    text(exported.call_spec.out_spec)
    text(sorted((str(k), str(v)) for k, v in exported.range_constraints.items()))
    for kind, values in (("state", exported.state_dict), ("constant", exported.constants)):
        for name in sorted(values):
            text(f"{kind}:{name}")
            _update_value(digest, values[name])
    leaves, spec = tree_flatten((tuple(args), dict(kwargs or {})))
    text(spec)
    for leaf in leaves:
        _update_value(digest, leaf)
    return digest.hexdigest()


def _value_spec(value: Any) -> str:
    """dtype, shape and strides of a node's value (FakeTensor reprs omit the dtype)."""
    import torch

    if isinstance(value, torch.Tensor):
        return f"{value.dtype}{tuple(value.shape)}{tuple(value.stride()) if value.layout == torch.strided else value.layout}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value_spec(v) for v in value) + "]"
    return repr(value)


def _update_value(digest: Any, value: Any) -> None:
    """Any tensor (any dtype and rank, quantized, sparse, non-contiguous) or plain value."""
    import torch

    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        header = f"tensor:{tensor.dtype}:{tuple(tensor.shape)}:{tensor.layout}"
        if tensor.is_quantized:
            if tensor.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                header += f":{tensor.q_scale()}:{tensor.q_zero_point()}"
            else:
                header += ":per-channel"
                _update_value(digest, tensor.q_per_channel_scales())
                _update_value(digest, tensor.q_per_channel_zero_points())
            tensor = tensor.int_repr()
        if tensor.layout != torch.strided:
            tensor = tensor.to_dense()
        digest.update(header.encode())
        if type(tensor) is not torch.Tensor and not isinstance(tensor, torch.nn.Parameter):
            raise Unkeyable(f"a tensor subclass ({type(value).__name__}) in the program")
        flat = tensor.cpu().contiguous().reshape(-1)
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy().tobytes())
        return
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.device)):
        digest.update(f"{type(value).__name__}:{value!r}".encode())
        return
    raise Unkeyable(f"a {type(value).__name__} value in the program or its inputs")
