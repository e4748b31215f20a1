"""Running a sweep: one JSON file per (model, backend, scheme) cell, finished cells never redone.

Cells are written atomically, so an interrupted sweep (Ctrl-C, a killed worker, a crash) leaves
only whole cells behind and the next run picks up where it stopped. Each model's remaining
cells are lowered in isolated worker processes (`lower_in_workers`), `jobs` at a time; with
`executor="dask"` each cell is a task on a dask.distributed cluster instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._io import check_writable_dir
from ..backends import get_backend
from ..errors import UsageError
from ..models import list_models
from ..progress import Progress, ProgressCallback, ignore
from ._cells import SweepCell, write_cell


def expand_models(models: Sequence[str] | str) -> list[str]:
    """`all` means the whole zoo; a comma-separated string is split."""
    names = (
        models.split(",") if isinstance(models, str) else [m for x in models for m in x.split(",")]
    )
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        return [entry.name for entry in list_models()]
    if not names:
        raise UsageError("no models given; pass --models a,b,c or --models all")
    return names


def plan(
    models: Sequence[str] | str, backends: Sequence[str], schemes: Sequence[str | None]
) -> list[SweepCell]:
    cells = []
    for model in expand_models(models):
        for name in backends:
            backend = get_backend(name)
            for scheme in schemes:
                cells.append(
                    SweepCell(model, backend.name, (scheme or backend.default_scheme).lower())
                )
    return cells


def run_sweep(
    models: Sequence[str] | str,
    backends: Sequence[str],
    out_dir: str | Path,
    *,
    schemes: Sequence[str | None] = (None,),
    jobs: int | None = None,
    timeout: float | None = None,
    executor: str = "local",
    progress: ProgressCallback | None = None,
) -> list[dict]:
    """Run every cell not already on disk; return all cell records (old and new)."""
    out = Path(out_dir)
    check_writable_dir(out, "sweep output directory")  # before any model is built
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    cells = plan(models, backends, schemes)
    todo = [c for c in cells if not (cells_dir / c.filename).exists()]
    notify = progress or ignore
    notify(Progress("sweep", "resume", done=len(cells) - len(todo), total=len(cells)))
    if executor == "local":
        _run_local(todo, cells_dir, jobs, timeout, notify)
    elif executor == "dask":
        from ._dask import run_dask

        run_dask(todo, cells_dir, jobs, notify)
    else:
        raise UsageError(f"unknown executor {executor!r}; choose one of: local, dask")
    return [
        json.loads((cells_dir / c.filename).read_text())
        for c in cells
        if (cells_dir / c.filename).exists()
    ]


def _run_local(
    todo: list[SweepCell], cells_dir: Path, jobs, timeout, notify: ProgressCallback
) -> None:
    from ..lowering._workers import lower_in_workers

    # Cells of one model at each backend's default scheme go to one call (one shared export),
    # even when the defaults differ (fp16 for Core ML, fp32 for the others).
    by_key: dict[tuple[str, str | None], list[SweepCell]] = {}
    for cell in todo:
        default = cell.scheme == get_backend(cell.backend).default_scheme
        by_key.setdefault((cell.model, None if default else cell.scheme), []).append(cell)
    for (model, scheme), group in by_key.items():
        cells = []
        for cell in group:
            backend = get_backend(cell.backend)
            if backend.availability.available and cell.scheme not in backend.schemes:
                write_cell(cells_dir, cell, _no_scheme(cell, backend))
            else:
                cells.append(cell)
        if not cells:
            continue
        by_label = {get_backend(c.backend).name: c for c in cells}
        # Each cell is written as its program ends: an interrupt keeps every finished cell.
        lower_in_workers(
            model,
            list(by_label),
            scheme,
            jobs=jobs,
            timeout=timeout,
            progress=lambda event, m=model: notify(replace(event, backend=f"{m}/{event.backend}")),
            on_result=lambda result, c=by_label: write_cell(cells_dir, c[result.backend], result),
        )


def _no_scheme(cell: SweepCell, backend: Any) -> Any:
    from ..lowering import BackendResult

    return BackendResult(
        cell.backend,
        [cell.backend],
        cell.scheme,
        "unavailable",
        model=cell.model,
        reason=f"{backend.title} has no scheme {cell.scheme!r} (its schemes: {', '.join(backend.schemes)})",
    )
