"""Every patch of library code, thread-safe: dispatchers installed while in use, state per context.

The workbench observes a lowering by replacing a few library attributes (executorch 1.5.1,
torch 2.14, coremltools 9.0, openvino 2025.4): the preprocess entry points of
`executorch.exir.backend.backend_api` (stage timing), `WhyNoPartitionReporter.report_reject`,
the support checks of Vulkan, Core ML and OpenVINO (reasons), `NodeSource.__deepcopy__`
(shared provenance), and process-wide state: loggers' level/handlers and `sys.stdout`.

Design: one re-entrant lock, `PATCH_LOCK`, guards installing and removing them. Each
replacement is a *dispatcher*, installed by the first user and removed by the last (a reference
count under the lock), that looks up what to do in a `ContextVar`: the hooks of the lowering
running in this thread (or context). A thread with no hooks gets the library's own behaviour.
So a lowering's hooks never reach another thread (a notebook's own torch code, the UI thread, a
second lowering), and the library is back to itself when none runs. Holding `PATCH_LOCK` for the
whole patched region (the other choice) would block every thread that merely probes a backend
or prints through `output.route_stdout` for as long as a lowering runs. The lock is re-entrant
because installing one patch may import a module whose import-time code it guards too
(`output.keep_logger_level`).

Lowerings themselves still run one at a time (`exclusive_lowering`, a second lock): torch's
own tracing patches process-global state, so concurrent traces are not safe whatever the
workbench does (see there). Both locks are replaced in a forked child.

`NodeSource.__deepcopy__` is the one dispatcher that acts for every thread while installed:
the library behaviour it stands for (the default deepcopy) is not reachable from a
`__deepcopy__` without re-implementing it, and returning the object itself is value-identical
(NodeSource objects are never written after construction in torch 2.14 / executorch 1.5.1).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

PATCH_LOCK = threading.RLock()  # installing and removing patches
LOWERING_LOCK = threading.RLock()  # one workbench lowering (or preview) at a time


def _new_locks_in_child() -> None:
    """A forked child starts with free locks (another thread of the parent may hold one)."""
    global PATCH_LOCK, LOWERING_LOCK
    PATCH_LOCK, LOWERING_LOCK = threading.RLock(), threading.RLock()


os.register_at_fork(after_in_child=_new_locks_in_child)


@contextlib.contextmanager
def exclusive_lowering() -> Iterator[None]:
    """Hold `LOWERING_LOCK` while the block runs (re-entrant).

    torch's tracing is process-global, whatever the workbench does: `torch.fx`'s `Tracer.trace`
    (under `torch.export`, `run_decompositions` and executorch's passes) patches
    `torch.nn.Module.__call__` / `__getattr__` and a module-level `CURRENT_PATCHER` for the
    duration of each trace (torch 2.14), so two traces in two threads corrupt each other
    ("CURRENT_PATCHER is None in finally block"). Workbench lowerings in threads therefore run
    one at a time; threads that do not lower are never blocked.
    """
    with LOWERING_LOCK:
        yield


class _Patch:
    """Attributes of one library object replaced by dispatchers while at least one user is in."""

    def __init__(
        self,
        resolve: Callable[[], Any],
        make: dict[str, Callable[[Any], Any]],
        keep_own: bool = False,  # leave an attribute the target itself defines
    ) -> None:
        self._resolve, self._make, self._keep_own = resolve, make, keep_own
        self._users = 0
        self._target: Any = None
        self._saved: dict[str, tuple[bool, Any, Any]] = {}  # name -> (own, own value, ours)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with PATCH_LOCK:
            if self._users == 0:
                self._install()
            self._users += 1
        try:
            yield
        finally:
            with PATCH_LOCK:
                self._users -= 1
                if self._users == 0:
                    self._uninstall()

    def _install(self) -> None:
        target = self._resolve()
        self._target, self._saved = target, {}
        for name, make in self._make.items():
            own = name in vars(target)
            if own and self._keep_own:
                continue
            ours = make(getattr(target, name, None))
            self._saved[name] = (own, vars(target).get(name), ours)
            setattr(target, name, ours)

    def _uninstall(self) -> None:
        target = self._target
        for name, (own, own_value, ours) in self._saved.items():
            if vars(target).get(name) is not ours:
                continue  # someone replaced it after us: theirs stays
            if own:
                setattr(target, name, own_value)
            else:
                delattr(target, name)
        self._target, self._saved = None, {}


def hooks_dispatch(var: ContextVar, call: Callable[[Any, Any, tuple, dict], Any]):
    """A dispatcher factory: `original(*args)` when this context has no hooks, else
    `call(hooks, original, args, kwargs)`."""

    def make(original: Any) -> Any:
        def dispatch(*args: Any, **kwargs: Any) -> Any:
            hooks = var.get()
            if not hooks:
                return original(*args, **kwargs)
            return call(hooks, original, args, kwargs)

        return dispatch

    return make


@contextlib.contextmanager
def pushed(var: ContextVar, hook: Any, patch: _Patch) -> Iterator[None]:
    """`hook` added to this context's hooks in `var` while `patch` is installed."""
    with patch.active():
        token = var.set((*var.get(), hook))
        try:
            yield
        finally:
            var.reset(token)


# -- which backend's partitioner runs now (priority groups attribute reasons by it) ---------

_current_backend: ContextVar[str | None] = ContextVar("etwb_current_backend", default=None)
_owners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tag_partitioner(partitioner: Any, backend: str) -> None:
    """Remember that `partitioner` was built by `backend` (unhashable ones stay untagged)."""
    with contextlib.suppress(TypeError):
        _owners[partitioner] = backend


def partitioner_backend(partitioner: Any) -> str | None:
    """The backend that built `partitioner` (through `.inner` of exclude-ops wrappers)."""
    seen = 0
    while partitioner is not None and seen < 8:
        with contextlib.suppress(TypeError):
            if partitioner in _owners:
                return _owners[partitioner]
        partitioner, seen = getattr(partitioner, "inner", None), seen + 1
    return None


@contextlib.contextmanager
def partitioning_for(backend: str | None) -> Iterator[None]:
    """The partitioner running in this context belongs to `backend` (None: unknown)."""
    token = _current_backend.set(backend)
    try:
        yield
    finally:
        _current_backend.reset(token)


def current_backend() -> str | None:
    return _current_backend.get()


# -- stage timing: executorch.exir.backend.backend_api's preprocess entry points -------------

_preprocess_hooks: ContextVar[tuple] = ContextVar("etwb_preprocess", default=())


def _backend_api() -> Any:
    from executorch.exir.backend import backend_api

    return backend_api


def _around_preprocess(hooks: tuple, original: Any, args: tuple, kwargs: dict) -> Any:
    fn = original
    for wrap in hooks:
        fn = wrap(fn)
    return fn(*args, **kwargs)


# executorch 1.5.1: `to_backend` and `lower_all_submodules_to_backend` are looked up as module
# globals of backend_api when a partitioned program is lowered (preprocess is called in them).
_PREPROCESS = _Patch(
    _backend_api,
    {
        name: hooks_dispatch(_preprocess_hooks, _around_preprocess)
        for name in ("to_backend", "lower_all_submodules_to_backend")
    },
)


def around_preprocess(wrap: Callable[[Any], Any]) -> contextlib.AbstractContextManager:
    """In this context, executorch's preprocess entry points run as `wrap(entry_point)(...)`."""
    return pushed(_preprocess_hooks, wrap, _PREPROCESS)


@contextlib.contextmanager
def around_partition(partitioners: list[Any], wrap: Callable[[Any, Any], Any]) -> Iterator[None]:
    """Each partitioner's `partition` runs as `wrap(partitioner, partition)(...)`, with
    `partitioning_for(its backend)` entered; instance attributes, removed on exit (a
    partitioner object belongs to one lowering, so no other thread sees them)."""
    for partitioner in partitioners:
        partitioner.partition = _in_backend(partitioner, wrap(partitioner, partitioner.partition))
    try:
        yield
    finally:
        for partitioner in partitioners:
            vars(partitioner).pop("partition", None)


def _in_backend(partitioner: Any, fn: Any) -> Any:
    backend = partitioner_backend(partitioner)

    def run(*args: Any, **kwargs: Any) -> Any:
        with partitioning_for(backend):
            return fn(*args, **kwargs)

    return run


# -- WhyNoPartitionReporter.report_reject (Arm and others), executorch 1.5.1 -----------------

_reject_hooks: ContextVar[tuple] = ContextVar("etwb_reject", default=())


def _reporter_class() -> Any:
    from executorch.exir.backend.utils import WhyNoPartitionReporter

    return WhyNoPartitionReporter


def _on_reject(hooks: tuple, original: Any, args: tuple, kwargs: dict) -> Any:
    _self, node, reason = args
    running = _current_backend.get()
    for backend, sink in hooks:
        if running is None or backend == running:
            sink(node, reason)
    return original(*args, **kwargs)


_REPORTER = _Patch(_reporter_class, {"report_reject": hooks_dispatch(_reject_hooks, _on_reject)})


def capture_rejections(backend: str, sink: Callable[[Any, Any], None]):
    """`sink(node, reason)` for every `report_reject` in this context while a partitioner of
    `backend` runs (or any partitioner, when which one is not known)."""
    return pushed(_reject_hooks, (backend, sink), _REPORTER)


_by_target: dict[int, _Patch] = {}


def patch_for(target: Any, make: Callable[[], dict]) -> _Patch:
    with PATCH_LOCK:
        patch = _by_target.get(id(target))
        if patch is None:
            patch = _by_target[id(target)] = _Patch(lambda: target, make())
        return patch


# -- NodeSource.__deepcopy__ (torch 2.14) ----------------------------------------------------


def _node_source() -> Any:
    from torch.fx.traceback import NodeSource

    return NodeSource


def _share(self: Any, memo: Any) -> Any:  # the deepcopy protocol: the object is its own copy
    return self


# keep_own: a torch whose NodeSource defines its own __deepcopy__ is left alone
_PROVENANCE = _Patch(_node_source, {"__deepcopy__": lambda original: _share}, keep_own=True)


@contextlib.contextmanager
def shared_node_sources() -> Iterator[None]:
    """NodeSource objects shared instead of deep-copied while the block runs (re-entrant;
    every thread's deep copies share them while any block runs, see the module docstring)."""
    try:
        _node_source()
    except ImportError:  # a torch without provenance records: nothing to share
        yield
        return
    with _PROVENANCE.active():
        yield
