"""How much native memory a host run takes (Linux: glibc heap and resident high-water mark)."""

from __future__ import annotations

from typing import Any


class MemoryMeter:
    """Native memory a run takes: two Linux measurements, the larger one reported.

    * heap: bytes glibc's malloc has handed out (mallinfo2, all arenas) above the start,
      sampled after load and after each phase of executions. It sees native allocations
      (XNNPACK packed weights, runtime arenas, delegate workspaces) that tracemalloc would
      not, and it counts reused free memory; it misses transients inside one execute and
      memory mapped outside malloc.
    * rss: the resident high-water mark (VmHWM, reset via /proc/self/clear_refs) above the
      starting RSS. It sees everything resident, but not pages the process had already
      freed and reuses, so after a lowering in the same process it under-counts badly.
    """

    method = (
        "max of: glibc heap in use (mallinfo2) sampled after load and after each run phase, "
        "and peak RSS (VmHWM) over load + runs; each minus its value before loading"
    )

    def __init__(self) -> None:
        self.heap_peak: int | None = None
        self.rss_peak: int | None = None
        self.notes: list[str] = []
        self._heap = _heap_reader()
        if self._heap is None:
            self.notes.append("heap not measured: no glibc mallinfo2 here")

    @property
    def bytes(self) -> int | None:
        values = [v for v in (self.heap_peak, self.rss_peak) if v is not None]
        return max(values) if values else None

    @property
    def description(self) -> str:
        return "; ".join([self.method, *self.notes])

    def sample(self) -> None:
        if self._heap is not None and self._heap_start is not None:
            used = self._heap() - self._heap_start
            self.heap_peak = max(self.heap_peak or 0, used)

    def __enter__(self) -> MemoryMeter:
        self._heap_start = self._heap() if self._heap is not None else None
        self._rss_start = _status_kb("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError as exc:
            self._rss_start = None
            self.notes.append(f"RSS not measured: cannot reset its high-water mark ({exc})")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sample()
        peak = _status_kb("VmHWM")
        if self._rss_start is not None and peak is not None:
            self.rss_peak = max(0, peak - self._rss_start) * 1024


def _heap_reader():
    """A function returning glibc's in-use heap bytes, or None off glibc."""
    import ctypes
    import ctypes.util

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _Mallinfo2

    def in_use() -> int:
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)  # small/medium chunks + mmapped chunks

    return in_use


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
