"""Arm Ethos-U: microNPUs (U55/U65/U85) next to Cortex-M; int8 only, compiled with Vela."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Mapping
from typing import Any

from ._arm import arm_int8_scheme, arm_keep_float, io_qdq_reason
from ._base import Availability, Backend, Scheme, probe_imports
from ._options import BackendOption
from ._probe import find_executable

TARGET = "ethos-u55-128"
# Vela's accelerator configurations (ethos-u-vela's Accelerator) and its Arm/vela.ini sections.
TARGETS = ("ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256", "ethos-u65-256",
           "ethos-u65-512", "ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024",
           "ethos-u85-2048")  # fmt: skip
MEMORY_MODES = ("Sram_Only", "Shared_Sram", "Dedicated_Sram", "Dedicated_Sram_256KB",
                "Dedicated_Sram_384KB", "Dedicated_Sram_512KB")  # fmt: skip
SYSTEM_CONFIGS = ("Ethos_U55_Deep_Embedded", "Ethos_U55_High_End_Embedded", "Ethos_U65_Embedded",
                  "Ethos_U65_Mid_End", "Ethos_U65_High_End", "Ethos_U65_Client_Server",
                  "Ethos_U85_SYS_Flash_Low", "Ethos_U85_SYS_Flash_High", "Ethos_U85_SYS_DRAM_Low",
                  "Ethos_U85_SYS_DRAM_Mid", "Ethos_U85_SYS_DRAM_High")  # fmt: skip

OPTIONS = {
    "target": BackendOption(
        "target",
        TARGET,
        TARGETS,
        doc="the Ethos-U configuration Vela compiles for (--accelerator-config; MACs per cycle)",
    ),
    "memory_mode": BackendOption(
        "memory_mode",
        None,
        MEMORY_MODES,
        doc="Vela --memory-mode (Arm/vela.ini); auto: Shared_Sram on U55, "
        "Dedicated_Sram_384KB on U65, Sram_Only on U85",
    ),
    "system_config": BackendOption(
        "system_config",
        None,
        SYSTEM_CONFIGS,
        doc="Vela --system-config (Arm/vela.ini); auto: the target family's default",
    ),
}


def _compile_spec(options: Mapping[str, Any] | None = None) -> Any:
    from executorch.backends.arm.ethosu import EthosUCompileSpec

    options = options or {}
    kwargs = {k: options[k] for k in ("system_config", "memory_mode") if options.get(k)}
    return EthosUCompileSpec(options.get("target") or TARGET, **kwargs)


def _quantizer(options: Mapping[str, Any]) -> Any:
    from executorch.backends.arm.quantizer import EthosUQuantizer

    return EthosUQuantizer(_compile_spec(options))


class EthosU(Backend):
    name = "ethosu"
    title = "Arm Ethos-U"
    hardware = f"Arm Ethos-U55/U65/U85 microNPU (compiled for {TARGET} unless told otherwise)"
    platforms = ("bare metal / Zephyr on Cortex-M (Corstone)",)
    runs_on_host = False
    delegate_ids = ("EthosUBackend",)
    default_scheme = "int8"
    hint = "pip install 'executorch[ethos-u]' (brings ethos-u-vela and tosa-tools)"
    notes = "Runs on a device or the Corstone FVP, not on this host. Integer-only NPU."
    options = OPTIONS

    def probe(self) -> Availability:
        if find_executable("VELA_PATH", "vela") is None:
            return Availability(
                False, "the vela compiler (ethos-u-vela) is not installed", self.hint
            )
        return probe_imports("executorch.backends.arm.ethosu", hint=self.hint)

    def partitioners(self, scheme: str, options: Mapping[str, Any]) -> list[Any]:
        from executorch.backends.arm.ethosu import EthosUPartitioner

        return [EthosUPartitioner(_compile_spec(options))]

    def lowering_output(self) -> contextlib.AbstractContextManager:
        """Vela (run in-process by preprocess) prints its network summary to stdout: send it to
        stderr, so `etwb lower --json` stays one JSON document."""
        from .._compat.output import route_stdout

        return route_stdout(sys.stderr)

    def derived_reason(self, node: Any) -> str | None:
        return io_qdq_reason(node)

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        return arm_keep_float(quantizer, keep)

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "int8": arm_int8_scheme(
                _quantizer, f"int8 static, per-channel weights (EthosUQuantizer, {TARGET})"
            )
        }
