"""PT2E quantization: export, prepare with the backend's quantizer, calibrate, convert, re-export."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def quantize(spec: Any, scheme: Any, calibration: Iterable[tuple] | None) -> Any:
    """Return an ExportedProgram of `spec.module` quantized with `scheme`."""
    import torch

    module, inputs = spec.module, spec.example_inputs
    if scheme.transform is not None:
        module = scheme.transform(copy_module(module), inputs)
    if scheme.quantizer is None:
        return torch.export.export(module, inputs)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    captured = torch.export.export(module, inputs).module(**dict(scheme.capture_kwargs))
    batches = list(calibration) if calibration is not None else [inputs]
    batches = [b if isinstance(b, tuple) else (b,) for b in batches]
    if scheme.pt2e is not None:
        return torch.export.export(scheme.pt2e(captured, batches), inputs)
    prepared = prepare_pt2e(captured, scheme.quantizer())
    with torch.no_grad():
        for batch in batches:
            prepared(*(batch if isinstance(batch, tuple) else (batch,)))
    converted = convert_pt2e(prepared, **dict(scheme.convert_kwargs))
    return torch.export.export(converted, inputs)


def copy_module(module: Any) -> Any:
    import copy

    return copy.deepcopy(module)
