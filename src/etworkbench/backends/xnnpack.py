"""XNNPACK: optimized CPU kernels for Arm and x86; lowers and runs on this host."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ._base import Availability, Backend, Scheme, probe_imports
from ._options import BackendOption

OPTIONS = {
    "per_op_mode": BackendOption(
        "per_op_mode",
        False,
        type=bool,
        doc="one delegate per matched op (pattern) instead of merged subgraphs: more, smaller "
        "delegates, for profiling or debugging",
    ),
    "config_precisions": BackendOption(
        "config_precisions",
        None,
        ("FP32", "STATIC_QUANT", "DYNAMIC_QUANT"),
        doc="which ConfigPrecisionType the partitioner takes (FP32 covers float32 and float16 "
        "graphs); auto: every precision",
    ),
    "force_non_static_weights_for_f32_linear": BackendOption(
        "force_non_static_weights_for_f32_linear",
        False,
        type=bool,
        doc="fp32 linears take their weights as runtime inputs (not packed constants)",
    ),
    "enable_bf16": BackendOption(
        "enable_bf16",
        False,
        type=bool,
        doc="delegate bf16 fully-connected ops (needs a recent XNNPACK at runtime)",
    ),
}


def _xnnpack_quantizer(per_channel: bool, dynamic: bool):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    quantizer = XNNPACKQuantizer()
    quantizer.set_global(
        get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=dynamic)
    )
    return quantizer


def _8da4w(module: Any, inputs: tuple) -> Any:
    """torchao int8 dynamic activations, int4 weights in groups of 32 on nn.Linear (XNNPACK's
    TORCHAO_INT8_DYNAMIC_ACT_INT4_WEIGHT recipe). XNNPACK needs the group size to be a multiple
    of 32, so linears whose input width is not stay float (and fall to XNNPACK's fp32 path)."""
    import torch
    from torchao.quantization.granularity import PerGroup
    from torchao.quantization.quant_api import Int8DynamicActivationIntxWeightConfig, quantize_

    config = Int8DynamicActivationIntxWeightConfig(
        weight_dtype=torch.int4, weight_granularity=PerGroup(group_size=32)
    )

    def groupable(mod: Any, _fqn: str) -> bool:
        # exact nn.Linear: MultiheadAttention's out_proj subclass is used via F.* with .t(),
        # which torchao's quantized weight tensor does not implement
        return type(mod) is torch.nn.Linear and mod.in_features % 32 == 0

    quantize_(module, config, filter_fn=groupable)
    return module


class Xnnpack(Backend):
    name = "xnnpack"
    title = "XNNPACK"
    hardware = "CPU (Arm64, Armv7/NEON, x86/x86-64 up to AVX512)"
    platforms = ("Android", "iOS", "macOS", "Linux", "Windows")
    runs_on_host = True
    delegate_ids = ("XnnpackBackend",)
    hint = "pip install executorch (XNNPACK ships in the executorch wheel)"
    loggers = ("executorch.backends.xnnpack",)
    options = OPTIONS

    def probe(self) -> Availability:
        return probe_imports(
            "executorch.backends.xnnpack.partition.xnnpack_partitioner", hint=self.hint
        )

    def partitioners(self, scheme: str, options: Mapping[str, Any]) -> list[Any]:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        # only what differs from XnnpackPartitioner's defaults: its default call is unchanged
        kwargs = {k: v for k, v in options.items() if v != OPTIONS[k].default}
        if kwargs.get("config_precisions") is not None:
            from executorch.backends.xnnpack.partition.config.xnnpack_config import (
                ConfigPrecisionType,
            )

            kwargs["config_precisions"] = ConfigPrecisionType[kwargs["config_precisions"]]
        return [XnnpackPartitioner(**kwargs)]

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", "float32, no quantization"),
            "int8": Scheme(
                "int8",
                "int8 static, per-channel weights, calibrated activations (PT2E XNNPACKQuantizer)",
                quantizer=lambda: _xnnpack_quantizer(per_channel=True, dynamic=False),
                calibrate=True,
            ),
            "int8-dynamic": Scheme(
                "int8-dynamic",
                "int8 dynamic activations, per-channel int8 weights (PT2E XNNPACKQuantizer)",
                quantizer=lambda: _xnnpack_quantizer(per_channel=True, dynamic=True),
            ),
            "int8-per-tensor": Scheme(
                "int8-per-tensor",
                "int8 static, per-tensor weights, calibrated activations (PT2E XNNPACKQuantizer)",
                quantizer=lambda: _xnnpack_quantizer(per_channel=False, dynamic=False),
                calibrate=True,
            ),
            "8da4w": Scheme(
                "8da4w",
                "int8 dynamic activations, int4 weights (group 32) on linear layers (torchao)",
                transform=_8da4w,
            ),
        }

    keep_float_ops = True

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        """XNNPACKQuantizer's filter function: kept nodes are never annotated, so they and their
        weights stay float (`set_module_name` refuses a None config in executorch 1.5.1)."""
        quantizer.set_filter_function(keep.quantize_filter())
        return quantizer

    @functools.cached_property
    def _config_targets(self) -> frozenset[str]:
        """Target names XNNPACK has a partitioner config for (e.g. 'mean.dim')."""
        from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS

        return frozenset(config.target_name for config in ALL_PARTITIONER_CONFIGS)

    def derived_reason(self, node: Any) -> str | None:
        from executorch.exir.backend.canonical_partitioners.config_partitioner import (
            format_target_name,
        )

        name = getattr(node.target, "__name__", None)
        if name is None:
            return None
        if format_target_name(name) not in self._config_targets:
            return f"no XNNPACK implementation of {name}"
        return None
