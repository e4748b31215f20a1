"""Does a program lowered with dynamic dims run at other sizes, and does it still match eager?

A backend can accept a dynamic dim at lowering time and still not honour it: measured here,
OpenVINO (executorch 1.5.1) compiles for the range's upper bound and then returns max-sized
outputs for every input, while XNNPACK and the portable kernels resize. So lowering is not
the test; running is. `check_dynamic` runs the program at the ranges' min, middle and max
(all dims of the model at once; dims that share a `Dim` keep equal sizes) on seeded random
inputs and compares each run with float eager.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ._compare import compare_outputs, output_names, tensors
from ._host import runnability


@dataclass
class DynamicCheck:
    """One program at one size of its dynamic dims.

    `point` is "min", "mid" or "max"; `shape` the dynamic inputs' shapes there
    (`x[2, 3, 224, 224]`); `ran` whether the program ran and gave eager's output shapes;
    `max_abs_error` its largest deviation from float eager; `message` why it did not run
    (lowering failed, not runnable here, a runtime error, wrong output shape), else "".
    """

    backend: str
    point: str
    shape: str
    ran: bool
    max_abs_error: float | None = None
    message: str = ""

    def line(self) -> str:
        if self.ran:
            return f"{self.backend} {self.point:>3} {self.shape}: ran, max abs err {self.max_abs_error:.2e}"
        return f"{self.backend} {self.point:>3} {self.shape}: not run: {self.message}"


def check_dynamic(result: Any, seed: int = 0) -> list[DynamicCheck]:
    """Rows for `result` at min / mid / max of its model's dynamic dims ([] without any)."""
    spec = result.model_spec
    dims = tuple(getattr(spec, "dynamic_shapes", ()) or ()) if spec is not None else ()
    if not dims:
        return []
    points = _points(dims)
    cases = [(point, *_inputs_at(spec, dims, sizes, seed)) for point, sizes in points]
    verdict = None
    if not result.ok:
        error = result.error.one_line if result.error else result.reason
        verdict = f"lowering {result.status}: {error}"
    elif result.preview:
        verdict = "a preview has no program to run"
    else:
        found = runnability(result)
        verdict = f"{found[0]}: {found[1]}" if found else None
    if verdict is None and "openvino" in result.backends:
        from ._run import _compute_precision

        verdict = _compute_precision(result, None)[2]
    if verdict:
        return [
            DynamicCheck(result.backend, p, shape, False, None, verdict) for p, shape, *_ in cases
        ]
    return _run_points(result, spec, cases)


def _points(dims: tuple) -> list[tuple[str, dict[int, int]]]:
    """("min", {group: size}), ("mid", ...), ("max", ...); a middle equal to an end is left out."""
    bounds = {d.group: (d.min, d.max) for d in dims}
    chosen = {
        "min": {g: low for g, (low, _) in bounds.items()},
        "mid": {g: (low + high) // 2 for g, (low, high) in bounds.items()},
        "max": {g: high for g, (_, high) in bounds.items()},
    }
    if chosen["mid"] in (chosen["min"], chosen["max"]):
        del chosen["mid"]
    return list(chosen.items())


def _inputs_at(spec: Any, dims: tuple, sizes: dict[int, int], seed: int) -> tuple[str, tuple, dict]:
    """(shape text, args, kwargs): the example inputs with each dynamic input redrawn at its
    size for this point (seeded; integers within the example's own range)."""
    import torch

    args, kwargs = list(spec.example_inputs), dict(spec.example_kwargs)
    generator = torch.Generator().manual_seed(seed)
    shapes: dict[int | str, list[int]] = {}
    labels: dict[int | str, str] = {}
    for d in dims:
        example = args[d.input] if isinstance(d.input, int) else kwargs[d.input]
        shape = shapes.setdefault(d.input, list(example.shape))
        shape[d.dim] = sizes[d.group]
        labels[d.input] = d.label
    for key, shape in shapes.items():
        example = args[key] if isinstance(key, int) else kwargs[key]
        value = _draw(example, shape, generator)
        if isinstance(key, int):
            args[key] = value
        else:
            kwargs[key] = value
    text = ", ".join(f"{labels[key]}{shape}" for key, shape in shapes.items())
    return text, tuple(args), kwargs


def _draw(example: Any, shape: list[int], generator: Any) -> Any:
    import torch

    if example.dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(example.dtype)
    if example.dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    low = int(example.min()) if example.numel() else 0
    high = int(example.max()) + 1 if example.numel() else 1
    return torch.randint(low, high, shape, generator=generator, dtype=example.dtype)


def _run_points(result: Any, spec: Any, cases: list) -> list[DynamicCheck]:
    import torch
    from executorch.runtime import Runtime

    from ..models._inputs import flat_inputs

    rows = []
    try:
        method = Runtime.get().load_program(result.pte_data).load_method("forward")
    except Exception as exc:
        message = f"program did not load: {type(exc).__name__}: {exc}"
        return [
            DynamicCheck(result.backend, p, shape, False, None, message) for p, shape, *_ in cases
        ]
    eager = copy.deepcopy(spec.module)  # eager calls must not change the user's module
    for point, shape, args, kwargs in cases:
        executed = False
        try:
            outputs = tensors(method.execute(flat_inputs(args, kwargs)))
            executed = True
            with torch.no_grad():
                reference = eager(*args, **kwargs)
            error = compare_outputs([tensors(reference)], [outputs], False, output_names(reference))
        except Exception as exc:  # a refused size, a wrong output shape: this point's answer
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            said = f"ran, but {first}" if executed else f"{type(exc).__name__}: {first}"
            rows.append(DynamicCheck(result.backend, point, shape, False, None, said))
            continue
        rows.append(DynamicCheck(result.backend, point, shape, True, error.max_abs))
    return rows
