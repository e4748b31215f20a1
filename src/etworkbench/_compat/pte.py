"""The .pte flatbuffer through executorch's serializer internals, written for executorch 1.5.1.

`executorch.exir._serialize` is executorch's own (private) reader of the format: the generated
lazy flatbuffer accessors (`Program.GetRootAs`, read before anything is inlined, to check the
segment table and delegate locations against the file) and `deserialize_pte_binary`. Used by
`analysis.pte_file`, which checks headers itself and runs this in a guarded worker process.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

# the module a forked parsing worker imports up front (executorch 1.5.1)
DESERIALIZER_MODULE = "executorch.exir._serialize._program"


class LayoutError(Exception):
    """A structural problem found in the flatbuffer, worded for the user."""


def deserialize_pte(data: bytes) -> Any:
    """executorch's `deserialize_pte_binary(data)`: `.program`, `.named_data`, `.mutable_data`."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    return deserialize_pte_binary(data)


def lazy_layout(
    data: bytes, program_size: int, segment_base: int
) -> tuple[list[tuple[int, int]], list[list[int]], bool]:
    """(segments as (offset, size), each method's delegate data locations, whether constants
    are in a segment), read lazily before the deserializer inlines anything; raises
    `LayoutError` on counts or offsets the file cannot hold."""
    from executorch.exir._serialize._flatbuffer_program import (
        _patch_generated_flatbuffer_aliases,
    )
    from executorch.exir._serialize.generated.executorch_flatbuffer.Program import (
        Program as LazyProgram,
    )

    _patch_generated_flatbuffer_aliases()  # what the deserializer does before it reads
    lazy = LazyProgram.GetRootAs(data[:program_size], 0)
    count = lazy.SegmentsLength()
    if count * 16 > program_size:
        raise LayoutError(f"bad flatbuffer: segment table claims {count} entries")
    segments = [(lazy.Segments(i).Offset(), lazy.Segments(i).Size()) for i in range(count)]
    available = len(data) - segment_base if segment_base else 0
    for i, (offset, size) in enumerate(segments):
        if offset + size > available:
            raise LayoutError(
                f"truncated or bad offsets: segment {i} spans bytes {segment_base + offset}-"
                f"{segment_base + offset + size} but the file has {len(data)}"
            )
    if any(size for _, size in segments) and not segment_base:  # empty ones need no base
        raise LayoutError(
            f"bad header: the program lists {count} segments but no segment base offset"
        )
    spans = sorted((offset, offset + size, i) for i, (offset, size) in enumerate(segments) if size)
    for (_, end, i), (start, _, j) in pairwise(spans):
        if start < end:
            raise LayoutError(f"bad offsets: segments {i} and {j} overlap")
    subsegments = [("constant", lazy.ConstantSegment())]
    subsegments += [
        ("mutable data", lazy.MutableDataSegments(i))
        for i in range(lazy.MutableDataSegmentsLength())
    ]
    for what, sub in subsegments:
        _check_subsegments(what, sub, segments, program_size)
    plans = lazy.ExecutionPlanLength()
    if plans * 4 > program_size:
        raise LayoutError(f"bad flatbuffer: execution plan table claims {plans} entries")
    locations: list[list[int]] = []
    for p in range(plans):
        plan = lazy.ExecutionPlan(p)
        n = plan.DelegatesLength()
        if n * 4 > program_size:
            raise LayoutError(f"bad flatbuffer: method {p} claims {n} delegates")
        processed = [plan.Delegates(d).Processed() for d in range(n)]
        if any(data is None for data in processed):
            raise LayoutError(f"bad flatbuffer: method {p} has a delegate without its data")
        locations.append([data.Location() for data in processed])
    constant = lazy.ConstantSegment()
    constant_in_segment = constant is not None and constant.OffsetsLength() > 0
    return segments, locations, constant_in_segment


def _check_subsegments(what: str, sub: Any, segments: list, program_size: int) -> None:
    """Tensor offsets inside a segment must be in order and inside it (else sizes overlap)."""
    n = sub.OffsetsLength() if sub is not None else 0
    if not n:
        return
    if n * 8 > program_size:
        raise LayoutError(f"bad flatbuffer: {what} segment claims {n} tensor offsets")
    index = sub.SegmentIndex()
    if index >= len(segments):
        raise LayoutError(
            f"bad offsets: {what} data is in segment {index} but there are {len(segments)}"
        )
    offsets = [sub.Offsets(j) for j in range(n)]
    size = segments[index][1]
    if any(b < a for a, b in pairwise(offsets)) or offsets[-1] > size:
        raise LayoutError(
            f"bad offsets: {what} tensor offsets are out of order or past the end of "
            f"segment {index} ({size} bytes)"
        )
