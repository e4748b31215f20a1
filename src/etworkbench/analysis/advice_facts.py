"""The facts advice may state about a node, and the rule type every backend's table uses.

`NodeFacts` is read off an FX node's `meta["val"]` and its arguments' (no torch import);
`Rule` pairs a reason pattern with a function of (facts, match) -> text or None
(`analysis.advice` explains the whole). `other_backends` names the backends that took every
node of the op in the recorded operator suite (`advice_suite`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .advice_suite import SUITE, TAKEN_EVERYWHERE

TITLES = {"xnnpack": "XNNPACK", "coreml": "Core ML", "vulkan": "Vulkan", "openvino": "OpenVINO"}


@dataclass(frozen=True)
class TensorFacts:
    """One tensor a node reads or writes, as its `meta["val"]` shows it."""

    where: str  # "input 0", "input 1[2]", "output", "output 1"
    dtype: str  # "int64"
    shape: tuple[Any, ...]  # ints, or symbols ("s0") for dynamic dims
    producer: str = ""  # the node that produced it (inputs only)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int | None:
        total = 1
        for dim in self.shape:
            if not isinstance(dim, int):
                return None
            total *= dim
        return total

    def text(self) -> str:
        return f"{self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class NodeFacts:
    """What advice may say about one node: op, tensors, plain arguments, where it came from."""

    name: str
    target: str  # aten.unsqueeze_copy.default
    inputs: list[TensorFacts] = field(default_factory=list)  # tensor args, XNNPACK's order
    outputs: list[TensorFacts] = field(default_factory=list)
    args: tuple[Any, ...] = ()  # node.args with every tensor replaced by its TensorFacts
    kwargs: dict[str, Any] = field(default_factory=dict)
    module_path: str = ""
    source_op: str = ""

    @property
    def op(self) -> str:
        """'unsqueeze_copy' for aten.unsqueeze_copy.default (the op's short name)."""
        parts = self.target.split(".")
        return parts[1] if len(parts) > 2 else parts[0]

    @property
    def op_key(self) -> str:
        """get_delegation_info's op key: aten.amax.default -> aten_amax_default."""
        return self.target.replace(".", "_").lower()

    def arg(self, index: int, default: Any = None) -> Any:
        return self.args[index] if index < len(self.args) else default

    def where(self) -> str:
        """' (in features.3.conv)' when the node came from a submodule, else ''."""
        return f" (in {self.module_path})" if self.module_path else ""


def _tensor(where: str, value: Any, producer: str = "") -> TensorFacts | None:
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None or dtype is None:
        return None
    dims = tuple(d if isinstance(d, int) else str(d) for d in shape)  # a SymInt: "s0"
    return TensorFacts(where, str(dtype).replace("torch.", ""), dims, producer)


def facts_of(node: Any, module_path: str = "", source_op: str = "") -> NodeFacts:
    """The facts of an FX node, from its `meta["val"]` and its arguments' (no torch import)."""
    from ..backends._base import op_name

    inputs: list[TensorFacts] = []

    def convert(arg: Any, label: str, record: bool = True) -> Any:
        if hasattr(arg, "meta") and hasattr(arg, "op"):  # an fx.Node
            value = arg.meta.get("val")
            tensor = _tensor(label, value, arg.name)
            if tensor is not None:
                if record:  # XNNPACK's dtype check reads node.args only
                    inputs.append(tensor)
                return tensor
            return value if isinstance(value, (int, float, bool)) else arg.name
        if isinstance(arg, (list, tuple)):
            items = [convert(item, f"{label}[{i}]", record) for i, item in enumerate(arg)]
            return type(arg)(items)
        return arg

    args = tuple(convert(arg, f"input {i}") for i, arg in enumerate(node.args))
    kwargs = {key: convert(value, key, False) for key, value in node.kwargs.items()}
    value = node.meta.get("val")
    values = value if isinstance(value, (list, tuple)) else [value]
    outputs = [
        t
        for i, v in enumerate(values)
        if (t := _tensor("output" if len(values) == 1 else f"output {i}", v)) is not None
    ]
    return NodeFacts(
        node.name, op_name(node.target), inputs, outputs, args, kwargs, module_path, source_op
    )


Advise = Callable[[NodeFacts, "re.Match[str]"], "str | None"]


@dataclass(frozen=True)
class Rule:
    """A reason pattern and what to say when a node's reason matches it."""

    pattern: re.Pattern[str]
    advise: Advise


def rule(pattern: str) -> Callable[[Advise], Rule]:
    """Decorator: `@rule(r"^invalid dtype$")` over `def f(facts, match) -> str | None`."""
    return lambda advise: Rule(re.compile(pattern), advise)


def other_backends(facts: NodeFacts, refused_by: str) -> str:
    """' In <suite>, Core ML and OpenVINO delegated every aten_amax_default node: ...' or ''."""
    for key in (facts.op_key, facts.source_op.replace(".", "_").lower()):
        takers = [b for b in TAKEN_EVERYWHERE.get(key, ()) if b != refused_by]
        if takers:
            titles = [TITLES.get(b, b) for b in takers]
            names = " and ".join(
                [", ".join(titles[:-1]), titles[-1]] if len(titles) > 1 else titles
            )
            return (
                f" In {SUITE}, {names} delegated every {key} node: put one after "
                f"{TITLES.get(refused_by, refused_by)} in the priority list to take it there."
            )
    return ""
