"""Samsung Exynos (ENN): the NPU/DSP in Exynos SoCs via the Exynos AI LiteCore SDK."""

from __future__ import annotations

import functools
import os
from typing import Any

from ._base import Availability, Backend, Scheme
from ._documented import documented_only, refuse_documented_only
from ._probe import executorch_dir


def _enn_quantizer() -> Any:
    """EnnQuantizer at Precision.A8W8, per-channel weights (the only precision it has)."""
    from executorch.backends.samsung.quantizer import EnnQuantizer, Precision

    quantizer = EnnQuantizer()
    quantizer.setup_quant_params(Precision.A8W8, is_per_channel=True)
    return quantizer


class Samsung(Backend):
    name = "samsung"
    title = "Samsung Exynos"
    hardware = "Samsung Exynos NPU / DSP (ENN)"
    platforms = ("Android",)
    runs_on_host = False
    delegate_ids = ("EnnBackend",)
    hint = (
        "download the Exynos AI LiteCore SDK, export EXYNOS_AI_LITECORE_ROOT and build executorch "
        "with -DEXECUTORCH_BUILD_EXYNOS=ON (backends/samsung/build.sh) to get PyEnnWrapperAdaptor"
    )

    def probe(self) -> Availability:
        root = executorch_dir()
        wrapper_dir = root / "backends" / "samsung" / "python" if root else None
        if wrapper_dir is None or not any(wrapper_dir.glob("PyEnnWrapperAdaptor*")):
            sdk = os.environ.get("EXYNOS_AI_LITECORE_ROOT")
            where = f"EXYNOS_AI_LITECORE_ROOT={sdk}" if sdk else "EXYNOS_AI_LITECORE_ROOT unset"
            return Availability(
                False,
                "executorch.backends.samsung.python.PyEnnWrapperAdaptor is not built (the "
                f"PyPI wheel has no Exynos build; {where})",
                self.hint,
            )
        return Availability(True)

    def partitioners(self, scheme: str) -> list[Any]:
        refuse_documented_only(self, scheme)
        from executorch.backends.samsung.partition.enn_partitioner import EnnPartitioner
        from executorch.backends.samsung.serialization.compile_options import (
            gen_samsung_backend_compile_spec,
        )

        return [EnnPartitioner([gen_samsung_backend_compile_spec("E9955")])]

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", "float32"),
            "int8": Scheme(
                "int8",
                "8-bit activations/weights (EnnQuantizer, Precision.A8W8)",
                quantizer=_enn_quantizer,
                calibrate=True,
            ),
            "16a8w": documented_only(
                "16a8w",
                "16-bit activations, 8-bit weights (Exynos NPU)",
                "executorch 1.5.1's EnnQuantizer has only Precision.A8W8",
            ),
        }
