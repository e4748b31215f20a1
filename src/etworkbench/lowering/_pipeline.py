"""`lower()`: export once, lower per backend (or per priority list), explain placement, serialize.

This is the engine behind the API, the CLI and the widgets. It uses executorch's own
machinery (`torch.export`, `to_edge_transform_and_lower`, `to_executorch`) and only adds
observation around it: stage timings, the partitioners' reasons, and failure triage. A failure
in one backend is recorded on its result and the others go on. The work is done in this
process by `_engine`, or with `jobs` in worker processes by `_workers`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import check_out_dir
from ..backends import normalize_options
from ..progress import ProgressCallback
from ._engine import lower_here
from ._fork_workers import can_fork
from ._programs import pte_filename
from ._results import LoweringReport
from ._workers import lower_in_workers

__all__ = ["lower", "pte_filename"]


def lower(
    model: Any,
    backends: Sequence[str] | str = ("xnnpack",),
    quantization: str | None = None,
    *,
    example_inputs: tuple | None = None,
    example_kwargs: dict | None = None,
    priority: bool = False,
    out_dir: str | Path | None = None,
    calibration: Iterable[tuple] | str | Path | None = None,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    cache: bool = True,
    exclude_ops: Sequence[str] | None = None,
    dynamic_shapes: Any = None,
    stop: Callable[[], bool] | None = None,
    jobs: int | None = None,
    options: Mapping[str, Any] | None = None,
    float_modules: Sequence[str] | str | None = None,
) -> LoweringReport:
    """Lower `model` for each backend (or one ordered priority list) and explain the result.

    `model` is a zoo name, a `file.py:factory` / `module:factory` reference, or an `nn.Module`
    with `example_inputs`. Returns a `LoweringReport`; `.pte` files are written to `out_dir`
    as `<model>_<backend>[_<scheme>].pte` when it is given. With `cache=True` a program already
    lowered with the same model, inputs, backends, scheme and versions is served from disk.
    `exclude_ops` (e.g. ["aten.mean.dim"]) keeps those ops on CPU in every backend.
    `dynamic_shapes` makes input dims dynamic: `{"x": {0: (1, 8)}}` or torch.export's own form
    with `Dim`s (see `models._dynamic`); `result.check_dynamic()` then runs each program at
    the ranges' min, middle and max.
    `calibration` (static schemes) is an iterable of input tuples, a tensor, or a `torch.save`
    file of them (see _calibration); by default they calibrate on the example inputs.
    `progress(event)` is called with a `Progress(backend, stage, done, total)` each time a
    program reaches a stage (see `etworkbench.progress`).
    `stop()` is asked before each backend starts (Cancel in the app): once it says True the
    rest are listed in `report.not_started`; a backend already lowering finishes.
    `jobs` lowers several programs at once in worker processes (0: as many as cores and memory
    allow; see `_workers`): the export is still shared, a crash stays in its worker, and `stop()`
    kills the running workers (their results say "Cancelled"). None or 1: in this process.
    `options` are backend compile options, `{"coreml": {"compute_unit": "CPU_ONLY"}}` or
    `{"coreml.compute_unit": "CPU_ONLY"}` (see `etwb backends --options`), checked here before
    anything is lowered; they are part of the cache key.
    `float_modules` keeps parts of a quantized program in float: module paths ("features.18"),
    module types ("torch.nn.Linear") or ATen ops ("aten.linear"), see `_keep_float`; checked
    against the model and the scheme first, and part of the cache key.
    """
    check_out_dir(out_dir)  # an unwritable out_dir is a UsageError now, not after lowering
    backend_options = normalize_options(options, backends)  # a UsageError before any work
    common: dict[str, Any] = dict(
        example_inputs=example_inputs,
        example_kwargs=example_kwargs,
        name=name,
        priority=priority,
        out_dir=out_dir,
        progress=progress,
        cache=cache,
        exclude_ops=exclude_ops,
        calibration=calibration,
        dynamic_shapes=dynamic_shapes,
        options=backend_options,
        float_modules=float_modules,
    )
    if jobs is not None and jobs != 1 and _worth_workers(model, backends, priority):
        return lower_in_workers(
            model, backends, quantization, jobs=jobs or None, cancelled=stop, **common
        )
    return lower_here(model, backends, quantization, stop=stop, **common)


def _worth_workers(model: Any, backends: Sequence[str] | str, priority: bool) -> bool:
    """Several programs, and a model that reaches a worker (forked, or named for a spawned one)."""
    programs = 1 if priority or isinstance(backends, str) else len(set(backends))
    return programs > 1 and (can_fork() or isinstance(model, str))
