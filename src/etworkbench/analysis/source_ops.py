"""The op of the user's exported program a lowered node came from (`NodePlacement.source_op`).

Backends decompose differently (Core ML keeps `aten.conv2d.default`, XNNPACK turns it into
`aten.convolution.default`), so a node's own target does not say which model op it stands for.
Its provenance does: every pass that re-creates a node records the node it came from in
`node.meta["from_node"]` (a list of `torch.fx.traceback.NodeSource`, each with its own
`from_node`). The root of that chain is the node of the program `torch.export` produced, which
itself carries no `from_node` (torch 2.14, executorch 1.5.1; inside delegates too, since the
lowered module's nodes keep their meta). Public metadata only: `from_node` and NodeSource's
`target` and `from_node` attributes. `node.meta["original_aten"]` is no substitute: a
re-trace after the decomposition overwrites it with the decomposed op.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# str() of a NodeSource's target when the node's target was not an operator overload
_CALLABLE = re.compile(r"<(?:built-in function|function|EdgeOpOverload:) ([\w.]+)")
_OPERATOR = re.compile(r"\w+\.\w+\.\w+")  # namespace.op.overload, e.g. aten.add.Tensor


def _name(target: Any) -> str:
    text = str(target or "")
    match = _CALLABLE.match(text)
    return match.group(1) if match else text


def source_op_of(node: Any, op_name: Callable[[Any], str]) -> str:
    """The oldest operator in the node's `from_node` chain (first source at each level), e.g.
    "aten.conv2d.default"; the node's own target (`op_name`) when the chain names none.

    Only operators count: after PT2E quantization the chain of a quantize / dequantize node ends
    at the observer module the prepared model called ("activation_post_process_0"), and the op
    the user's program holds is the one that replaced it."""
    found = ""
    sources = node.meta.get("from_node")
    while sources:
        source = sources[0]
        name = _name(getattr(source, "target", ""))
        if _OPERATOR.fullmatch(name):
            found = name
        sources = getattr(source, "from_node", None)
    return found or op_name(node.target)
