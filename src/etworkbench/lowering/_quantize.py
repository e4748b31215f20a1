"""PT2E quantization: export, prepare with the backend's quantizer, calibrate, convert, re-export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CalibrationProgress = Callable[[int, int], None]  # (batches done, total)


def quantize(
    spec: Any,
    scheme: Any,
    batches: list[tuple],
    progress: CalibrationProgress | None = None,
) -> Any:
    """Return an ExportedProgram of `spec.module` quantized with `scheme`.

    `batches` are validated calibration batches (see _calibration); a static scheme observes
    each of them, reporting `progress(done, total)` as it goes.
    """
    import torch

    module, inputs = spec.module, spec.example_inputs
    if scheme.transform is not None:
        module = scheme.transform(copy_module(module), inputs)
    if scheme.quantizer is None:
        return torch.export.export(module, inputs)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    captured = torch.export.export(module, inputs).module(**dict(scheme.capture_kwargs))
    report = progress or (lambda done, total: None)
    if scheme.pt2e is not None:  # the backend's own driver iterates the batches itself
        report(0, len(batches))
        converted = scheme.pt2e(captured, batches)
        report(len(batches), len(batches))
        return torch.export.export(converted, inputs)
    prepared = prepare_pt2e(captured, scheme.quantizer())
    with torch.no_grad():
        for done, batch in enumerate(batches, start=1):
            prepared(*batch)
            report(done, len(batches))
    converted = convert_pt2e(prepared, **dict(scheme.convert_kwargs))
    return torch.export.export(converted, inputs)


def copy_module(module: Any) -> Any:
    import copy

    return copy.deepcopy(module)
