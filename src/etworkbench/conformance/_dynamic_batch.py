"""The dynamic-batch pair: a case with its batch dim dynamic (1..4), plain API against workbench.

Which inputs have a batch dim is read off the case's example inputs, never its name: every
top-level tensor input of 2+ dims whose dim 0 has the size of the first such input's (1 in
every example here: images, input_ids and attention_mask alike). All of them share one
`torch.export.Dim("batch", min=1, max=4)`. A case without such an input (detection models
take a list of images) is "not applicable".

Plain side: `torch.export.export(module, args, kwargs, dynamic_shapes=...)` ->
`to_edge_transform_and_lower(partitioner=<the backend's own partitioners>)` (for XNNPACK
`[XnnpackPartitioner()]`) -> `get_delegation_info` -> `to_executorch`, then `executorch.runtime`
at batch 1, 2 and 4 against eager. torch 2.14 specializes an example size of 1 at a dynamic dim,
so, as `models._dynamic` documents, the example is widened to batch 2 for export only (its one
row repeated); re-implemented here in three lines rather than imported, so the plain side shares
no code with the workbench's. Run inputs are drawn the way `runtime.check_dynamic` documents
(a generator seeded 0 per size; floats randn, integers within the example's own range), so
both sides usually run the same inputs; the verdict does not depend on it (tolerance below).

Workbench side: `lower(module, [backend], example_inputs=..., dynamic_shapes=..., cache=True)`
then `result.check_dynamic()` (its min / mid / max are batch 1, 2 and 4).
"""

from __future__ import annotations

import dataclasses
import io
import time
from dataclasses import dataclass, field
from typing import Any

from .._compat.output import route_stderr
from ..backends._options import of_backend
from ._cases import Case
from ._plain import plain_stage
from ._sides import WORKBENCH_STAGE, first_line
from ._targets import Target

BATCH = (1, 4)  # the range of the dynamic batch dim
SIZES = (1, 2, 4)  # min, middle, max: where both sides run
MODE = "dynamic_batch"
CLOSE, SMALL = 1e-5, 1e-4  # errors agree when within CLOSE of each other, or both <= SMALL


def record_label(backend: str) -> str:
    """The target part of a dynamic-batch record's file name (apart from the static record's)."""
    return f"{backend}@batch{BATCH[0]}-{BATCH[1]}"


@dataclass
class BatchRun:
    """One side's program at one batch size."""

    batch: int
    ran: bool
    max_abs_error: float | None = None
    message: str = ""


@dataclass
class DynamicSide:
    status: str  # ok | failed (a lowering stage raised) | error (the API itself raised)
    stage: str | None = None
    message: str | None = None
    delegated: int | None = None
    non_delegated: int | None = None
    runs: list[BatchRun] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False


@dataclass
class DynamicBatchRecord:
    suite: str
    case: str
    backend: str
    outcome: str  # agree | mismatch | error | not_applicable
    differences: list[str] = field(default_factory=list)
    batch_inputs: list[str] = field(default_factory=list)  # "0", "input_ids", ...
    batch_range: tuple[int, int] = BATCH
    plain: DynamicSide | None = None
    workbench: DynamicSide | None = None
    mode: str = MODE
    note: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def batch_inputs(args: tuple, kwargs: dict) -> list[int | str]:
    """Positions / names of the inputs with a batch dim (see the module docstring)."""
    import torch

    found: list[int | str] = []
    lead = None
    for key, value in [*enumerate(args), *kwargs.items()]:
        if isinstance(value, torch.Tensor) and value.dim() >= 2:
            lead = int(value.shape[0]) if lead is None else lead
            if int(value.shape[0]) == lead:
                found.append(key)
    return found


def _get(args: tuple, kwargs: dict, key: int | str) -> Any:
    return args[key] if isinstance(key, int) else kwargs[key]


def _with(args: tuple, kwargs: dict, values: dict) -> tuple[tuple, dict]:
    new_args = tuple(values.get(i, a) for i, a in enumerate(args))
    return new_args, {k: values.get(k, v) for k, v in kwargs.items()}


def draw_at(args: tuple, kwargs: dict, keys: list, batch: int, seed: int = 0) -> tuple:
    """The example inputs with every batched input redrawn at `batch` rows (seeded)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    drawn = {}
    for key in keys:
        example = _get(args, kwargs, key)
        shape = [batch, *example.shape[1:]]
        if example.dtype.is_floating_point:
            drawn[key] = torch.randn(shape, generator=generator).to(example.dtype)
        elif example.dtype == torch.bool:
            drawn[key] = torch.randint(0, 2, shape, generator=generator).bool()
        else:
            low = int(example.min()) if example.numel() else 0
            high = int(example.max()) + 1 if example.numel() else 1
            drawn[key] = torch.randint(low, high, shape, generator=generator, dtype=example.dtype)
    return _with(args, kwargs, drawn)


def _max_error(outputs: list, expected: list) -> tuple[float | None, str]:
    """Max abs error of the program's outputs against eager's, or why they do not compare."""
    import torch

    pairs = [
        (a, b)
        for a, b in zip(outputs, expected, strict=False)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    ]
    if not pairs or len(outputs) != len(expected):
        return None, f"{len(outputs)} outputs, eager has {len(expected)}"
    for a, b in pairs:
        if a.shape != b.shape:
            return None, f"output shape {list(a.shape)}, eager {list(b.shape)}"
    return max(
        float((a.double() - b.double()).abs().max()) if a.numel() else 0.0 for a, b in pairs
    ), ""


def _plain_runs(buffer: bytes, case: Case, keys: list) -> list[BatchRun]:
    import torch
    from executorch.runtime import Runtime

    from .._compat.torch import tree_leaves

    try:
        program = Runtime.get().load_program(buffer)  # held: its methods run from its data
        method = program.load_method("forward")
        eager, args, kwargs = case.build()
    except Exception as exc:
        return [BatchRun(b, False, None, f"not loaded: {first_line(exc)}") for b in SIZES]
    runs = []
    for batch in SIZES:
        run_args, run_kwargs = draw_at(args, kwargs, keys, batch)
        try:
            outputs = list(method.execute(tree_leaves((run_args, run_kwargs))))
            with torch.no_grad():
                expected = tree_leaves(eager(*run_args, **run_kwargs))
        except Exception as exc:
            runs.append(BatchRun(batch, False, None, first_line(exc)))
            continue
        error, why = _max_error(outputs, expected)
        runs.append(BatchRun(batch, error is not None, error, why))
    return runs


def plain_dynamic(case: Case, target: Target, keys: list) -> DynamicSide:
    """The plain torch / executorch API, batch dim dynamic, then run at batch 1, 2 and 4."""
    import inspect

    import torch
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    from ..backends import get_backend

    start = time.perf_counter()
    side = DynamicSide("failed")

    def fail(stage: str, exc: BaseException) -> DynamicSide:
        side.stage, side.message = stage, first_line(exc)
        side.seconds = round(time.perf_counter() - start, 3)
        return side

    try:
        module, args, kwargs = case.build()
    except Exception as exc:
        return fail("build", exc)
    batch = torch.export.Dim("batch", min=BATCH[0], max=BATCH[1])
    widened = {  # torch specializes an example batch of 1: export with 2 (its row repeated)
        k: torch.cat([_get(args, kwargs, k)] * 2)
        for k in keys
        if _get(args, kwargs, k).shape[0] < 2
    }
    export_args, export_kwargs = _with(args, kwargs, widened)
    if export_kwargs:  # torch wants every argument by name when some are keywords
        bound = inspect.signature(module.forward).bind(*export_args, **export_kwargs).arguments
        names = list(bound)
        shapes: Any = {
            n: {0: batch} if (i if i < len(args) else n) in keys else None
            for i, n in enumerate(names)
        }
    else:
        shapes = tuple({0: batch} if i in keys else None for i in range(len(args)))
    try:
        with route_stderr(io.StringIO()):  # torch prints the partial graph of a failed export
            program = torch.export.export(
                module, export_args, kwargs=export_kwargs, dynamic_shapes=shapes
            )
    except Exception as exc:
        return fail("export", exc)
    backend = get_backend(target.backends[0])
    own = of_backend(target.options, backend.name)
    options: dict[str, Any] = {"partitioner": backend.partitioners(target.scheme, own)}
    if backend.edge_compile_config() is not None:
        options["compile_config"] = backend.edge_compile_config()
    try:
        edge = to_edge_transform_and_lower(program, **options)
    except Exception as exc:
        return fail(plain_stage(exc), exc)
    info = get_delegation_info(edge.exported_program().graph_module)
    side.delegated, side.non_delegated = info.num_delegated_nodes, info.num_non_delegated_nodes
    try:
        buffer = bytes(edge.to_executorch().buffer)
    except Exception as exc:
        return fail("to_executorch", exc)
    side.status = "ok"
    side.runs = _plain_runs(buffer, case, keys)
    side.seconds = round(time.perf_counter() - start, 3)
    return side


def workbench_dynamic(case: Case, target: Target, keys: list) -> DynamicSide:
    """`lower(..., dynamic_shapes=..., cache=True)` and `check_dynamic()` on a fresh build."""
    import torch

    from ..lowering import lower

    start = time.perf_counter()
    side = DynamicSide("error")
    try:
        module, args, kwargs = case.build()
    except Exception as exc:
        side.stage, side.message = "build", first_line(exc)
        return side
    batch = torch.export.Dim("batch", min=BATCH[0], max=BATCH[1])
    try:
        result = lower(
            module,
            list(target.backends),
            example_inputs=args,
            example_kwargs=kwargs or None,
            dynamic_shapes={key: {0: batch} for key in keys},
            options=target.options or None,
            cache=True,
        )[target.lowering_label]
    except Exception as exc:  # the API refused the case
        side.stage, side.message = "api", first_line(exc)
        side.seconds = round(time.perf_counter() - start, 3)
        return side
    side.cached = result.cached
    if result.status != "ok":
        side.status = "failed"
        if result.error is not None:
            side.stage = WORKBENCH_STAGE.get(result.error.stage, result.error.stage)
            side.message = f"{result.error.type}: {result.error.message.strip()[:400]}"
        else:
            side.stage, side.message = "unavailable", result.reason
        side.seconds = round(time.perf_counter() - start, 3)
        return side
    side.status = "ok"
    side.delegated = result.placement.delegated_nodes
    side.non_delegated = result.placement.fallback_nodes
    at = {"min": BATCH[0], "mid": (BATCH[0] + BATCH[1]) // 2, "max": BATCH[1]}
    try:
        side.runs = [
            BatchRun(at[row.point], row.ran, row.max_abs_error, row.message)
            for row in result.check_dynamic()
        ]
    except Exception as exc:
        side.runs = [
            BatchRun(b, False, None, f"check_dynamic raised: {first_line(exc)}") for b in SIZES
        ]
    side.seconds = round(time.perf_counter() - start, 3)
    return side


def errors_agree(a: float, b: float) -> bool:
    return abs(a - b) <= CLOSE or max(a, b) <= SMALL


def judge_dynamic(record: DynamicBatchRecord) -> DynamicBatchRecord:
    """Same outcome (both lower, or both fail in the same stage), same counts, and at each
    batch size the same ran / not ran and errors that agree."""
    plain, work, diff = record.plain, record.workbench, record.differences
    if plain.stage == "build" or work.status == "error":
        record.outcome = "error"
        side = "case build" if plain.stage == "build" else "workbench API"
        diff.append(f"{side} raised: {plain.message or work.message}")
        return record
    if plain.status != "ok" or work.status != "ok":
        if not (plain.status == work.status == "failed" and plain.stage == work.stage):
            diff.append(
                f"plain {plain.status}{' at ' + plain.stage if plain.stage else ''}, "
                f"workbench {work.status}{' at ' + work.stage if work.stage else ''}"
            )
        record.outcome = "mismatch" if diff else "agree"
        return record
    for what, a, b in (
        ("delegated nodes", plain.delegated, work.delegated),
        ("non-delegated nodes", plain.non_delegated, work.non_delegated),
    ):
        if a != b:
            diff.append(f"{what}: plain {a}, workbench {b}")
    theirs = {r.batch: r for r in work.runs}
    for mine in plain.runs:
        other = theirs.get(mine.batch)
        if other is None:
            diff.append(f"batch {mine.batch}: the workbench did not run it")
        elif mine.ran != other.ran:
            diff.append(
                f"batch {mine.batch}: plain {'ran' if mine.ran else 'not run'}, "
                f"workbench {'ran' if other.ran else 'not run'}"
            )
        elif mine.ran and not errors_agree(mine.max_abs_error, other.max_abs_error):
            diff.append(
                f"batch {mine.batch}: max abs error plain {mine.max_abs_error:.3g}, "
                f"workbench {other.max_abs_error:.3g}"
            )
    record.outcome = "mismatch" if diff else "agree"
    return record


def compare_dynamic(case: Case, target: Target) -> DynamicBatchRecord:
    """Both sides of the dynamic-batch pair on `case` for `target`, judged."""
    start = time.perf_counter()
    record = DynamicBatchRecord(case.suite, case.name, target.label, "", note=case.note)
    try:
        _, args, kwargs = case.build()
    except Exception as exc:
        record.outcome = "error"
        record.differences.append(f"case build raised: {first_line(exc)}")
        return record
    keys = batch_inputs(args, kwargs)
    record.batch_inputs = [str(k) for k in keys]
    if not keys:
        record.outcome = "not_applicable"
        record.differences.append("no tensor input with a batch dim (2+ dims)")
        return record
    record.plain = plain_dynamic(case, target, keys)
    record.workbench = workbench_dynamic(case, target, keys)
    judge_dynamic(record)
    record.seconds = round(time.perf_counter() - start, 3)
    return record


def worker_failure(case: Case, backend: str, why: str) -> dict:
    """The record of a case whose worker timed out or died."""
    side = DynamicSide("error", stage="worker", message=why)
    record = DynamicBatchRecord(
        case.suite, case.name, backend, "error", [why], plain=side, workbench=side, note=case.note
    )
    return record.to_dict()
