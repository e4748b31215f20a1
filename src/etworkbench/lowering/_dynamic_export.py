"""Exporting a `ModelSpec` with its dynamic dims, and saying why torch refused one.

Every place that exports the model (the shared export, quantization's exports, the preview)
goes through `export_spec`, so the dims reach each of them; `explain_export` turns torch's
constraint violation (the model's code fixes a size the user made dynamic) into a failure
naming the input and dim, with torch's suggested fix quoted (see `models._dynamic`).
"""

from __future__ import annotations

from typing import Any

from ..models._dynamic import explain_violation, export_args
from ._triage import Failure


def export_spec(spec: Any, module: Any = None) -> Any:
    """`torch.export.export` of `module` (default `spec.module`) on `spec`'s example inputs,
    with its dynamic dims."""
    import torch

    module = spec.module if module is None else module
    args, kwargs, dynamic_shapes = export_args(spec, module)
    return torch.export.export(
        module,
        args,
        kwargs=kwargs,
        dynamic_shapes=dynamic_shapes,
    )


def explain_export(failure: Failure, exc: BaseException, spec: Any) -> Failure:
    """`failure` (stage "export") with its message replaced by the dims' explanation when
    torch refused a dynamic dim; unchanged otherwise."""
    explained = explain_violation(str(exc), tuple(getattr(spec, "dynamic_shapes", ()) or ()))
    if explained:
        failure.message = explained
        failure.type = "DynamicDimRejected"
    return failure
