"""While the workbench lowers, torch's provenance records are shared instead of deep-copied.

The .pte staying byte-identical is tested in test_shared_lowering (lower() runs with the patch,
the plain API without); here: the patch is scoped, re-entrant, and does what it says.
"""

from __future__ import annotations

import copy
import threading

import torch
from torch.fx.traceback import NodeSource

from etworkbench import preview
from etworkbench.lowering._provenance import shared_provenance


def _source() -> NodeSource:
    graph = torch.fx.Graph()
    node = graph.placeholder("x")
    node.meta["from_node"] = [NodeSource(None, "earlier_pass")]
    return NodeSource(node, "a_pass")


def test_inside_the_block_a_copy_is_the_same_record_and_outside_a_new_one():
    source = _source()
    with shared_provenance():
        assert copy.deepcopy(source) is source
        assert copy.deepcopy({"from_node": [source]})["from_node"][0] is source
    copied = copy.deepcopy(source)
    assert copied is not source
    assert copied.name == source.name and copied.from_node[0] is not source.from_node[0]
    assert "__deepcopy__" not in NodeSource.__dict__


def test_nested_and_concurrent_blocks_restore_torch_only_when_the_last_one_ends():
    source = _source()
    inner_done = threading.Event()
    outer_may_end = threading.Event()
    seen: list[bool] = []

    def other_thread() -> None:
        with shared_provenance():
            inner_done.set()
            outer_may_end.wait(5)
            seen.append(copy.deepcopy(source) is source)

    with shared_provenance():
        with shared_provenance():
            pass
        assert copy.deepcopy(source) is source  # the inner block did not switch it off
        thread = threading.Thread(target=other_thread)
        thread.start()
        inner_done.wait(5)
    outer_may_end.set()
    thread.join(5)
    assert seen == [True]  # still on after the main thread's block ended, for the other thread
    assert "__deepcopy__" not in NodeSource.__dict__


def test_an_existing_deepcopy_of_torch_is_left_alone(monkeypatch):
    def torch_own(self, memo):
        return "torch's own"

    monkeypatch.setattr(NodeSource, "__deepcopy__", torch_own, raising=False)
    with shared_provenance():
        assert copy.deepcopy(_source()) == "torch's own"
    assert NodeSource.__dict__["__deepcopy__"] is torch_own


def test_a_preview_leaves_torch_as_it_was():
    assert preview("tiny_convnet", ["xnnpack"])["xnnpack"].ok
    assert "__deepcopy__" not in NodeSource.__dict__
