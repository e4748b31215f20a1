"""Atomic file writes: a reader never sees a half-written .pte or report."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` via a temp file in the same directory and an atomic rename.

    On any failure (unwritable directory, full disk, interrupt) the temp file is removed and
    an existing file at `path` is left untouched.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(
            f"cannot save to {str(target)!r}: it is a directory; give a file path such as {str(target / 'model.pte')!r}"
        )
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create directory {str(parent)!r} for {target.name!r}: {exc.strerror or exc}; choose a writable location"
            ) from exc
    if not parent.is_dir():
        raise UsageError(
            f"cannot save to {str(target)!r}: {str(parent)!r} is a file, not a directory; "
            "choose another location"
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write {str(target)!r}: {exc.strerror or exc}; choose a writable location"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise UsageError(
                f"cannot write {str(target)!r}: {exc.strerror or exc}; free space or choose another location"
            ) from exc
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
