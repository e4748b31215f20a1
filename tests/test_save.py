"""Atomic .pte writes: an interrupted save leaves no partial file, no temp file, the old file intact."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from etworkbench import UsageError
from etworkbench._io import atomic_write_bytes
from etworkbench.cli import main

DATA = bytes(range(256)) * 64  # 16 KiB


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _interrupt_at_fsync(monkeypatch, directory: Path, exc: BaseException) -> list[list[str]]:
    """Make os.fsync raise `exc`, after recording that the temp file held all the data."""
    seen: list[list[str]] = []

    def fsync(fd):
        seen.append([f"{p.name}:{p.stat().st_size}" for p in directory.iterdir()])
        raise exc

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_interrupt_during_save_leaves_nothing(tmp_path, monkeypatch):
    seen = _interrupt_at_fsync(monkeypatch, tmp_path, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "m.pte", DATA)
    # The write really was under way: a hidden temp file with every byte, beside the target.
    ((temp,),) = seen
    assert temp.startswith(".m.pte.") and temp.endswith(f".tmp:{len(DATA)}")
    assert _names(tmp_path) == []


def test_interrupt_keeps_the_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "m.pte"
    target.write_bytes(b"old program")
    _interrupt_at_fsync(monkeypatch, tmp_path, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, DATA)
    assert _names(tmp_path) == ["m.pte"] and target.read_bytes() == b"old program"


def test_error_in_the_middle_of_write(tmp_path, monkeypatch):
    """The file object fails after half the bytes (an I/O error), not at fsync."""
    target = tmp_path / "m.pte"
    target.write_bytes(b"old program")
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(UsageError, match=r"cannot write '.*m\.pte': Input/output error"):
        atomic_write_bytes(target, DATA)
    assert _names(tmp_path) == ["m.pte"] and target.read_bytes() == b"old program"


def test_failed_rename_removes_the_temp_file(tmp_path, monkeypatch):
    def cross_device(src, dst):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", cross_device)
    with pytest.raises(UsageError, match="Invalid cross-device link"):
        atomic_write_bytes(tmp_path / "m.pte", DATA)
    assert _names(tmp_path) == []


def test_successful_save_replaces_in_one_step(tmp_path):
    target = tmp_path / "deeper" / "m.pte"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, DATA)
    assert target.read_bytes() == DATA and _names(target.parent) == ["m.pte"]


def test_interrupted_save_of_a_lowering(teaching_xnnpack, tmp_path, monkeypatch):
    result = teaching_xnnpack["xnnpack"]
    _interrupt_at_fsync(monkeypatch, tmp_path, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        result.save(tmp_path / "teaching.pte")
    assert _names(tmp_path) == []


def test_cli_interrupted_while_saving(tmp_path, monkeypatch, capsys):
    seen = _interrupt_at_fsync(monkeypatch, tmp_path, KeyboardInterrupt())
    assert main(["lower", "teaching_net", "--out", str(tmp_path), "--no-cache"]) == 130
    assert seen[0][0].startswith(".teaching_net_xnnpack.pte.")  # stopped inside the .pte write
    assert "interrupted; nothing half-written was left behind" in capsys.readouterr().err
    assert _names(tmp_path) == []


# -- file modes: the user's umask, not mkstemp's 0600 ------------------------------------------
@pytest.fixture
def umask():
    old = os.umask(0o022)
    try:
        yield lambda mask: os.umask(mask)
    finally:
        os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_saved_pte_gets_the_umask_mode(teaching_xnnpack, tmp_path, umask, mask, mode):
    umask(mask)
    written = teaching_xnnpack["xnnpack"].save(tmp_path / "m.pte")
    assert written.stat().st_mode & 0o777 == mode
    other = atomic_write_bytes(tmp_path / "cells" / "c.json", DATA)  # reports, cache entries
    assert other.stat().st_mode & 0o777 == mode
    assert _names(tmp_path) == ["cells", "m.pte"]


def test_umask_is_read_without_changing_it(umask):
    from etworkbench._io import current_umask

    umask(0o037)
    assert current_umask() == 0o037
    assert os.umask(0o037) == 0o037  # still set


# -- fail before working: an unwritable out_dir is a UsageError before exporting --------------
def test_lower_rejects_an_unwritable_out_dir_before_exporting(tmp_path, monkeypatch):
    from etworkbench import lower
    from etworkbench.lowering import _engine

    def no_export(*args, **kwargs):
        raise AssertionError("exported before checking out_dir")

    monkeypatch.setattr(_engine, "_export", no_export)
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "deeper" / "sub"):
        with pytest.raises(UsageError, match="afile' is a file, not a directory|it is a file"):
            lower("teaching_net", ["xnnpack"], out_dir=out, cache=False)
    assert _names(tmp_path) == ["afile"]


def test_check_writable_dir_creates_nothing(tmp_path):
    from etworkbench._io import check_writable_dir

    check_writable_dir(tmp_path / "new" / "deeper")  # can be created: fine, and not created
    assert _names(tmp_path) == []


def test_cli_unwritable_out_is_exit_2(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    assert main(["lower", "teaching_net", "--out", str(out), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "is a file, not a directory" in err and "Traceback" not in err
    assert "] export" not in err


def test_cli_unwritable_cache_dir_is_exit_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("ETWB_CACHE_DIR", str(tmp_path / "afile" / "cache"))
    assert main(["lower", "teaching_net", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "afile" / "cache") in err and "set ETWB_CACHE_DIR" in err
    assert "--no-cache" in err and "] export" not in err
