"""Arm Ethos-U: microNPUs (U55/U65/U85) next to Cortex-M; int8 only, compiled with Vela."""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any

from ._arm import arm_int8_scheme, io_qdq_reason
from ._base import Availability, Backend, Scheme, probe_imports
from ._probe import find_executable

TARGET = "ethos-u55-128"


def _compile_spec() -> Any:
    from executorch.backends.arm.ethosu import EthosUCompileSpec

    return EthosUCompileSpec(TARGET)


def _quantizer() -> Any:
    from executorch.backends.arm.quantizer import EthosUQuantizer

    return EthosUQuantizer(_compile_spec())


class EthosU(Backend):
    name = "ethosu"
    title = "Arm Ethos-U"
    hardware = f"Arm Ethos-U55/U65/U85 microNPU (compiled for {TARGET})"
    platforms = ("bare metal / Zephyr on Cortex-M (Corstone)",)
    runs_on_host = False
    delegate_ids = ("EthosUBackend",)
    default_scheme = "int8"
    hint = "pip install 'executorch[ethos-u]' (brings ethos-u-vela and tosa-tools)"
    notes = "Runs on a device or the Corstone FVP, not on this host. Integer-only NPU."

    def probe(self) -> Availability:
        if find_executable("VELA_PATH", "vela") is None:
            return Availability(
                False, "the vela compiler (ethos-u-vela) is not installed", self.hint
            )
        return probe_imports("executorch.backends.arm.ethosu", hint=self.hint)

    def partitioners(self, scheme: str) -> list[Any]:
        from executorch.backends.arm.ethosu import EthosUPartitioner

        return [EthosUPartitioner(_compile_spec())]

    def lowering_output(self) -> contextlib.AbstractContextManager:
        """Vela (run in-process by preprocess) prints its network summary to stdout: send it to
        stderr, so `etwb lower --json` stays one JSON document."""
        from .._compat.output import route_stdout

        return route_stdout(sys.stderr)

    def derived_reason(self, node: Any) -> str | None:
        return io_qdq_reason(node)

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "int8": arm_int8_scheme(
                _quantizer, f"int8 static, per-channel weights (EthosUQuantizer, {TARGET})"
            )
        }
