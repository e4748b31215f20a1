"""What every `etwb` command shares: exit codes, clean stdout, early path checks, progress."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from .._compat import PYTREE_LOGGER
from .._stdout import json_stdout
from ..progress import Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def clean_stdout(machine: bool):
    """While user code runs, its prints go to stderr when stdout carries machine output
    (see `_stdout.json_stdout`); yields the stream to write that output to."""
    return json_stdout() if machine else contextlib.nullcontext(sys.stdout)


def check_paths(
    out: str | None = None, cache: bool = False, calibration: str | None = None
) -> None:
    """Fail in a second, before anything is built or exported: an unwritable --out or cache
    directory, or an unreadable calibration file, is a usage error naming the path."""
    from .._io import check_cache_dir, check_readable_file, check_writable_dir

    if out is not None:
        check_writable_dir(out, "--out")
    if cache:
        from ..lowering._cache import cache_dir

        check_cache_dir(cache_dir())
    if calibration is not None:
        check_readable_file(calibration, "calibration file")


def quiet_libraries() -> None:
    """Keep executorch/torch warnings and C++ logs out of the summary the user reads."""
    import warnings

    from .._compat.output import quiet_native_noise

    quiet_native_noise()  # C++ lines on fd 2 at import / runtime load (see there)

    warnings.filterwarnings("ignore")  # the libraries' (deprecations, experimental APIs)
    # the workbench's own (e.g. the version guard's) are for the user: once, in plain words
    warnings.filterwarnings("once", module=r"etworkbench(\.|$)")
    warnings.showwarning = _plain_warning
    logging.getLogger().setLevel(logging.ERROR)
    # import-time deprecation noise
    logging.getLogger(PYTREE_LOGGER).setLevel(logging.ERROR)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    os.environ.setdefault("TORCH_LOGS", "-dynamic")  # symbolic-shape warnings of failed exports


def _plain_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"etwb: warning: {message}", file=file or sys.stderr, flush=True)


class ProgressPrinter:
    """Progress on stderr: a line per stage (unless `quiet`, for --json), and for counted stages
    (calibration batches) one tqdm bar per program, or a line per step where tqdm is missing."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bars: dict[tuple[str, str], object] = {}

    def __call__(self, event: Progress) -> None:
        if event.total is None:
            if not self.quiet:
                print(f"  {event}", file=sys.stderr, flush=True)
            return
        try:
            from tqdm import tqdm
        except ImportError:
            print(f"  {event}", file=sys.stderr, flush=True)
            return
        key = (event.backend, event.stage)
        bar = self.bars.get(key)
        if bar is None:
            bar = self.bars[key] = tqdm(
                total=event.total,
                desc=f"  [{event.backend}] {event.stage}",
                unit="batch",
                file=sys.stderr,
            )
        bar.update((event.done or 0) - bar.n)
        if (event.done or 0) >= event.total:
            bar.close()
