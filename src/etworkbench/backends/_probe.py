"""Fast, side-effect-free probes: look on disk and in the environment, never import a backend."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path


def executorch_dir() -> Path | None:
    """The installed executorch package directory, found without importing it."""
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def has_module(name: str) -> bool:
    """Whether a top-level module is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def has_executorch_file(*parts: str) -> bool:
    root = executorch_dir()
    return root is not None and root.joinpath(*parts).exists()


def find_executable(env_var: str, *names: str) -> str | None:
    """`$env_var` when it names an executable, else the first of `names` on PATH or beside
    this Python (a venv's console scripts are there even when the venv is not activated)."""
    path = os.environ.get(env_var)
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    here = os.path.dirname(sys.executable)
    for name in names:
        found = shutil.which(name) or shutil.which(name, path=here)
        if found:
            return found
    return None


def run_version(executable: str, timeout: float = 1.0) -> tuple[bool, str]:
    """Run `executable --version`; (ok, first lines of its output or error)."""
    try:
        done = subprocess.run(  # noqa: S603 - a local tool the user installed
            [executable, "--version"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    text = (done.stdout or done.stderr).strip()
    return done.returncode == 0, " ".join(text.splitlines()[:2])


def glibc_version() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return ""
