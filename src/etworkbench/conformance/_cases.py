"""Conformance cases: a name, a suite and a way to build a fresh (module, args, kwargs).

A case is rebuilt (fixed seed) every time a side needs it, so nothing one lowering does to a
module or its inputs can leak into the other side's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUITES = ("ops", "models", "tricky")
SEED = 0


@dataclass
class Case:
    suite: str
    name: str
    builder: Callable[[], tuple[Any, tuple, dict]] = field(repr=False)
    note: str = ""  # e.g. "torchvision detection"

    def build(self) -> tuple[Any, tuple, dict]:
        """A new module (eval mode) with its example args and kwargs, same values every call."""
        import torch

        torch.manual_seed(SEED)
        module, args, kwargs = self.builder()
        return module.eval(), tuple(args), dict(kwargs or {})

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"

    def filename(self, target: str) -> str:
        """`suite__case__target.json`; `xnnpack:int8` and `coreml+xnnpack` become file-safe."""

        def safe(text: str) -> str:
            return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)

        return f"{self.suite}__{safe(self.name)}__{safe(target.replace('+', '-'))}.json"


@dataclass
class Collection:
    """The cases of one suite, and the categories that could not be collected (and why)."""

    suite: str
    cases: list[Case]
    not_collected: dict[str, str] = field(default_factory=dict)  # category -> reason
