"""Process-wide output state, thread-safe: `sys.stdout`, loggers and native lines on fd 2
(`quiet_native_stderr`, `quiet_native_noise`; see `patches` for the design).

`route_stdout` / `route_stderr` are per-context `contextlib.redirect_stdout` / `_stderr`; `capture_log_records` a
per-context logging handler; both installed by their first user and removed by their last,
under `patches.PATCH_LOCK`. Loggers named here belong to torch 2.14 / executorch 1.5.1 /
coremltools 9.0 / nncf 3.1 (their module loggers).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import logging
import os
import re
import sys
import tempfile
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


# -- native libraries' own lines on fd 2 ------------------------------------------------------
#
# Some C++ code writes straight to fd 2, where neither `sys.stderr` nor logging can reach it
# (executorch 1.5.1 / openvino 2025.4 / pytorch_tokenizers 1.x, measured with `etwb lower
# teaching_net --backends xnnpack openvino --run`):
# - pytorch_tokenizers' extension, at import (a static initializer): "I tokenizers:regex.cpp:40]
#   Registering override fallback regex" (imported by executorch's OpenVINO / LLM code);
# - ExecuTorch's threadpool, when the first XNNPACK program's method loads: "[cpuinfo_utils.cpp:71]
#   Reading file /sys/devices/soc0/image_version" and four more lines;
# - ExecuTorch's OpenVINO runtime, when the first OpenVINO method loads: "[OpenvinoBackend.cpp:98]
#   OpenVINO: runtime loaded successfully from ...".
# `quiet_native_stderr` points fd 2 at a temporary file around just those calls; on the way out
# what was captured goes back to stderr without the lines known as noise, or all of it when the
# call raised (so a real error is never hidden).

NATIVE_NOISE = (
    re.compile(r"I tokenizers:regex\.cpp:\d+\] Registering override fallback regex"),
    re.compile(r"\[cpuinfo_utils\.cpp:\d+\] "),
    re.compile(r"\[OpenvinoBackend\.cpp:\d+\] OpenVINO: runtime loaded successfully"),
)
NOISY_IMPORTS = frozenset({"pytorch_tokenizers.pytorch_tokenizers_cpp"})
# torch 2.14's cpp_extension logs this at import on every CPU-only host (nncf imports it)
CUDA_NOTICE = ("torch.utils.cpp_extension", re.compile(r"No CUDA runtime is found"))

_STDERR_FD = 2
_native: dict[str, Any] = {"users": 0, "saved": None, "file": None, "failed": False, "gen": 0}


def _forget_native_in_child() -> None:
    """A forked child gets its stderr back at once (a parent's capture file is not its own)."""
    if _native["users"]:
        with contextlib.suppress(OSError):
            os.dup2(_native["saved"], _STDERR_FD)
            os.close(_native["saved"])
    _native.update(users=0, saved=None, file=None, failed=False, gen=_native["gen"] + 1)


os.register_at_fork(after_in_child=_forget_native_in_child)


def _flush_stderr() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()


def _replay(captured: bytes, keep_all: bool) -> None:
    lines = captured.decode("utf-8", "replace").splitlines(keepends=True)
    kept = "".join(
        line for line in lines if keep_all or not any(p.search(line) for p in NATIVE_NOISE)
    )
    data = kept.encode("utf-8")
    while data:
        try:
            data = data[os.write(_STDERR_FD, data) :]
        except OSError:
            return


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """While the block runs, fd 2 (C/C++ and Python stderr alike, any thread) goes to a file;
    then it is written back to stderr without the `NATIVE_NOISE` lines, or whole if the block
    raised. Nested and concurrent blocks share one capture (the last one out writes it back);
    keep the blocks short: the one import or load that prints."""
    with patches.PATCH_LOCK:
        if _native["users"] == 0:
            _flush_stderr()
            try:
                capture = tempfile.TemporaryFile()
            except OSError:
                capture = None
            try:
                saved = os.dup(_STDERR_FD) if capture is not None else None
            except OSError:  # no fd 2: nothing to keep clean
                saved = None
                capture.close()
            if saved is not None:
                os.dup2(capture.fileno(), _STDERR_FD)
                _native.update(saved=saved, file=capture, failed=False)
        active = _native["users"] > 0 or _native["saved"] is not None
        if active:
            _native["users"] += 1
        generation = _native["gen"]
    if not active:
        yield
        return
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        with patches.PATCH_LOCK:
            if _native["gen"] == generation:  # else forked inside the block: nothing to undo
                _native["failed"] |= failed
                _native["users"] -= 1
                if _native["users"] == 0:
                    _flush_stderr()
                    os.dup2(_native["saved"], _STDERR_FD)
                    os.close(_native["saved"])
                    capture = _native["file"]
                    capture.seek(0)
                    _replay(capture.read(), keep_all=_native["failed"])
                    capture.close()
                    _native.update(saved=None, file=None, failed=False)


class _QuietLoader:
    """A module's own loader, run under `quiet_native_stderr` (an extension's static
    initializers run while it is created)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        with quiet_native_stderr():
            return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with quiet_native_stderr():
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PatchAfterImport(_QuietLoader):
    """`executorch.runtime`'s own loader, then its `Program.load_method` quieted."""

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _quiet_program(module)


class _QuietImports(importlib.abc.MetaPathFinder):
    """Finds `NOISY_IMPORTS` (and the runtime) with the finders after it and wraps their
    loaders."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname == RUNTIME_MODULE:
            wrap = _PatchAfterImport
        elif fullname in NOISY_IMPORTS:
            wrap = _QuietLoader
        else:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = wrap(spec.loader)
                return spec
        return None


class _DropMessage(logging.Filter):
    def __init__(self, pattern: re.Pattern) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(str(record.msg))


def _quiet_load_method(load_method: Callable) -> Callable:
    @functools.wraps(load_method)
    def quiet(self: Any, *args: Any, **kwargs: Any) -> Any:
        with quiet_native_stderr():
            return load_method(self, *args, **kwargs)

    quiet.etwb_quiet = True
    return quiet


def _quiet_program(runtime: Any) -> None:
    """`executorch.runtime.Program.load_method` under `quiet_native_stderr` (the first method
    of a backend loads its native runtime, which prints)."""
    program = getattr(runtime, "Program", None)
    with patches.PATCH_LOCK:
        if program is not None and not getattr(program.load_method, "etwb_quiet", False):
            program.load_method = _quiet_load_method(program.load_method)


RUNTIME_MODULE = "executorch.runtime"
_native_noise_installed: list[bool] = []


def quiet_native_noise() -> None:
    """Keep the lines above (and torch's CPU-only CUDA notice) out of this process's output
    from now on: the noisy imports load under `quiet_native_stderr`, so does
    `executorch.runtime.Program.load_method` (patched when the runtime is imported, nothing is
    imported here), and a logging filter drops the notice. Installed by `etwb` and by the app
    (`Workbench()`), where these lines were red boxes under every cell; other lines, and every
    line of a call that fails, still reach stderr. Idempotent, thread-safe."""
    with patches.PATCH_LOCK:
        if _native_noise_installed:
            return
        _native_noise_installed.append(True)
        sys.meta_path.insert(0, _QuietImports())
        name, pattern = CUDA_NOTICE
        logging.getLogger(name).addFilter(_DropMessage(pattern))
        if RUNTIME_MODULE in sys.modules:
            _quiet_program(sys.modules[RUNTIME_MODULE])
