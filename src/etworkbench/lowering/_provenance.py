"""Provenance records shared instead of deep-copied while the workbench lowers.

torch records for every node where it came from (`node.meta["from_node"]`, a list of
`torch.fx.traceback.NodeSource`). Each pass that re-traces the graph makes a new NodeSource that
deep-copies the whole chain of the node it replaces, and the chains grow by one level per pass,
so the copying grows with the number of passes: on mobilenet_v2 (XNNPACK) it is 15-25 % of a
full lowering. NodeSource objects are never changed after they are built (torch 2.14 and
executorch 1.5.1 only read them; their one writer, `_from_dict`, builds a new one), so handing
out the same object gives equal values: the produced .pte is byte-identical (tested in
tests/test_shared_lowering.py). While a workbench lowering or preview runs,
`NodeSource.__deepcopy__` returns the object itself; afterwards torch behaves as before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_active = 0  # nested or concurrent users of the patch
_installed = False  # whether the patch is ours to remove


def _share(self, memo):  # the deepcopy protocol: the same object stands for its copy
    return self


@contextlib.contextmanager
def shared_provenance() -> Iterator[None]:
    """Share NodeSource objects on deepcopy for the duration of the block (re-entrant)."""
    global _active, _installed
    try:
        from torch.fx.traceback import NodeSource
    except ImportError:  # a torch without provenance records: nothing to speed up
        yield
        return
    with _lock:
        if _active == 0 and "__deepcopy__" not in NodeSource.__dict__:
            NodeSource.__deepcopy__ = _share
            _installed = True
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _installed:
                del NodeSource.__deepcopy__
                _installed = False
