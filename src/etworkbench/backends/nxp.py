"""NXP eIQ Neutron: the Neutron NPU in i.MX RT / MCX microcontrollers and i.MX 95."""

from __future__ import annotations

import functools
from typing import Any

from ._base import Availability, Backend, Scheme
from ._documented import documented_only, refuse_documented_only
from ._probe import has_module


class Nxp(Backend):
    name = "nxp"
    title = "NXP eIQ Neutron"
    hardware = "NXP eIQ Neutron NPU (MCX N, i.MX RT700, i.MX 95)"
    platforms = ("Zephyr / MCUXpresso bare metal", "Linux (i.MX)")
    runs_on_host = False
    delegate_ids = ("NeutronBackend",)
    default_scheme = "int8"
    hint = (
        "install NXP's eiq-neutron-sdk (the Neutron converter) from NXP's eIQ package "
        "repository; it is not on PyPI"
    )

    def probe(self) -> Availability:
        if not has_module("eiq_neutron_sdk"):
            return Availability(
                False,
                "eiq_neutron_sdk not installed (NXP's Neutron converter, eiq-neutron-sdk; "
                "not on PyPI)",
                self.hint,
            )
        return Availability(True)

    def partitioners(self, scheme: str) -> list[Any]:
        refuse_documented_only(self, scheme)
        from executorch.backends.nxp.neutron_partitioner import NeutronPartitioner
        from executorch.backends.nxp.nxp_backend import generate_neutron_compile_spec

        return [NeutronPartitioner(generate_neutron_compile_spec("imxrt700"))]

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "int8": documented_only(
                "int8",
                "int8 static (NeutronQuantizer); the NPU is int8 only",
                "NeutronQuantizer needs eiq_neutron_sdk even to be built (its target spec asks "
                "the Neutron converter), so the workbench cannot build or test it without the SDK",
            )
        }
