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


def io_qdq_reason(node: Any) -> str | None:
    """The int8 program's float inputs/outputs are (de)quantized on the CPU, outside the delegate."""
    name = getattr(getattr(node, "target", None), "__name__", "")
    if "quantize_per_tensor" not in name:
        return None
    if name.startswith("quantized_decomposed.quantize") and any(
        getattr(arg, "op", None) == "placeholder" for arg in node.args
    ):
        return "quantizes the program's float input: runs on the CPU before the delegate"
    if name.startswith("quantized_decomposed.dequantize") and any(
        user.op == "output" for user in node.users
    ):
        return "dequantizes the program's output: runs on the CPU after the delegate"
    return None
