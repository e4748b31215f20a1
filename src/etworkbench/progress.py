"""Progress of a lowering: one typed event each time a program reaches a stage.

`lower(..., progress=callback)` calls `callback(Progress(...))`. `backend` is the program's
label (a backend name, or "a+b" for a priority list; a sweep prefixes the model:
"mobilenet_v2/xnnpack"). `stage` is one of `STAGES`; `done` and `total` count the steps of a
stage that has them (calibration batches, a sweep's finished cells), else both are None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# In the order a program reaches them; a program ends with "done", "cached" or "failed".
STAGES = (
    "started worker",  # a worker process took the program (parallel lowering)
    "export",
    "quantize",
    "calibrate",  # done/total: calibration batches observed
    "to_edge+partition",
    "to_executorch",
    "save",
    "cached",
    "done",
    "failed",
    "run",  # the CLI's --run, after lowering
    "resume",  # a sweep: done/total cells already on disk
)


@dataclass(frozen=True)
class Progress:
    backend: str
    stage: str
    done: int | None = None
    total: int | None = None

    def __str__(self) -> str:
        counts = f" {self.done}/{self.total}" if self.total is not None else ""
        return f"[{self.backend}] {self.stage}{counts}"


ProgressCallback = Callable[[Progress], None]


def ignore(progress: Progress) -> None:
    """The callback used when none is given."""
