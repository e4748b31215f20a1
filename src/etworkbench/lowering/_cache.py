"""On-disk cache of lowered programs, so asking again costs milliseconds, not seconds.

A program is keyed by what determines it: the model (zoo name, or a digest of its exported
program and example inputs: `_fingerprint`), the backends in order, the scheme, and the
versions of torch, executorch and etworkbench. An entry is a pickled `BackendResult` (the
placement report) and, beside it, the raw .pte, both written atomically; a hit opens the .pte and
reads it only when the bytes are used, so a 47 MB program is served in milliseconds. The cache
survives kernel restarts, keeps under a size limit by dropping the least recently used entries,
and `etwb cache clear` empties it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes
from ._cache_dir import cache_dir
from ._fingerprint import program_fingerprint
from ._results import BackendResult

FORMAT = 4  # bump when zoo models, the keys or the pickled result change
DEFAULT_LIMIT_BYTES = 2 << 30


def size_limit() -> int:
    return int(os.environ.get("ETWB_CACHE_LIMIT_BYTES", DEFAULT_LIMIT_BYTES))


def _versions() -> str:
    from importlib import metadata

    parts = []
    for dist in ("torch", "executorch", "etworkbench", "coremltools", "openvino", "torchao"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    from ._results import RESULT_FORMAT

    parts.append(f"result-format={RESULT_FORMAT}")
    return ";".join(parts)


def model_fingerprint(spec: Any, exported: Any = None) -> str:
    """Zoo models are deterministic by name (fixed seed, no weights); others are keyed by their
    exported program (`_fingerprint`), so `exported` is required for them. Dynamic dims are
    part of both: a zoo name's program depends on them, and a user module's program holds them
    (its ranges and symbolic shapes), recorded again here so no spelling can collide."""
    from ..models._dynamic import key_text

    dims = tuple(getattr(spec, "dynamic_shapes", ()) or ())
    dynamic = f";dynamic={key_text(dims)}" if dims else ""
    if spec.source == "zoo":
        return f"zoo:{spec.name}{dynamic}"
    if exported is None:
        raise ValueError(f"{spec.name}: a user module is keyed by its exported program")
    return (
        "program:"
        + program_fingerprint(exported, spec.example_inputs, getattr(spec, "example_kwargs", None))
        + dynamic
    )


_facts: dict[str, tuple[str, int]] = {}  # fingerprint -> facts, for this process


def model_facts(spec: Any, disk: bool = True) -> tuple[str, int]:
    """(inputs description, parameter bytes) of `spec`, without building an unbuilt zoo model.

    Zoo models' facts are remembered per process and, with `disk`, in the on-disk cache next to
    the programs, so a `LazyZooSpec` served from either is never built for them.
    """
    if spec.source != "zoo":
        return spec.describe_inputs(), spec.parameter_bytes
    fingerprint = model_fingerprint(spec)
    facts = _facts.get(fingerprint)
    cache = ProgramCache() if disk else None
    key = program_key(fingerprint, [], "", "model-facts")
    if facts is None and cache is not None and getattr(spec, "built", True) is False:
        cached = cache.get(key)
        if isinstance(cached, tuple) and len(cached) == 2:
            facts = cached
    if facts is None:
        facts = (spec.describe_inputs(), spec.parameter_bytes)
    _facts[fingerprint] = facts
    if cache is not None and not cache.has(key):  # known in memory, e.g. from a preview
        cache.put_value(key, facts)
    return facts


@functools.cache
def _versions_cached() -> str:
    return _versions()


def program_key(model_key: str, backends: list[str], scheme: str, extra: str = "") -> str:
    """The key of one program: `model_key` (`model_fingerprint`), what it is lowered for, versions."""
    text = "|".join(
        [
            f"v{FORMAT}",
            _versions_cached(),
            model_key,
            "+".join(backends),
            scheme,
            extra,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CacheInfo:
    directory: str
    entries: int
    bytes: int
    limit_bytes: int


class ProgramCache:
    """Get and put lowered programs by key."""

    def __init__(self, directory: Path | None = None, limit: int | None = None) -> None:
        self.directory = Path(directory) if directory else cache_dir()
        self.limit = limit if limit is not None else size_limit()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.pkl"

    def has(self, key: str) -> bool:
        return self._path(key).exists()

    def get(self, key: str) -> Any | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
            entry = pickle.loads(data)
            if isinstance(entry, BackendResult):
                entry.attach_stored_program(_pte_path(path))  # read on first use
        except FileNotFoundError:
            _remove(path)  # a result without its .pte (or none at all) is a miss
            return None
        except Exception:  # a corrupt or incompatible entry is a miss, and is removed
            _remove(path)
            return None
        os.utime(path)  # recently used
        return entry

    def discard(self, key: str) -> None:
        _remove(self._path(key))

    def put(self, key: str, result: Any) -> None:
        """Store `result`; a `BackendResult`'s .pte is written beside the entry, not inside it."""
        pte = None
        if isinstance(result, BackendResult):
            pte = result.pte_data
            result = result.for_cache()
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        if pte is not None:
            try:
                atomic_write_bytes(_pte_path(self._path(key)), pte)
            except Exception:
                return  # a cache that cannot be written is not an error for the lowering
        self._write(key, data)

    def put_value(self, key: str, value: Any) -> None:
        """Store a small picklable value (e.g. a model's facts) under `key`."""
        self._write(key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def _write(self, key: str, data: bytes) -> None:
        try:
            atomic_write_bytes(self._path(key), data)
        except Exception:
            return  # a cache that cannot be written is not an error for the lowering
        self._evict()

    def _entries(self) -> list[Path]:
        if not self.directory.exists():
            return []
        return list(self.directory.glob("*/*.pkl"))

    def _evict(self) -> None:
        entries = sorted(self._entries(), key=lambda p: p.stat().st_mtime)
        total = sum(_entry_bytes(p) for p in entries)
        while entries and total > self.limit:
            oldest = entries.pop(0)
            total -= _entry_bytes(oldest)
            _remove(oldest)

    def info(self) -> CacheInfo:
        entries = self._entries()
        return CacheInfo(
            str(self.directory), len(entries), sum(_entry_bytes(p) for p in entries), self.limit
        )

    def clear(self) -> int:
        removed = 0
        for path in self._entries():
            _remove(path)
            removed += 1
        if self.directory.exists():  # a .pte whose entry was never written (interrupted put)
            for orphan in self.directory.glob("*/*.pte"):
                orphan.unlink(missing_ok=True)
        return removed


def _pte_path(entry: Path) -> Path:
    return entry.with_suffix(".pte")


def _entry_bytes(entry: Path) -> int:
    pte = _pte_path(entry)
    return entry.stat().st_size + (pte.stat().st_size if pte.exists() else 0)


def _remove(entry: Path) -> None:
    entry.unlink(missing_ok=True)
    _pte_path(entry).unlink(missing_ok=True)
