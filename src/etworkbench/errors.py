"""Errors a user can cause, each naming the bad thing and what to do about it.

The CLI turns `UsageError` into exit code 2 and prints only its message; everything else
that goes wrong inside a backend is recorded on that backend's result instead of raised.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: a problem the workbench can explain in one paragraph."""


class UsageError(WorkbenchError, ValueError):
    """Bad input from the user: unknown model, backend or scheme, bad path, bad inputs."""


class PteFormatError(WorkbenchError):
    """A .pte file that cannot be read (empty, truncated, not a flatbuffer, bad offsets)."""


def choices_hint(kind: str, value: object, choices: list[str]) -> str:
    """`unknown backend 'foo'; choose one of: a, b, c` (the shared wording for lookups)."""
    return f"unknown {kind} {value!r}; choose one of: {', '.join(choices)}"
