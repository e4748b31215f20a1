"""PT2E quantization: export, prepare with the backend's quantizer, calibrate, convert, re-export."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

CalibrationProgress = Callable[[int, int], None]  # (batches done, total)


class ModelExportFailed(Exception):
    """`torch.export` of the user's (possibly transformed) module failed, before any quantizer
    ran: the lowering reports it at the export stage, as the plain API's user would see it."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


def _export_model(spec: Any, module: Any) -> Any:
    from ._dynamic_export import export_spec

    try:
        return export_spec(spec, module)  # the example inputs, with the spec's dynamic dims
    except Exception as exc:
        raise ModelExportFailed(exc) from exc


def quantize(
    spec: Any,
    scheme: Any,
    batches: list[tuple],
    progress: CalibrationProgress | None = None,
    quantizer_options: Mapping[str, Any] | None = None,
    keep_float: Callable[[Any, Any], Any] | None = None,
) -> Any:
    """Return an ExportedProgram of `spec.module` quantized with `scheme`.

    `batches` are validated calibration batches (see _calibration): positional args, with
    keyword args in `batch.kwargs` (else the example's); a static scheme observes each of them,
    reporting `progress(done, total)` as it goes. `keep_float(quantizer, captured graph)`
    (`_keep_float.keep_float_hook`) returns the quantizer set to leave some modules in float.
    """
    import torch

    module, inputs = spec.module, tuple(spec.example_inputs)
    kwargs = dict(getattr(spec, "example_kwargs", None) or {})
    if scheme.transform is not None:
        module = scheme.transform(copy_module(module), inputs)
    if scheme.quantizer is None:
        return _export_model(spec, module)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from ._dynamic_export import export_spec

    exported = _export_model(spec, module)
    captured = exported.module(**dict(scheme.capture_kwargs))
    report = progress or (lambda done, total: None)
    quantizer = None
    if keep_float is not None:  # the scheme's quantizer, then the backend's own skip settings
        quantizer = keep_float(scheme.make_quantizer(quantizer_options), captured)
    if scheme.pt2e is not None:  # the backend's own driver iterates the batches itself
        report(0, len(batches))
        given = {"quantizer": quantizer} if quantizer is not None else {}
        converted = scheme.pt2e(captured, batches, **given)
        report(len(batches), len(batches))
        return export_spec(spec, converted)
    prepared = prepare_pt2e(captured, quantizer or scheme.make_quantizer(quantizer_options))
    with torch.no_grad():
        for done, batch in enumerate(batches, start=1):
            prepared(*batch, **getattr(batch, "kwargs", kwargs))
            report(done, len(batches))
    converted = convert_pt2e(prepared, **dict(scheme.convert_kwargs))
    return export_spec(spec, converted)


def copy_module(module: Any) -> Any:
    import copy

    return copy.deepcopy(module)
