"""Process isolation by fork: the one mechanism the engine's workers, the .pte inspector and the
conformance corpus build on.

`forked_process_setup` is what every forked child does first (single-threaded torch, real
stdio, die with the parent, optional memory cap). `ForkedWorker` is a kept child that runs one
function per request, with RLIMIT_AS and a deadline: forking a process that holds torch costs
~70 ms, and a child that already ran a request keeps what it imported and warmed, so it is
reused; it is killed and replaced after a timeout, a crash, or a request needing a bigger
memory budget. The child never returns into the caller's code: it loops on requests and leaves
with `os._exit`. (Parallel lowering forks a tree instead, hub then one worker per program, so
that every worker inherits one export: `lowering._fork_workers`.)
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def forked_process_setup(memory_limit: int | None = None) -> None:
    """Single-threaded torch, real stdio (not a kernel's zmq streams), die with the parent."""
    import torch

    torch.set_num_threads(1)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))


# Workers started from several threads (conformance `--jobs 2`) must not fork while another
# worker's pipes are half set up: a child forked in that window inherits the other child's
# reply-pipe write end, so when that other child crashes its parent never reads EOF and reports
# a timeout instead of the crash. Pipes, fork and closing the child-side ends go under one lock.
_PIPES_LOCK = threading.Lock()


def _new_pipes_lock_in_child() -> None:
    """A child forked while another thread held the lock starts with a free one."""
    global _PIPES_LOCK
    _PIPES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_pipes_lock_in_child)


class ForkedWorker:
    """A forked child that runs `work` on request, with RLIMIT_AS and a per-request deadline."""

    def __init__(self, work: Callable[..., tuple[str, Any]], preload: str = "") -> None:
        self._work, self._preload = work, preload
        self._lock = threading.Lock()
        self._pid = self._owner = 0  # the child, and the process that forked it
        self._budget = 0
        self._to_child = self._from_child = -1

    def run(self, args: tuple, timeout: float, budget: int) -> tuple[str, Any]:
        """`work(*args)` in the child: its (status, payload), or ("timeout"/"crash", ...)."""
        with self._lock:
            budget = 1 << max(budget - 1, 1).bit_length()  # fewer restarts as sizes vary
            if self._pid and self._owner != os.getpid():  # we are a fork: that child is not ours
                self._forget()
            if not self._pid or self._budget < budget:
                self._start(budget)
            request = pickle.dumps(args, protocol=5)
            try:
                _write_frame(self._to_child, request)
            except OSError:  # the idle child died (killed from outside): start another
                self._start(budget)
                try:
                    _write_frame(self._to_child, request)
                except OSError:
                    return "crash", self.stop()
            try:
                reply = _read_frame(self._from_child, time.monotonic() + timeout)
            except TimeoutError:
                self.stop()
                return "timeout", None
            except (EOFError, OSError):
                return "crash", self.stop(grace=1.0)
            status, payload = pickle.loads(reply)
            if status == "memory":
                self.stop()  # a fresh heap for the next file
            return status, payload

    def _start(self, budget: int) -> None:
        if self._preload:  # import once here so that every child starts with it loaded
            importlib.import_module(self._preload)
        self.stop()
        with _PIPES_LOCK:  # no other worker forks while this one's child-side ends are open
            down_r, down_w = os.pipe()
            up_r, up_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: never returns
                os.close(down_w)
                os.close(up_r)
                _serve(self._work, down_r, up_w, budget)
            os.close(down_r)
            os.close(up_w)
        self._pid, self._owner, self._budget = pid, os.getpid(), budget
        self._to_child, self._from_child = down_w, up_r

    def _forget(self) -> None:
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self._pid = 0

    def stop(self, grace: float = 0.0) -> str:
        """Reap the child (killing it if it has not exited within `grace` s); how it ended."""
        if not self._pid:
            return "not started"
        pid = self._pid
        self._forget()
        how = "stopped"
        try:
            deadline = time.monotonic() + grace
            done, status = os.waitpid(pid, os.WNOHANG)
            while not done and time.monotonic() < deadline:
                time.sleep(0.01)
                done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            elif os.WIFSIGNALED(status):
                how = f"killed by signal {os.WTERMSIG(status)}"
            else:
                how = f"exit status {os.WEXITSTATUS(status)}"
        except ChildProcessError:
            pass
        return how


def _serve(work: Callable, requests: int, replies: int, budget: int) -> None:
    """The child's loop: one parse per request until the parent closes the pipe."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            import resource

            with open("/proc/self/statm") as statm:
                current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            resource.setrlimit(resource.RLIMIT_AS, (current + budget, current + budget))
        except (OSError, ValueError, ImportError):
            pass  # no /proc (macOS): the deadline still applies
        while True:
            try:
                args = pickle.loads(_read_frame(requests, None))
            except EOFError:
                break
            reply = work(*args)
            del args
            try:
                _write_frame(replies, pickle.dumps(reply))
            except MemoryError:
                _write_frame(replies, pickle.dumps(("memory", None)))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(struct.pack("<Q", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int, deadline: float | None) -> bytes:
    header = _read_exact(fd, 8, deadline)
    return _read_exact(fd, struct.unpack("<Q", header)[0], deadline)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
