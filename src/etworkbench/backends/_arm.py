"""Shared pieces of the Arm backends (Ethos-U, TOSA, VGF): quantizer factory, the TOSA spec option."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ._base import Scheme
from ._options import BackendOption

# TOSA 1.0 specifications TosaSpecification accepts: a profile (INT, FP or both) and extensions.
TOSA_SPECS = ("TOSA-1.0+FP", "TOSA-1.0+INT", "TOSA-1.0+FP+INT", "TOSA-1.0+INT+int16",
              "TOSA-1.0+INT+int4", "TOSA-1.0+FP+bf16", "TOSA-1.0+FP+INT+int16+int4")  # fmt: skip
TOSA_SPEC_OPTION = BackendOption(
    "tosa_spec",
    None,
    TOSA_SPECS,
    doc="the TOSA specification the graph is legalized for (profile and extensions); auto: "
    "TOSA-1.0+INT for int8, TOSA-1.0+FP otherwise",
)


def arm_tosa_spec(backend: str, scheme: str, spec: str | None) -> None:
    """An explicit TOSA spec must have the profile the scheme's graph needs (INT for int8)."""
    if spec is None:
        return
    profile = "INT" if scheme == "int8" else "FP"
    if profile not in spec.split("+"):
        raise UsageError(
            f"{backend}.tosa_spec={spec} has no {profile} profile, which the {scheme} scheme "
            f"needs; choose one with +{profile} (valid: {', '.join(TOSA_SPECS)})"
        )


# torch 2.14's ExportedProgram.module() installs shape guards the Arm quantizers trip over.
ARM_CAPTURE = (("check_guards", False),)


def arm_int8_scheme(make_quantizer: Any, description: str) -> Scheme:
    """`make_quantizer(options)` builds the quantizer for the backend's resolved options, so
    it quantizes for the target and TOSA spec the partitioner is built for."""

    def quantizer(options: dict[str, Any]) -> Any:
        from executorch.backends.arm.quantizer import get_symmetric_quantization_config

        q = make_quantizer(options)
        q.set_global(get_symmetric_quantization_config(is_per_channel=True))
        return q

    return Scheme(
        "int8",
        description,
        quantizer=quantizer,
        calibrate=True,
        capture_kwargs=ARM_CAPTURE,
        quantizer_takes_options=True,
    )


def arm_keep_float(quantizer: Any, keep: Any) -> Any:
    """The Arm quantizers take `set_module_name(name, None)`: that module stays float."""
    for name in keep.modules:
        quantizer.set_module_name(name, None)
    return quantizer


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
