"""Arm VGF: TOSA lowered to a Vulkan ML-extensions graph for Arm GPUs (ML SDK model-converter)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ._arm import TOSA_SPEC_OPTION, arm_int8_scheme, arm_keep_float, arm_tosa_spec
from ._base import Availability, Backend, Scheme
from ._probe import find_executable, glibc_version, has_executorch_file, run_version


def _quantizer(options: Mapping[str, Any]) -> Any:
    from executorch.backends.arm.quantizer import VgfQuantizer
    from executorch.backends.arm.vgf import VgfCompileSpec

    return VgfQuantizer(VgfCompileSpec(options.get("tosa_spec") or "TOSA-1.0+INT"))


class Vgf(Backend):
    name = "vgf"
    title = "Arm VGF"
    hardware = "Arm GPUs with Vulkan ML extensions (Mali), via the ML SDK for Vulkan"
    platforms = ("Android", "Linux")
    runs_on_host = False
    delegate_ids = ("VgfBackend",)
    hint = (
        "pip install 'executorch[vgf]' (ships ai_ml_sdk_model_converter; its model-converter "
        "needs glibc >= 2.38), or set MODEL_CONVERTER_PATH to a model-converter executable"
    )
    notes = "VgfPartitioner partitions like TOSA; preprocess runs the ML SDK model-converter."
    options = {"tosa_spec": TOSA_SPEC_OPTION}

    def probe(self) -> Availability:
        if not has_executorch_file("backends", "arm", "vgf", "partitioner.py"):
            return Availability(False, "executorch.backends.arm.vgf is not installed", self.hint)
        converter = find_executable("MODEL_CONVERTER_PATH", "model-converter", "model_converter")
        if converter is None:
            return Availability(
                False,
                "model-converter not found (ai_ml_sdk_model_converter is not installed; "
                "not on PATH and MODEL_CONVERTER_PATH unset): VGF partitions but cannot "
                f"preprocess (host {glibc_version() or 'libc unknown'})",
                self.hint,
            )
        ok, output = run_version(converter)
        if not ok:
            return Availability(
                False,
                f"{converter} --version failed on {glibc_version()}: {output}",
                self.hint,
            )
        return Availability(True)

    def partitioners(self, scheme: str, options: Mapping[str, Any]) -> list[Any]:
        from executorch.backends.arm.vgf import VgfCompileSpec, VgfPartitioner

        auto = "TOSA-1.0+INT" if scheme == "int8" else "TOSA-1.0+FP"
        return [VgfPartitioner(VgfCompileSpec(options["tosa_spec"] or auto))]

    def check_options(self, scheme: str, options: Mapping[str, Any]) -> None:
        arm_tosa_spec(self.name, scheme, options["tosa_spec"])

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        return arm_keep_float(quantizer, keep)

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", "float32 (TOSA-1.0+FP profile)"),
            "int8": arm_int8_scheme(
                _quantizer, "int8 static, per-channel weights (VgfQuantizer, TOSA-1.0+INT profile)"
            ),
        }
