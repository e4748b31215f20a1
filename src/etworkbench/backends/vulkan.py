"""Vulkan: GPU compute shaders (Android, Linux, Windows); lowers here, runs with a Vulkan build."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from ._base import Availability, Backend, Reasons, Scheme
from ._options import BackendOption

OPTIONS = {
    "storage_type": BackendOption(
        "storage_type",
        "TEXTURE_3D",
        ("TEXTURE_3D", "TEXTURE_2D", "BUFFER"),
        doc="default tensor storage on the GPU (compile spec storage_type_override)",
    ),
    "memory_layout": BackendOption(
        "memory_layout",
        "TENSOR_WIDTH_PACKED",
        ("TENSOR_WIDTH_PACKED", "TENSOR_HEIGHT_PACKED", "TENSOR_CHANNELS_PACKED"),
        doc="default packed dimension of texture tensors (compile spec memory_layout_override)",
    ),
    "force_fp16": BackendOption(
        "force_fp16",
        None,
        type=bool,
        doc="compute float32 tensors in float16 on the GPU (compile spec force_fp16); auto: "
        "on for the fp16 scheme",
    ),
    "small_texture_limits": BackendOption(
        "small_texture_limits",
        False,
        type=bool,
        doc="assume the conservative 2048 texture limit of older GPUs (partitions smaller)",
    ),
    "downcast_64_bit": BackendOption(
        "downcast_64_bit",
        True,
        type=bool,
        doc="run int64/float64 tensors as 32-bit (false: such nodes stay on the CPU)",
    ),
}


def _import_vulkan() -> Any:
    """Import Vulkan's partitioner without letting it set the root logger to INFO.

    Its modules call `logging.getLogger("").setLevel(logging.INFO)` at import time, which
    would flood every notebook and CLI run with executorch's INFO chatter.
    """
    from .._compat.backends import cache_vulkan_pattern_graphs, import_vulkan_passes
    from .._compat.output import keep_logger_level

    with keep_logger_level(""):
        from executorch.backends.vulkan import vulkan_preprocess  # noqa: F401

        import_vulkan_passes()
        from executorch.backends.vulkan.partitioner import vulkan_partitioner
    cache_vulkan_pattern_graphs()  # executorch 1.5.1 re-exports its rope patterns every call
    return vulkan_partitioner


def _weight_only_quantizer() -> Any:
    from executorch.backends.vulkan.quantizer.vulkan_quantizer import (
        VulkanQuantizer,
        get_symmetric_quantization_config,
    )

    # is_dynamic=False is Vulkan's weight-only config (activations stay float)
    return VulkanQuantizer().set_global(get_symmetric_quantization_config(weight_bits=8))


class Vulkan(Backend):
    name = "vulkan"
    title = "Vulkan"
    relative_cost = 1.5
    hardware = "GPUs with Vulkan 1.1+ (Adreno, Mali, desktop GPUs)"
    platforms = ("Android", "Linux", "Windows")
    runs_on_host = False
    delegate_ids = ("VulkanBackend",)
    hint = "pip install executorch (the Vulkan partitioner ships in the wheel)"
    notes = "Running needs an executorch runtime built with EXECUTORCH_BUILD_VULKAN=ON."
    options = OPTIONS

    def probe(self) -> Availability:
        try:
            _import_vulkan()
        except Exception as exc:  # any import-time failure makes the backend unusable here
            reason = f"cannot import Vulkan's partitioner: {type(exc).__name__}: {exc}"
            return Availability(False, reason, self.hint)
        return Availability(True)

    def partitioners(self, scheme: str, options: Mapping[str, Any]) -> list[Any]:
        VulkanPartitioner = _import_vulkan().VulkanPartitioner  # noqa: N806

        force = options["force_fp16"]
        compile_options: dict[str, Any] = (
            {"force_fp16": True} if (scheme == "fp16" if force is None else force) else {}
        )
        # only what differs from the defaults, so the default compile specs are unchanged
        keys = ("storage_type", "memory_layout", "small_texture_limits", "downcast_64_bit")
        changed = {k: options[k] for k in keys if options[k] != OPTIONS[k].default}
        if changed:
            from executorch.backends.vulkan.serialization.vulkan_graph_schema import (
                VkMemoryLayout,
                VkStorageType,
            )

            for key, value in changed.items():
                if key == "storage_type":
                    compile_options["storage_type_override"] = VkStorageType[value]
                elif key == "memory_layout":
                    compile_options["memory_layout_override"] = VkMemoryLayout[value]
                else:
                    compile_options[key] = value
        return [VulkanPartitioner(compile_options)]

    def edge_compile_config(self) -> Any | None:
        from .._compat.executorch import edge_compile_config

        return edge_compile_config(skip_dim_order=False)

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", "float32"),
            "fp16": Scheme("fp16", "float32 model computed in float16 on the GPU (force_fp16)"),
            "int8-weight": Scheme(
                "int8-weight",
                "int8 per-channel weight-only on linear layers (PT2E VulkanQuantizer)",
                quantizer=_weight_only_quantizer,
            ),
        }

    keep_float_ops = True

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        """VulkanQuantizer's filter function: kept linears keep their float weights."""
        quantizer.set_filter_function(keep.quantize_filter())
        return quantizer

    @contextlib.contextmanager
    def capture_reasons(self, reasons: Reasons) -> Iterator[None]:
        """Record every `log_skip(node, reason)` of Vulkan's operator-support check."""
        from .._compat.backends import vulkan_skips

        support = _import_vulkan().VulkanSupportedOperators
        backend = self.name

        def sink(node: Any, reason: Any) -> None:
            if node.op == "call_function":
                reasons.add(node.name, backend, str(reason))

        with vulkan_skips(support, sink), super().capture_reasons(reasons):
            yield

    def derived_reason(self, node: Any) -> str | None:
        from executorch.backends.vulkan.op_registry import vulkan_supported_ops

        target = getattr(node, "target", None)
        if getattr(node, "op", None) != "call_function" or target is None:
            return None
        name = target.name() if hasattr(target, "name") else None
        if target not in vulkan_supported_ops and name not in vulkan_supported_ops:
            return f"no Vulkan implementation of {getattr(target, '__name__', target)}"
        return None
