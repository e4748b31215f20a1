"""Apple Core ML: ANE / GPU / CPU on Apple devices; lowers here with coremltools, runs on Apple only."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import UsageError
from ._base import Availability, Backend, Reasons, Scheme, probe_imports
from ._options import BackendOption

TARGETS = ("iOS15", "iOS16", "iOS17", "iOS18", "iOS26")  # coremltools 9.0's ct.target names
# The deployment floor a scheme needs (its ops exist from that Core ML version on).
SCHEME_FLOOR = {"int8": "iOS17", "int8-weight": "iOS18", "int4-weight": "iOS18"}

OPTIONS = {
    "compute_unit": BackendOption(
        "compute_unit",
        "ALL",
        ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE"),
        doc="where Core ML may run the model (compile spec compute_units)",
    ),
    "minimum_deployment_target": BackendOption(
        "minimum_deployment_target",
        None,
        TARGETS,
        doc="oldest OS the model must load on (min_deployment_target); auto: coremltools' own "
        "for float schemes, iOS17 for int8, iOS18 for weight-only; stateful models need iOS18",
    ),
    "compute_precision": BackendOption(
        "compute_precision",
        None,
        ("FLOAT16", "FLOAT32"),
        doc="float precision Core ML computes in (model_compute_precision); auto: FLOAT32 for "
        "the fp32 scheme, else FLOAT16",
    ),
    "model_type": BackendOption(
        "model_type",
        "MODEL",
        ("MODEL", "COMPILED_MODEL"),
        doc="payload: an .mlpackage (MODEL), or an .mlmodelc compiled at lowering time "
        "(COMPILED_MODEL: needs macOS's coremlcompiler)",
    ),
    "take_over_mutable_buffer": BackendOption(
        "take_over_mutable_buffer",
        True,
        type=bool,
        doc="let the delegate own mutable buffers (Core ML state, iOS18+); false keeps them "
        "on the CPU side",
    ),
    "take_over_constant_data": BackendOption(
        "take_over_constant_data",
        True,
        type=bool,
        doc="store weights inside the delegate payload (false: as named program data)",
    ),
    "lower_full_graph": BackendOption(
        "lower_full_graph",
        False,
        type=bool,
        doc="require the whole graph in Core ML: an unsupported op fails the lowering instead "
        "of falling back to the CPU",
    ),
}


def _compile_specs(
    precision: str, ios: str | None = None, unit: str = "ALL", model_type: str = "MODEL"
) -> list[Any]:
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend

    kwargs: dict[str, Any] = {"compute_precision": getattr(ct.precision, precision)}
    if ios is not None:
        kwargs["minimum_deployment_target"] = getattr(ct.target, ios)
    if unit != "ALL":  # generate_compile_specs' own default otherwise
        kwargs["compute_unit"] = getattr(ct.ComputeUnit, unit)
    if model_type != "MODEL":
        kwargs["model_type"] = CoreMLBackend.MODEL_TYPE[model_type]
    return CoreMLBackend.generate_compile_specs(**kwargs)


def _pt2e_quantizer(float_modules: tuple[str, ...] = ()) -> Any:
    import coremltools as ct
    import torch
    from executorch.backends.apple.coreml.quantizer import CoreMLQuantizer

    config = ct.optimize.torch.quantization.LinearQuantizerConfig(
        global_config=ct.optimize.torch.quantization.ModuleLinearQuantizerConfig(
            quantization_scheme="symmetric",
            activation_dtype=torch.quint8,
            weight_dtype=torch.qint8,
            weight_per_channel=True,
        ),
        module_name_configs=dict.fromkeys(float_modules),  # None: leave that module float
    )
    return CoreMLQuantizer(config)


def _weight_only(bits: int) -> Any:
    def transform(module: Any, inputs: tuple) -> Any:
        import torch
        from torchao.quantization.granularity import PerAxis
        from torchao.quantization.quant_api import IntxWeightOnlyConfig, quantize_
        from torchao.utils import unwrap_tensor_subclass

        # per channel, like CoreMLRecipeType.TORCHAO_INT{4,8}_WEIGHT_ONLY_PER_CHANNEL: a group
        # size would have to divide every layer's input width
        dtype = torch.int8 if bits == 8 else torch.int4
        config = IntxWeightOnlyConfig(weight_dtype=dtype, granularity=PerAxis(axis=0))

        def is_linear(mod: Any, fqn: str) -> bool:
            return type(mod) is torch.nn.Linear  # not MultiheadAttention's out_proj (F.* + .t())

        quantize_(module, config, is_linear)
        unwrap_tensor_subclass(module)
        return module

    return transform


class CoreML(Backend):
    name = "coreml"
    title = "Core ML"
    relative_cost = 0.6
    hardware = "Apple Neural Engine, GPU and CPU"
    platforms = ("iOS", "macOS", "iPadOS", "tvOS", "visionOS")
    runs_on_host = False
    delegate_ids = ("CoreMLBackend",)
    default_scheme = "fp16"
    hint = "pip install coremltools (9.0 is the version tested with executorch 1.5.1)"
    # Core ML's partitioner and coremltools log INFO per op; scoping them keeps that chatter
    # out of the user's output while the lowering runs.
    loggers = ("executorch.backends.apple.coreml", "coremltools")
    notes = "The Core ML runtime exists only on Apple platforms; lowering works on Linux."
    options = OPTIONS

    def probe(self) -> Availability:
        # coremltools logs version-support warnings and missing macOS-only proxies at import;
        # on Linux they are expected, and they would fill the notebook cell and CLI output.
        from .._compat.output import quiet_logger

        with quiet_logger("coremltools", logging.ERROR):
            return probe_imports(
                "coremltools", "executorch.backends.apple.coreml.partition", hint=self.hint
            )

    def partitioners(self, scheme: str, options: Mapping[str, Any]) -> list[Any]:
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner

        precision = options["compute_precision"] or ("FLOAT32" if scheme == "fp32" else "FLOAT16")
        ios = options["minimum_deployment_target"] or SCHEME_FLOOR.get(scheme)
        specs = _compile_specs(precision, ios, options["compute_unit"], options["model_type"])
        # only what differs from CoreMLPartitioner's defaults, so its default call is unchanged
        kwargs = {
            key: options[key]
            for key in ("take_over_mutable_buffer", "take_over_constant_data", "lower_full_graph")
            if options[key] != OPTIONS[key].default
        }
        return [CoreMLPartitioner(compile_specs=specs, **kwargs)]

    def check_options(self, scheme: str, options: Mapping[str, Any]) -> None:
        """An explicit deployment target below what the scheme's ops need cannot work."""
        floor, asked = SCHEME_FLOOR.get(scheme), options.get("minimum_deployment_target")
        if floor and asked and TARGETS.index(asked) < TARGETS.index(floor):
            raise UsageError(
                f"coreml.minimum_deployment_target={asked} is below {floor}, which the Core ML "
                f"scheme {scheme} needs; pass {floor} or later (or leave it auto)"
            )

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp16": Scheme("fp16", "float16 compute precision (the Core ML default)"),
            "fp32": Scheme("fp32", "float32 compute precision"),
            "int8": Scheme(
                "int8",
                "int8 activations and per-channel int8 weights (PT2E CoreMLQuantizer, iOS17+; "
                "prepare is slow on large models)",
                quantizer=_pt2e_quantizer,
                calibrate=True,
            ),
            "int8-weight": Scheme(
                "int8-weight",
                "int8 per-channel weight-only on linear layers (torchao IntxWeightOnly, iOS18+)",
                transform=_weight_only(8),
            ),
            "int4-weight": Scheme(
                "int4-weight",
                "int4 per-channel weight-only on linear layers (torchao IntxWeightOnly, iOS18+)",
                transform=_weight_only(4),
            ),
        }

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        """coremltools' LinearQuantizerConfig with a None config per kept module (set when the
        config is built, so a new quantizer)."""
        return _pt2e_quantizer(keep.modules)

    @contextlib.contextmanager
    def capture_reasons(self, reasons: Reasons) -> Iterator[None]:
        """Record Core ML's own skip messages per node (its `log_once` dedups across nodes)."""
        from .._compat.backends import coreml_skips

        backend = self.name
        with coreml_skips(lambda node, msg: reasons.add(node.name, backend, msg)):
            with super().capture_reasons(reasons):
                yield

    def lowering_output(self) -> contextlib.AbstractContextManager:
        """coremltools' conversion bars stay out of the CLI's and the notebook's output."""
        from .._compat.backends import coreml_progress_bars_off

        return coreml_progress_bars_off()

    def derived_reason(self, node: Any) -> str | None:
        if getattr(node, "op", None) != "call_function":
            return None
        try:
            import coremltools as ct

            supported = ct.converters.mil.frontend.torch.is_torch_fx_node_supported(node)
        except Exception:  # the support query itself can fail on odd nodes
            return None
        if not supported:
            return f"coremltools has no converter for {getattr(node.target, '__name__', node)}"
        return None
