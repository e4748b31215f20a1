"""Qualcomm AI Engine Direct (QNN): Hexagon NPU / Adreno GPU / Kryo CPU on Snapdragon."""

from __future__ import annotations

import functools
import os
from typing import Any

from ._base import Availability, Backend, Scheme
from ._probe import has_executorch_file


def _qnn_quantizer(dtype: str) -> Any:
    """QnnQuantizer for the HTP with `QuantDtype.<dtype>`, per-channel conv/linear weights."""
    if os.environ.get("QNN_SDK_ROOT") is None:
        # executorch's qnn_sdk_setup downloads the SDK when the variable is unset; never here.
        raise RuntimeError("QNN_SDK_ROOT is not set: the QNN quantizer needs the QNN SDK")
    from executorch.backends.qualcomm.quantizer.quantizer import QnnQuantizer, QuantDtype
    from executorch.backends.qualcomm.serialization.qc_schema import QcomChipset

    quantizer = QnnQuantizer(soc_model=QcomChipset.SM8650)  # the chip `partitioners` compiles for
    quantizer.set_default_quant_config(
        getattr(QuantDtype, dtype), is_conv_per_channel=True, is_linear_per_channel=True
    )
    return quantizer


class Qnn(Backend):
    name = "qnn"
    title = "Qualcomm QNN"
    hardware = "Qualcomm Snapdragon: Hexagon NPU (HTP), Adreno GPU, Kryo CPU"
    platforms = ("Android", "Linux (Snapdragon)", "Windows on Snapdragon")
    runs_on_host = False
    delegate_ids = ("QnnBackend",)
    default_scheme = "fp16"
    hint = (
        "install the Qualcomm AI Engine Direct (QNN) SDK, export QNN_SDK_ROOT=/path/to/qairt/<ver> "
        "and add $QNN_SDK_ROOT/lib/x86_64-linux-clang to LD_LIBRARY_PATH; the workbench never "
        "downloads the SDK"
    )
    notes = "Lowering runs the QNN SDK's host libraries (PyQnnManager) to compile context binaries."

    def probe(self) -> Availability:
        # Probe the environment only: starting the QNN backend without QNN_SDK_ROOT makes
        # executorch's qnn_sdk_setup download the SDK, which must never happen here.
        if not has_executorch_file("backends", "qualcomm", "partition", "qnn_partitioner.py"):
            return Availability(False, "executorch.backends.qualcomm is not installed", self.hint)
        root = os.environ.get("QNN_SDK_ROOT", "")
        if not root:
            return Availability(False, "QNN_SDK_ROOT is not set (the QNN SDK is needed)", self.hint)
        if not os.path.isdir(root):
            return Availability(False, f"QNN_SDK_ROOT={root} is not a directory", self.hint)
        return Availability(True)

    def partitioners(self, scheme: str) -> list[Any]:
        from executorch.backends.qualcomm.partition.qnn_partitioner import QnnPartitioner
        from executorch.backends.qualcomm.serialization.qc_schema import QcomChipset
        from executorch.backends.qualcomm.utils.utils import (
            generate_htp_compiler_spec,
            generate_qnn_executorch_compiler_spec,
        )

        backend_options = generate_htp_compiler_spec(use_fp16=scheme == "fp16")
        specs = generate_qnn_executorch_compiler_spec(
            soc_model=QcomChipset.SM8650, backend_options=backend_options
        )
        return [QnnPartitioner(specs)]

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp16": Scheme("fp16", "float16 on the HTP"),
            "int8": Scheme(
                "int8",
                "8-bit activations/weights (QnnQuantizer, QuantDtype.use_8a8w)",
                quantizer=lambda: _qnn_quantizer("use_8a8w"),
                calibrate=True,
            ),
            "16a8w": Scheme(
                "16a8w",
                "16-bit activations, 8-bit weights (QnnQuantizer, QuantDtype.use_16a8w)",
                quantizer=lambda: _qnn_quantizer("use_16a8w"),
                calibrate=True,
            ),
            "16a4w": Scheme(
                "16a4w",
                "16-bit activations, 4-bit weights (QnnQuantizer, QuantDtype.use_16a4w)",
                quantizer=lambda: _qnn_quantizer("use_16a4w"),
                calibrate=True,
            ),
        }
