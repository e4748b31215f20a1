"""MediaTek NeuroPilot: the APU (NPU) in Dimensity SoCs."""

from __future__ import annotations

import functools
from typing import Any

from ._base import Availability, Backend, Scheme
from ._probe import has_module


def _neuropilot_quantizer(precision: str) -> Any:
    """NeuropilotQuantizer at `Precision.<precision>` (imports need the SDK's mtk_converter)."""
    from executorch.backends.mediatek.quantizer import NeuropilotQuantizer, Precision

    quantizer = NeuropilotQuantizer()
    quantizer.setup_precision(getattr(Precision, precision))
    return quantizer


class Mediatek(Backend):
    name = "mediatek"
    title = "MediaTek NeuroPilot"
    hardware = "MediaTek APU (NPU) in Dimensity SoCs"
    platforms = ("Android",)
    runs_on_host = False
    delegate_ids = ("NeuropilotBackend",)
    hint = (
        "install MediaTek's NeuroPilot Express SDK wheels (mtk_converter, mtk_neuron) from "
        "MediaTek's developer portal; they are not on PyPI"
    )

    def probe(self) -> Availability:
        missing = [m for m in ("mtk_converter", "mtk_neuron") if not has_module(m)]
        if missing:
            return Availability(
                False,
                f"{' and '.join(missing)} not installed (MediaTek NeuroPilot SDK; not on PyPI)",
                self.hint,
            )
        return Availability(True)

    def partitioners(self, scheme: str) -> list[Any]:
        from executorch.backends.mediatek.partitioner import NeuropilotPartitioner

        return [NeuropilotPartitioner([])]

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", "float32"),
            "int8": Scheme(
                "int8",
                "8-bit activations/weights (NeuropilotQuantizer, Precision.A8W8)",
                quantizer=lambda: _neuropilot_quantizer("A8W8"),
                calibrate=True,
            ),
            "16a8w": Scheme(
                "16a8w",
                "16-bit activations, 8-bit weights (NeuropilotQuantizer, Precision.A16W8)",
                quantizer=lambda: _neuropilot_quantizer("A16W8"),
                calibrate=True,
            ),
        }
