"""Apple MPS (Metal Performance Shaders): removed from executorch; use Core ML or Metal."""

from __future__ import annotations

import functools
from typing import Any

from ._base import Availability, Backend, Scheme
from ._probe import has_executorch_file


class Mps(Backend):
    name = "mps"
    title = "Apple MPS"
    hardware = "Apple GPU (Metal Performance Shaders)"
    platforms = ("macOS", "iOS")
    runs_on_host = False
    lowers_here = False
    delegate_ids = ("MPSBackend",)
    hint = (
        "use the coreml backend (Core ML: ANE/GPU/CPU) or Metal (executorch.backends.apple.metal)"
    )
    notes = "Deprecated, then deleted from executorch between 1.2 and 1.5."

    def probe(self) -> Availability:
        if has_executorch_file("backends", "apple", "mps"):
            return Availability(
                False, "executorch.backends.apple.mps is present but unsupported here", self.hint
            )
        return Availability(
            False,
            "removed from executorch (deprecated, then deleted in 1.2-1.5): "
            "executorch.backends.apple.mps does not exist in this install",
            self.hint,
        )

    def partitioners(self, scheme: str) -> list[Any]:
        raise NotImplementedError("the MPS backend was removed from executorch")

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", "float32 (historical)"),
            "fp16": Scheme("fp16", "float16 (historical)"),
        }
