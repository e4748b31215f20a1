"""Process-wide output state, thread-safe: `sys.stdout` and loggers (see `patches` for the design).

`route_stdout` / `route_stderr` are per-context `contextlib.redirect_stdout` / `_stderr`; `capture_log_records` a
per-context logging handler; both installed by their first user and removed by their last,
under `patches.PATCH_LOCK`. Loggers named here belong to torch 2.14 / executorch 1.5.1 /
coremltools 9.0 / nncf 3.1 (their module loggers).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from . import patches

_targets = {
    "stdout": ContextVar("etwb_stdout", default=None),
    "stderr": ContextVar("etwb_stderr", default=None),
}


class _Routed:
    """Stands for `sys.stdout` / `sys.stderr`: writes go to this context's target, else to
    the stream it replaced."""

    def __init__(self, name: str, base: Any) -> None:
        self.name, self.base = name, base

    def _stream(self) -> Any:
        target = _targets[self.name].get()
        return self.base if target is None else target

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def writelines(self, lines: Any) -> None:
        self._stream().writelines(lines)

    def flush(self) -> None:
        self._stream().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


_routing: dict[str, list] = {"stdout": [0, None], "stderr": [0, None]}  # [users, _Routed]


@contextlib.contextmanager
def _route(name: str, target: Any) -> Iterator[None]:
    with patches.PATCH_LOCK:
        entry = _routing[name]
        if entry[0] == 0:
            entry[1] = _Routed(name, getattr(sys, name))
            setattr(sys, name, entry[1])
        entry[0] += 1
    token = _targets[name].set(target)
    try:
        yield
    finally:
        _targets[name].reset(token)
        with patches.PATCH_LOCK:
            entry[0] -= 1
            if entry[0] == 0:
                if getattr(sys, name) is entry[1]:
                    setattr(sys, name, entry[1].base)
                entry[1] = None


def route_stdout(target: Any) -> contextlib.AbstractContextManager:
    """Python-level `print`s of this context go to `target` while the block runs; other
    threads' go where they went (a thread-safe `contextlib.redirect_stdout`)."""
    return _route("stdout", target)


def route_stderr(target: Any) -> contextlib.AbstractContextManager:
    """The same for `sys.stderr` (a thread-safe `contextlib.redirect_stderr`)."""
    return _route("stderr", target)


class _LogDispatch(logging.Handler):
    """The one handler of a captured logger: records go to this context's sinks for it; with
    none here, to where the logger would have sent them."""

    def __init__(self, logger: logging.Logger, level: int, propagate: bool) -> None:
        super().__init__(level=logging.NOTSET)
        self.logger, self.saved_level, self.saved_propagate = logger, level, propagate
        self.users = 0

    def emit(self, record: logging.LogRecord) -> None:
        sinks = [sink for name, sink in _log_hooks.get() if name == self.logger.name]
        for sink in sinks:
            sink(record)
        if sinks or not self.saved_propagate or self.logger.parent is None:
            return
        threshold = self.saved_level or self.logger.parent.getEffectiveLevel()
        if record.levelno >= threshold:
            self.logger.parent.handle(record)


_log_hooks: ContextVar[tuple] = ContextVar("etwb_log", default=())
_log_dispatchers: dict[str, _LogDispatch] = {}


@contextlib.contextmanager
def capture_log_records(logger_name: str, sink: Callable[[logging.LogRecord], None], level: int):
    """`sink(record)` for the records (at `level` and above) this context logs to `logger_name`
    while the block runs, kept out of the user's output (the logger does not propagate)."""
    with patches.PATCH_LOCK:
        dispatch = _log_dispatchers.get(logger_name)
        if dispatch is None:
            logger = logging.getLogger(logger_name)
            dispatch = _LogDispatch(logger, logger.level, logger.propagate)
            _log_dispatchers[logger_name] = dispatch
            logger.addHandler(dispatch)
            logger.setLevel(level)
            logger.propagate = False
        dispatch.users += 1
    token = _log_hooks.set((*_log_hooks.get(), (logger_name, sink)))
    try:
        yield
    finally:
        _log_hooks.reset(token)
        with patches.PATCH_LOCK:
            dispatch.users -= 1
            if dispatch.users == 0:
                logger = dispatch.logger
                logger.removeHandler(dispatch)
                logger.setLevel(dispatch.saved_level)
                logger.propagate = dispatch.saved_propagate
                del _log_dispatchers[logger_name]


_quiet: dict[str, list] = {}  # logger name -> [users, saved level]


@contextlib.contextmanager
def quiet_logger(logger_name: str, level: int) -> Iterator[None]:
    """The logger at `level` while any block of this kind runs (any thread), then restored."""
    with patches.PATCH_LOCK:
        logger = logging.getLogger(logger_name)
        entry = _quiet.setdefault(logger_name, [0, logger.level])
        if entry[0] == 0:
            entry[1] = logger.level
            logger.setLevel(level)
        entry[0] += 1
    try:
        yield
    finally:
        with patches.PATCH_LOCK:
            entry[0] -= 1
            if entry[0] == 0:
                logging.getLogger(logger_name).setLevel(entry[1])
                del _quiet[logger_name]


@contextlib.contextmanager
def keep_logger_level(logger_name: str = "") -> Iterator[None]:
    """Undo what imports in the block do to a logger's level (Vulkan's set the root logger to
    INFO at import); under the lock, so two threads importing cannot restore in a bad order."""
    with patches.PATCH_LOCK:
        logger = logging.getLogger(logger_name)
        level = logger.level
        try:
            yield
        finally:
            logger.setLevel(level)
