"""Arm TOSA: the Tensor Operator Set Architecture flatbuffer the Arm backends build on."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ._arm import (
    TOSA_SPEC_OPTION,
    arm_int8_scheme,
    arm_keep_float,
    arm_tosa_spec,
    io_qdq_reason,
)
from ._base import Availability, Backend, Scheme, probe_imports

SPECS = {"fp32": "TOSA-1.0+FP", "int8": "TOSA-1.0+INT"}


def _quantizer(options: Mapping[str, Any]) -> Any:
    from executorch.backends.arm.quantizer import TOSAQuantizer
    from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec

    return TOSAQuantizer(TosaCompileSpec(options.get("tosa_spec") or SPECS["int8"]))


class Tosa(Backend):
    name = "tosa"
    title = "Arm TOSA"
    hardware = "TOSA reference (the IR behind Ethos-U and VGF)"
    platforms = ("any (TOSA reference model)",)
    runs_on_host = False
    delegate_ids = ("TOSABackend",)
    hint = "pip install 'executorch[ethos-u]' (brings tosa-tools / tosa_serializer)"
    notes = (
        "The payload is a TOSA flatbuffer: it runs in the TOSA reference model, not the runtime."
    )
    options = {"tosa_spec": TOSA_SPEC_OPTION}

    def probe(self) -> Availability:
        return probe_imports("tosa_serializer", "executorch.backends.arm.tosa", hint=self.hint)

    def partitioners(self, scheme: str, options: Mapping[str, Any]) -> list[Any]:
        from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec
        from executorch.backends.arm.tosa.partitioner import TOSAPartitioner

        spec = options["tosa_spec"] or SPECS.get(scheme, SPECS["fp32"])
        return [TOSAPartitioner(TosaCompileSpec(spec))]

    def check_options(self, scheme: str, options: Mapping[str, Any]) -> None:
        arm_tosa_spec(self.name, scheme, options["tosa_spec"])

    def derived_reason(self, node: Any) -> str | None:
        return io_qdq_reason(node)

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        return arm_keep_float(quantizer, keep)

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", f"float32 ({SPECS['fp32']} profile)"),
            "int8": arm_int8_scheme(
                _quantizer, f"int8 static, per-channel weights (TOSAQuantizer, {SPECS['int8']})"
            ),
        }
