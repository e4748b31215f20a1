"""Atomic file writes (a reader never sees a half-written .pte or report), with the user's
umask, and the checks that find an unwritable or unreadable path before any work is done."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from .errors import UsageError

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where possible.

    Linux reports it in /proc/self/status; elsewhere it can only be read by setting it, which
    is done under a lock so two writers in this process never see each other's temporary value.
    """
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("Umask:"):
                        return int(line.split()[1], 8)
        except (OSError, ValueError, IndexError):
            pass
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (a dangling symlink counts as existing)."""
    current = path
    while not os.path.lexists(current) and current.parent != current:
        current = current.parent
    return current


def check_writable_dir(
    path: str | os.PathLike,
    what: str = "output directory",
    fix: str = "choose a writable directory",
) -> Path:
    """Make sure files can be written into directory `path` (it exists or can be created).

    Raises UsageError naming `what`, the path and the reason; creates nothing that stays. For
    root, permission bits say little, so the check really creates (and removes) a probe file in
    the directory, or in the nearest existing ancestor that the missing part would be made in.
    """
    target = Path(os.path.abspath(Path(path).expanduser()))
    where = f"{what} {str(path)!r}"
    existing = _nearest_existing(target)
    if not os.path.isdir(existing):
        if os.path.islink(existing) and not os.path.exists(existing):
            reason = f"{str(existing)!r} is a broken symbolic link"
        elif existing == target:
            reason = "it is a file, not a directory"
        else:
            reason = f"{str(existing)!r} is a file, not a directory"
        raise UsageError(f"cannot write to {where}: {reason}; {fix}")
    if not os.access(existing, os.W_OK | os.X_OK):
        owner = "it" if existing == target else f"{str(existing)!r}"
        raise UsageError(
            f"cannot write to {where}: {owner} is not writable (permission denied); {fix}"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".etwb-probe-", dir=existing)
    except OSError as exc:
        owner = "" if existing == target else f" (in {str(existing)!r})"
        raise UsageError(f"cannot write to {where}{owner}: {exc.strerror or exc}; {fix}") from exc
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return target


def check_out_dir(out_dir: str | os.PathLike | None) -> None:
    """`lower(..., out_dir=...)`: an unwritable output directory is a UsageError before exporting."""
    if out_dir is not None:
        check_writable_dir(out_dir, "output directory")


def check_cache_dir(directory: str | os.PathLike) -> None:
    """The program cache must be writable when it is on (the CLI exits 2 otherwise)."""
    check_writable_dir(
        directory,
        "the program cache directory",
        "set ETWB_CACHE_DIR to a writable directory, or pass --no-cache",
    )


def check_readable_file(path: str | os.PathLike, what: str = "file") -> None:
    """`path` exists, is a regular file and can be opened for reading; UsageError otherwise."""
    where = f"{what} {str(path)!r}"
    target = Path(path).expanduser()
    if not target.exists():
        raise UsageError(f"{where} does not exist")
    if target.is_dir():
        raise UsageError(f"{where} is a directory, not a file")
    if not os.access(target, os.R_OK):
        raise UsageError(f"{where} is not readable (permission denied)")
    try:
        with open(target, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise UsageError(f"{where} cannot be read: {exc.strerror or exc}") from exc


def _chmod_to_umask(fd: int, path: str) -> None:
    """mkstemp makes files 0600; give this one the mode open() would (0644 under umask 022)."""
    mode = 0o666 & ~current_umask()
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # pragma: no cover - Windows before Python 3.13
        os.chmod(path, mode)


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
        try:
            _chmod_to_umask(fd, tmp)
        except BaseException:
            os.close(fd)
            raise
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


_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB")


def byte_unit(largest: float | None) -> tuple[float, str]:
    """(bytes per unit, unit) for an axis whose largest value is `largest` bytes: the biggest
    of `human_bytes`'s units it reaches, so a 4 KB program is not drawn as 0.004 MB."""
    value, unit = abs(largest or 0), 0
    while unit < len(_SIZE_UNITS) - 1 and value >= 1000:
        value /= 1000
        unit += 1
    return 1000.0**unit, _SIZE_UNITS[unit]


def arena_listing(arena_bytes: Sequence[int]) -> str:
    """A memory plan's arenas by memory id, 'id 1: 12,288 bytes, id 2: 64 bytes' (id 0, which
    executorch reserves, only when it holds bytes); empty when nothing is planned."""
    return ", ".join(f"id {i}: {n:,} bytes" for i, n in enumerate(arena_bytes) if i or n)


def human_bytes(count: float | None) -> str:
    """A byte count as text people read: '512 B', '2.1 KB', '3.4 MB', '47.2 MB', '1.3 GB'.

    Decimal units (1 KB = 1000 B, 1 MB = 1e6 B, as every size view of the workbench), one
    decimal above bytes; never '0.00 MB'. None (nothing measured) is 'n/a'.
    """
    if count is None:
        return "n/a"
    value, sign = abs(float(count)), "-" if count < 0 else ""
    if value < 1000:
        return f"{sign}{value:.0f} B"
    unit = 0
    while unit < len(_SIZE_UNITS) - 1 and round(value, 1) >= 1000:
        value /= 1000
        unit += 1
    return f"{sign}{value:.1f} {_SIZE_UNITS[unit]}"
