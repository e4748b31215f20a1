"""Shared pieces of the Arm backends (Ethos-U, TOSA): quantizer factory and the probe."""

from __future__ import annotations

from typing import Any

from ._base import Scheme

# torch 2.14's ExportedProgram.module() installs shape guards the Arm quantizers trip over.
ARM_CAPTURE = (("check_guards", False),)


def arm_int8_scheme(make_quantizer: Any, description: str) -> Scheme:
    def quantizer() -> Any:
        from executorch.backends.arm.quantizer import get_symmetric_quantization_config

        q = make_quantizer()
        q.set_global(get_symmetric_quantization_config(is_per_channel=True))
        return q

    return Scheme(
        "int8", description, quantizer=quantizer, calibrate=True, capture_kwargs=ARM_CAPTURE
    )
