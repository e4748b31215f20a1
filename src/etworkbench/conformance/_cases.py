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

    def filename(self, backend: str) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)
        return f"{self.suite}__{safe}__{backend}.json"


@dataclass
class Collection:
    """The cases of one suite, and the categories that could not be collected (and why)."""

    suite: str
    cases: list[Case]
    not_collected: dict[str, str] = field(default_factory=dict)  # category -> reason


def collect(suite: str) -> Collection:
    if suite == "tricky":
        from ._tricky import TRICKY, build_tricky

        cases = [Case("tricky", n, lambda n=n: build_tricky(n)) for n in TRICKY]
        return Collection("tricky", cases)
    if suite == "ops":
        from ._ops import collect_ops

        return collect_ops()
    if suite == "models":
        from ._models import collect_models

        return collect_models()
    raise ValueError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")


def select(
    cases: list[Case],
    patterns: list[str] | None,
    limit: int | None,
    per_group: int | None = None,
) -> list[Case]:
    """Cases whose key matches any glob in `patterns` (all when none), at most `per_group` of
    each group (the name before its first "/": an operator file, a model family), then the
    first `limit`. `per_group=1` samples every operator of the ops suite once."""
    import fnmatch

    if patterns:
        cases = [
            c
            for c in cases
            if any(
                fnmatch.fnmatchcase(c.key, p) or fnmatch.fnmatchcase(c.name, p) for p in patterns
            )
        ]
    if per_group:
        taken: dict[str, int] = {}
        sampled = []
        for case in cases:
            group = case.name.split("/", 1)[0]
            if taken.get(group, 0) < per_group:
                taken[group] = taken.get(group, 0) + 1
                sampled.append(case)
        cases = sampled
    return cases[:limit] if limit else cases
