"""Which cases a run takes: a suite's collection, narrowed by globs, per-group sampling, a limit.

Apart from `_cases` so that the suites (`_ops`, `_models`, `_tricky`) can build on `Case`
without the case type importing them back.
"""

from __future__ import annotations

from ._cases import SUITES, Case, Collection


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
