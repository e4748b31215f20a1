"""Where the program cache lives: one rule for the cache and the ETRecords stored beside it
(a leaf module, so `_etrecord` can use it without importing `_cache` and closing a cycle)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$ETWB_CACHE_DIR`, else `$XDG_CACHE_HOME/etworkbench`, else `~/.cache/etworkbench`."""
    explicit = os.environ.get("ETWB_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "etworkbench"
