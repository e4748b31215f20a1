"""Intel OpenVINO: Intel CPU / GPU / NPU; lowers and runs (CPU) on this host."""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Iterator
from typing import Any

from ._base import Availability, Backend, Reasons, Scheme, probe_imports


def _openvino_quantizer() -> Any:
    from executorch.backends.openvino.quantizer import OpenVINOQuantizer

    return OpenVINOQuantizer()


def _nncf_quantize(captured: Any, batches: list) -> Any:
    """nncf's own PT2E driver (statistics + fast bias correction), as executorch's quantize_model.

    Plain prepare/calibrate/convert with OpenVINOQuantizer skips the bias correction and was
    measured at 53 % relative error on tiny_convnet; this path gives about 10 %.
    """
    import logging
    import sys

    import nncf
    import nncf.experimental.torch.fx as nncf_fx

    # nncf logs and draws progress bars on stdout; stdout belongs to `etwb ... --json`.
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return nncf_fx.quantize_pt2e(
                captured,
                _openvino_quantizer(),
                subset_size=len(batches),
                calibration_dataset=nncf.Dataset(batches, lambda batch: batch),
                fast_bias_correction=True,
                smooth_quant=False,
                fold_quantize=False,
            )
    finally:
        nncf_logger.setLevel(level)


class Openvino(Backend):
    name = "openvino"
    title = "OpenVINO"
    relative_cost = 0.6
    hardware = "Intel CPUs, integrated/discrete GPUs and NPUs"
    platforms = ("Linux", "Windows")
    runs_on_host = True
    delegate_ids = ("OpenvinoBackend",)
    hint = "pip install 'executorch[openvino]' nncf==3.1.0"
    notes = "Compiled for device CPU here; GPU/NPU need the matching OpenVINO plugins."

    def probe(self) -> Availability:
        return probe_imports("openvino", "executorch.backends.openvino.partitioner", hint=self.hint)

    def partitioners(self, scheme: str) -> list[Any]:
        from executorch.backends.openvino.partitioner import OpenvinoPartitioner
        from executorch.exir.backend.compile_spec_schema import CompileSpec

        return [OpenvinoPartitioner([CompileSpec("device", b"CPU")])]

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

        original = OpenvinoOperatorsSupport.is_node_supported
        backend = self.name

        def is_node_supported(self_, submodules, node):  # noqa: ANN001 - executorch's signature
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                supported = original(self_, submodules, node)
            for line in printed.getvalue().splitlines():
                if line.strip():
                    reasons.add(node.name, backend, line.strip())
            return supported

        OpenvinoOperatorsSupport.is_node_supported = is_node_supported
        try:
            with super().capture_reasons(reasons):
                yield
        finally:
            OpenvinoOperatorsSupport.is_node_supported = original

    @functools.cached_property
    def _support_table(self) -> frozenset[str]:
        from executorch.backends.openvino.partitioner import OpenvinoOperatorsSupport
        from openvino.frontend.pytorch.torchdynamo.op_support import OperatorSupport

        table = OperatorSupport([])._support_dict | OpenvinoOperatorsSupport.extended_support_dict
        return frozenset(table)

    def derived_reason(self, node: Any) -> str | None:
        if getattr(node, "op", None) != "call_function" or isinstance(node.target, str):
            return None
        name = getattr(node.target, "__name__", None)
        if name and name != "getitem" and f"torch.ops.{name}" not in self._support_table:
            return f"no OpenVINO implementation of {name}"
        return None
