"""Stage timing inside `to_edge_transform_and_lower`: partition and preprocess, separated.

executorch runs decomposition, partitioning and each backend's preprocess inside one call. We
time the partitioners' `partition()` and the backend preprocess entry points by wrapping them
for the duration of one lowering (`_compat.patches`: thread-safe), so a report can say where
the seconds went and which stage raised.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any


class StageClock:
    """Accumulates seconds per stage and remembers the stage an exception escaped from."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.failed_stage: str | None = None

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def wrap(self, stage: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            except BaseException:
                if self.failed_stage is None:
                    self.failed_stage = stage
                raise
            finally:
                self.add(stage, time.perf_counter() - start)

        return timed


@contextlib.contextmanager
def timed_partition_and_preprocess(
    clock: StageClock,
    partitioners: list[Any],
    around_partition: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Iterator[None]:
    """Time partition and preprocess; `around_partition()` is entered for each `partition()`
    call only (reason capture: its debug logging must not slow the backend's compiler).

    While a partitioner runs, `_compat.patches.current_backend()` names the backend that built
    it, so a priority group's reasons are recorded under the backend that gave them. The
    patches are thread-safe: they act for this thread only (see `_compat.patches`).
    """
    from .._compat.patches import around_partition as each_partition
    from .._compat.patches import around_preprocess

    def partition(partitioner: Any, fn: Any) -> Any:
        return clock.wrap("partition", _within(around_partition, fn))

    with (
        each_partition(partitioners, partition),
        around_preprocess(lambda fn: clock.wrap("preprocess", fn)),
    ):
        yield


def _within(context: Callable[[], contextlib.AbstractContextManager], fn: Any) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        with context():
            return fn(*args, **kwargs)

    return run
