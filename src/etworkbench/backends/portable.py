"""Portable: no delegate; every op runs on executorch's portable CPU kernels."""

from __future__ import annotations

from typing import Any

from ._base import Availability, Backend, probe_imports


class Portable(Backend):
    name = "portable"
    title = "Portable (no delegate)"
    hardware = "any CPU (reference C++ kernels, no acceleration)"
    platforms = ("Android", "iOS", "macOS", "Linux", "Windows", "bare metal")
    runs_on_host = True
    delegate_ids = ()
    hint = "pip install executorch"
    notes = "The baseline: nothing is delegated, so every node is a portable-kernel fallback."

    def probe(self) -> Availability:
        from ._probe import has_executorch_file

        if has_executorch_file("exir", "__init__.py"):
            return Availability(True)
        return probe_imports("executorch.exir", hint=self.hint)

    def partitioners(self, scheme: str) -> list[Any]:
        return []

    def derived_reason(self, node: Any) -> str | None:
        return "portable: no delegate, runs on the portable CPU kernels"
