"""Intel OpenVINO: Intel CPU / GPU / NPU; lowers and runs (CPU) on this host."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from typing import Any

from ._base import Availability, Backend, Reasons, Scheme, probe_imports
from ._options import BackendOption

OPTIONS = {
    "device": BackendOption(
        "device",
        "CPU",
        ("CPU", "GPU", "NPU"),
        doc="the OpenVINO device the payload is compiled for (compile spec device); it must be "
        "present on the host that lowers (openvino.Core().available_devices)",
    ),
}


def host_devices() -> list[str]:
    """The OpenVINO devices of this host (`openvino.Core().available_devices`, e.g. CPU, GPU.0)."""
    import openvino as ov

    return list(ov.Core().available_devices)


class DeviceMissing(RuntimeError):
    """The OpenVINO device asked for is not on this host (a lowering failure, not a crash)."""


def check_device(device: str) -> None:
    """Raise `DeviceMissing` naming this host's devices when `device` is not one of them."""
    devices = host_devices()
    if not any(d == device or d.startswith(device + ".") for d in devices):
        raise DeviceMissing(
            f"OpenVINO device {device} is not present on this host; its devices: "
            f"{', '.join(devices) or 'none'} (pass openvino.device=CPU, or lower on a host with "
            f"{device})"
        )


def _openvino_quantizer() -> Any:
    from executorch.backends.openvino.quantizer import OpenVINOQuantizer

    return OpenVINOQuantizer()


def _nncf_quantize(captured: Any, batches: list, quantizer: Any = None) -> Any:
    """nncf's own PT2E driver (statistics + fast bias correction), as executorch's quantize_model.

    Plain prepare/calibrate/convert with OpenVINOQuantizer skips the bias correction and was
    measured at 53 % relative error on tiny_convnet; this path gives about 10 %.
    """
    import logging
    import sys

    import nncf
    import nncf.experimental.torch.fx as nncf_fx

    from .._compat.output import quiet_logger, route_stdout

    # nncf logs and draws progress bars on stdout; stdout belongs to `etwb ... --json`.
    with quiet_logger("nncf", logging.ERROR), route_stdout(sys.stderr):
        return nncf_fx.quantize_pt2e(
            captured,
            quantizer or _openvino_quantizer(),  # keep-float: one with an ignored scope
            subset_size=len(batches),
            calibration_dataset=nncf.Dataset(batches, lambda batch: batch),
            fast_bias_correction=True,
            smooth_quant=False,
            fold_quantize=False,
        )


# -- compute precision of host runs -----------------------------------------------------------
#
# ExecuTorch's OpenVINO runtime (libexecutorch_backend_openvino.so) creates its own ov::Core and
# calls ov_core_import_model(blob, device) with no properties: the only compile spec it reads is
# "device", and the CPU plugin takes INFERENCE_PRECISION_HINT from its own default, not from the
# blob (whose rt_info holds only thread hints). That default is bf16 on any CPU where oneDNN
# reports avx512_core_bf16 (AVX512-BF16, AMX), f32 elsewhere. The one lever left is oneDNN's ISA
# cap, ONEDNN_MAX_CPU_ISA, read once when the CPU plugin is first loaded in the process: capped
# below avx512_core_bf16, the default (and every Core's, the runtime's included) is f32.
# Measured on tiny_convnet, AVX512-BF16 host: max abs error vs eager 9.0e-4 (bf16) -> 3.0e-8 (f32).

PRECISIONS = ("f32", "bf16", "f16")
PRECISION_ENV = "ETWB_OPENVINO_PRECISION"  # f32 (default) | cpu-default
_F32_ISA_CAP = "AVX512_CORE_VNNI"  # the highest oneDNN ISA below avx512_core_bf16
_SHORT = {"f32": "f32", "float32": "f32", "bf16": "bf16", "bfloat16": "bf16", "f16": "f16",
          "float16": "f16", "dynamic": "f32", "undefined": "f32"}  # fmt: skip
_policy: dict[str, str] = {}  # what this process decided before the CPU plugin was loaded


def _cpu_plugin_loaded() -> bool:
    try:
        with open("/proc/self/maps") as maps:
            return any("openvino_intel_cpu_plugin" in line for line in maps)
    except OSError:
        return False


def set_host_precision(precision: str | None) -> None:
    """Choose the float precision OpenVINO CPU runs use in this process: "f32", or None for
    the CPU plugin's own default (bf16 on AVX512-BF16 / AMX CPUs).

    It acts only before OpenVINO's CPU plugin is first loaded here (first OpenVINO lowering or
    run): oneDNN reads its ISA cap once. `etwb --run-precision` calls it at start-up; in Python,
    call it (or set ETWB_OPENVINO_PRECISION=f32|cpu-default) before lowering anything.
    """
    want = "cpu-default" if precision in (None, "cpu-default") else precision
    if want not in ("f32", "cpu-default"):
        from ..errors import UsageError

        raise UsageError(
            f"OpenVINO host precision can be set to f32 or cpu-default (the CPU plugin's "
            f"choice), not {precision!r}"
        )
    if _cpu_plugin_loaded():
        _policy.setdefault("requested", want)
        return
    if _policy.pop("armed", None) == "yes":
        os.environ.pop("ONEDNN_MAX_CPU_ISA", None)  # our own cap, not loaded yet: undo it
    _policy["requested"] = want
    _arm_host_precision()


def _arm_host_precision() -> bool:
    """Set the ISA cap for the policy without loading anything (so that any first load of the
    CPU plugin, e.g. the cache check running a cached program, honours it); True if set."""
    if _cpu_plugin_loaded() or "armed" in _policy:
        return _policy.get("armed") == "yes"
    want = _policy.setdefault("requested", os.environ.get(PRECISION_ENV, "f32"))
    armed = want == "f32" and "ONEDNN_MAX_CPU_ISA" not in os.environ
    if armed:
        os.environ["ONEDNN_MAX_CPU_ISA"] = _F32_ISA_CAP
    _policy["armed"] = "yes" if armed else "no"
    return armed


def _apply_host_precision() -> None:
    """Load the CPU plugin under this process's policy (f32 unless told otherwise), once."""
    capped = _arm_host_precision()
    if "applied" in _policy:
        return
    if _cpu_plugin_loaded() and not capped:
        _policy.setdefault("requested", "cpu-default")
        _policy["applied"] = "plugin already loaded"
        return
    import openvino as ov

    try:
        ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")  # loads it; oneDNN latches
    finally:
        if capped:
            os.environ.pop("ONEDNN_MAX_CPU_ISA", None)  # latched; keep it from children
    _policy["applied"] = f"ONEDNN_MAX_CPU_ISA={_F32_ISA_CAP}" if capped else "none"


def _cpu_bf16_flags() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return ""
    return ", ".join(sorted({f for f in flags if f.startswith("amx") or f == "avx512_bf16"}))


def host_precision() -> tuple[str, str]:
    """(precision, why) that OpenVINO CPU programs run in here: the CPU plugin's default
    INFERENCE_PRECISION_HINT, which ExecuTorch's runtime cannot override per program."""
    import openvino as ov

    _apply_host_precision()
    value = str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name())
    precision = _SHORT.get(value, value)
    flags = _cpu_bf16_flags()
    cpu = f" on this CPU ({flags})" if flags else " on this CPU"
    if _policy.get("applied", "").startswith("ONEDNN_MAX_CPU_ISA"):
        why = f"forced f32: {_policy['applied']} set before OpenVINO's CPU plugin loaded"
    elif os.environ.get("ONEDNN_MAX_CPU_ISA"):
        why = f"ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']} in the environment"
    else:
        why = "OpenVINO CPU default INFERENCE_PRECISION_HINT" + cpu
        forced = _policy.get("requested") == "f32"
        if forced and _policy.get("applied") == "plugin already loaded" and precision != "f32":
            why += " (the CPU plugin was loaded before etworkbench could force f32)"
    return precision, why


def run_precision(requested: str | None) -> tuple[str, str, str | None]:
    """(precision, why, refusal) for an OpenVINO host run; refusal says why `requested`
    cannot be had in this process (None when it can, or when nothing was requested)."""
    if requested is not None and requested not in PRECISIONS:
        from ..errors import UsageError

        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}; got {requested!r}")
    if requested is not None and not _cpu_plugin_loaded() and "requested" not in _policy:
        set_host_precision("f32" if requested == "f32" else "cpu-default")
    precision, why = host_precision()
    refusal = None
    if requested is not None and requested != precision:
        refusal = (
            f"OpenVINO CPU runs in this process use {precision} ({why}); {requested} was asked. "
            f"The precision is fixed when OpenVINO's CPU plugin first loads: start a new process "
            f"with {PRECISION_ENV}={'f32' if requested == 'f32' else 'cpu-default'} "
            f"(or etwb --run-precision {requested})"
        )
    return precision, why, refusal


class Openvino(Backend):
    name = "openvino"
    title = "OpenVINO"
    relative_cost = 0.6
    hardware = "Intel CPUs, integrated/discrete GPUs and NPUs"
    platforms = ("Linux", "Windows")
    runs_on_host = True
    delegate_ids = ("OpenvinoBackend",)
    hint = "pip install 'executorch[openvino]' nncf==3.1.0"
    notes = "Compiled for device CPU by default; GPU/NPU need the device and its plugin here."
    options = OPTIONS

    def probe(self) -> Availability:
        _arm_host_precision()  # before anything here can load OpenVINO's CPU plugin
        return probe_imports("openvino", "executorch.backends.openvino.partitioner", hint=self.hint)

    def partitioners(self, scheme: str, options: Mapping[str, Any]) -> list[Any]:
        from executorch.backends.openvino.partitioner import OpenvinoPartitioner
        from executorch.exir.backend.compile_spec_schema import CompileSpec

        _apply_host_precision()  # the CPU plugin loads while lowering: fix the run precision now
        device = options["device"]
        if device != "CPU":  # preprocess compiles for the device: say so before it crashes
            check_device(device)
        return [OpenvinoPartitioner([CompileSpec("device", device.encode())])]

    @functools.cached_property
    def schemes(self) -> dict[str, Scheme]:
        return {
            "fp32": Scheme("fp32", "float32"),
            "int8": Scheme(
                "int8",
                "int8 symmetric, calibrated activations (nncf OpenVINOQuantizer, PT2E)",
                quantizer=_openvino_quantizer,
                calibrate=True,
                # OpenVINO converts the q/dq pairs itself; folded int8 weights fail its frontend
                # ("Arguments do not have the same element type"), as in nncf's quantize_model
                convert_kwargs=(("fold_quantize", False),),
                pt2e=_nncf_quantize,
            ),
        }

    @contextlib.contextmanager
    def capture_reasons(self, reasons: Reasons) -> Iterator[None]:
        """OpenVINO prints "Op not supported: torch.ops.X" to stdout: keep it, per node, off stdout."""
        from executorch.backends.openvino.partitioner import OpenvinoOperatorsSupport

        from .._compat.backends import openvino_prints

        backend = self.name

        def sink(node: Any, line: str) -> None:
            reasons.add(node.name, backend, line)

        with openvino_prints(OpenvinoOperatorsSupport, sink), super().capture_reasons(reasons):
            yield

    @functools.cached_property
    def support_table(self) -> frozenset[str]:
        from .._compat.backends import openvino_support_table

        return openvino_support_table()

    keep_float_ops = True

    def keep_float(self, quantizer: Any, keep: Any, graph: Any) -> Any:
        """nncf's ignored scope, by the captured graph's node names (it has no module paths)."""
        quantizer.set_ignored_scope(names=keep.node_names(graph), validate=False)
        return quantizer

    def derived_reason(self, node: Any) -> str | None:
        if getattr(node, "op", None) != "call_function" or isinstance(node.target, str):
            return None
        name = getattr(node.target, "__name__", None)
        if name and name != "getitem" and f"torch.ops.{name}" not in self.support_table:
            return f"no OpenVINO implementation of {name}"
        return None
