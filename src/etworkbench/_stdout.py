"""Keep machine-readable output clean while user code runs.

Model factories, models and the libraries they import print banners to stdout, from Python and
from C. In `--json` mode those bytes would land in front of the JSON object and break every
parser downstream, so while the workbench runs user code it points stdout at stderr at the
file-descriptor level (fd 1 becomes a copy of fd 2, covering C extensions and forked or spawned
worker processes, which inherit it) and `sys.stdout` at `sys.stderr`; the JSON is written to the
saved real stdout at the end::

    with json_stdout() as real_out:
        report = lower(...)  # anything printed here goes to stderr
        real_out.write(report.to_json() + "\\n")

Everything is restored on the way out, also when the body raises.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import TextIO

STDOUT_FD, STDERR_FD = 1, 2


def _flush(*streams: object) -> None:
    for stream in streams:
        try:
            stream.flush()  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            pass  # closed or not a stream: nothing buffered to lose


def _fileno(stream: object) -> int | None:
    try:
        return stream.fileno()  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


@contextlib.contextmanager
def json_stdout() -> Iterator[TextIO]:
    """Send everything written to stdout (Python or C, this process or its children) to stderr
    while the block runs; yield a text stream that writes to the real stdout.

    If `sys.stdout` is not fd 1 (pytest's capsys, a notebook), the stream yielded is that
    `sys.stdout` object, so the JSON goes where a caller capturing it expects. Write the
    machine-readable output to the yielded stream inside the block.
    """
    original = sys.stdout
    _flush(original, sys.__stdout__, sys.stderr)
    try:
        saved_fd = os.dup(STDOUT_FD)
    except OSError:  # no fd 1 (closed stdout): nothing at the fd level to protect
        saved_fd = None
    if saved_fd is not None:
        try:
            os.dup2(STDERR_FD, STDOUT_FD)
        except OSError:  # no usable fd 2: leave fd 1 as it is
            os.close(saved_fd)
            saved_fd = None
    if saved_fd is not None and _fileno(original) == STDOUT_FD:
        # sys.stdout wrote to fd 1, which now means stderr: the JSON goes to the saved copy.
        real_out: TextIO = open(  # noqa: SIM115 - closed below, after the last flush
            saved_fd,
            "w",
            encoding=getattr(original, "encoding", None) or "utf-8",
            errors=getattr(original, "errors", None) or "strict",
            closefd=False,
        )
    else:
        real_out = original
    sys.stdout = sys.stderr
    try:
        yield real_out
    finally:
        # What user code left in Python buffers belongs on stderr: flush it before fd 1 returns.
        _flush(sys.stdout, sys.__stdout__, sys.stderr)
        _flush(real_out)
        sys.stdout = original
        if saved_fd is not None:
            if real_out is not original:
                with contextlib.suppress(OSError, ValueError):
                    real_out.close()
            os.dup2(saved_fd, STDOUT_FD)
            os.close(saved_fd)
