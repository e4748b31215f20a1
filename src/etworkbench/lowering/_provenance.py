"""Provenance records shared instead of deep-copied while the workbench lowers.

torch records for every node where it came from (`node.meta["from_node"]`, a list of
`torch.fx.traceback.NodeSource`). Each pass that re-traces the graph makes a new NodeSource that
deep-copies the whole chain of the node it replaces, and the chains grow by one level per pass,
so the copying grows with the number of passes: on mobilenet_v2 (XNNPACK) it is 15-25 % of a
full lowering. NodeSource objects are never changed after they are built (torch 2.14 and
executorch 1.5.1 only read them; their one writer, `_from_dict`, builds a new one), so handing
out the same object gives equal values: the produced .pte is byte-identical (tested in
tests/test_shared_lowering.py). While a workbench lowering or preview runs,
`NodeSource.__deepcopy__` returns the object itself; afterwards torch behaves as before. The
patch itself lives in `etworkbench._compat.patches`; on library versions the workbench was not
written for it is not applied (`etworkbench._compat.internals_supported`).

The same region serializes workbench lowerings across threads: torch's tracing patches
process-global state, so two cannot trace at once (`_compat.patches.exclusive_lowering`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .._compat import internals_supported


@contextlib.contextmanager
def lowering_region() -> Iterator[None]:
    """One workbench lowering or preview (re-entrant): other threads' wait (torch's tracing is
    process-global, see `_compat.patches.exclusive_lowering`), and NodeSource objects are
    shared on deepcopy for the duration of the block (only on the versions it was checked on)."""
    from .._compat.patches import exclusive_lowering, shared_node_sources

    with exclusive_lowering():
        if not internals_supported():
            yield
            return
        with shared_node_sources():
            yield


# The name the engine and the preview decorate their entry points with.
shared_provenance = lowering_region
