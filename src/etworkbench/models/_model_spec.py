"""The model a lowering works on, and the seed its random weights and inputs come from.

Apart from `_spec` (which resolves names, files and references into one) so that the
reference loaders (`_refs`) can build a `ModelSpec` without importing their own caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._dynamic import describe_dynamic
from ._inputs import describe

if TYPE_CHECKING:  # torch is imported when a model is built, not when the package is
    from torch import nn

SEED = 0


@dataclass
class ModelSpec:
    """A model ready to export: eval-mode module, example args and kwargs (pytrees, see _inputs)."""

    name: str
    module: nn.Module
    example_inputs: tuple
    source: str = "python"  # "zoo", "file:<path>", "module:<name>", "python"
    classifier: bool = False
    example_kwargs: dict = field(default_factory=dict)
    # Input dims the program accepts at any size in a range (`_dynamic`): plain, picklable.
    dynamic_shapes: tuple = ()

    @property
    def parameter_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.module.parameters())

    def describe_inputs(self) -> str:
        """`x: float32[1, 8, 16], state: (float32[1, 1, 32], float32[1, 1, 32]), scale=0.5`."""
        text = describe(self.module, tuple(self.example_inputs), dict(self.example_kwargs))
        dims = getattr(self, "dynamic_shapes", ())
        return f"{text}; dynamic {describe_dynamic(dims)}" if dims else text
