"""Cadence Xtensa: compiler passes and custom ops for HiFi / Fusion / Vision DSPs, not a delegate."""

from __future__ import annotations

import functools
import sys
from typing import Any

from ._base import Availability, Backend, Scheme
from ._documented import documented_only, refuse_documented_only


class Cadence(Backend):
    name = "cadence"
    title = "Cadence Xtensa"
    hardware = "Cadence Tensilica HiFi 4 / Fusion G3 / Vision DSPs"
    platforms = ("bare metal (Xtensa toolchain)",)
    runs_on_host = False
    lowers_here = False
    delegate_ids = ()
    default_scheme = "int8"
    hint = (
        "use executorch.backends.cadence.aot.compiler (export_to_executorch_gen_reference) with "
        "Python >= 3.12 and build the runtime with the Xtensa toolchain; it is not a partitioner"
    )
    notes = (
        "Not a delegate: Cadence replaces ops with its own quantized kernels (cadence::*) in the "
        "portable program; there is no partitioner or backend_id to place nodes on."
    )

    def probe(self) -> Availability:
        reason = (
            "not a delegate: Cadence is a set of AOT compiler passes and custom DSP kernels with "
            "no partitioner, so there is nothing to place nodes on"
        )
        if sys.version_info < (3, 12):
            reason += (
                f"; its passes also need typing.override (Python >= 3.12, here "
                f"{sys.version_info.major}.{sys.version_info.minor})"
            )
        return Availability(False, reason, self.hint)

    def partitioners(self, scheme: str) -> list[Any]:
        refuse_documented_only(self, scheme)
        raise NotImplementedError("Cadence has no partitioner; " + self.notes)

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        scheme = documented_only(
            "int8",
            "int8 static (CadenceDefaultQuantizer, cadence:: kernels)",
            "Cadence quantizes in its own AOT flow (executorch.backends.cadence.aot.compiler), "
            "not as a delegate's PT2E step: CadenceDefaultQuantizer annotates nothing in a "
            "prepare/convert of the exported program, and there is no partitioner to lower with",
        )
        return {"int8": scheme}
