"""Advice: rules read the node's facts right, and `reason` stays the partitioner's own words."""

from __future__ import annotations

import pickle

import pytest
import torch

from etworkbench.analysis._counts import NodePlacement, advice_listing, fallback_record
from etworkbench.analysis.advice import advise
from etworkbench.analysis.advice_facts import facts_of


def _nodes(module: torch.nn.Module, *inputs: torch.Tensor, decompose: bool = False) -> list:
    program = torch.export.export(module, inputs)
    if decompose:
        program = program.run_decompositions()
    return [n for n in program.graph.nodes if n.op == "call_function"]


def _node(module: torch.nn.Module, *inputs: torch.Tensor, op: str, **kw) -> object:
    return next(n for n in _nodes(module, *inputs, **kw) if op in str(n.target))


class Lambda(torch.nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def test_facts_read_dtype_shape_and_args():
    node = _node(Lambda(lambda x: x.unsqueeze(0)), torch.arange(8), op="unsqueeze")
    facts = facts_of(node, module_path="embeddings")
    assert facts.inputs[0].dtype == "int64" and facts.inputs[0].shape == (8,)
    assert facts.outputs[0].text() == "int64[1, 8]"
    assert facts.arg(1) == 0 and facts.op == "unsqueeze"
    assert facts.where() == " (in embeddings)"


def test_invalid_dtype_names_the_op_and_the_dtype():
    node = _node(Lambda(lambda x: x.unsqueeze(0)), torch.arange(8), op="unsqueeze")
    text = advise("xnnpack", "invalid dtype", facts_of(node))
    assert "float32 or float16" in text
    assert "this unsqueeze reads int64 (input 0: int64[8]" in text


def test_invalid_dtype_on_a_cast_says_cast():
    cast = Lambda(lambda x: x.to(torch.float32) * 2)
    node = _node(cast, torch.arange(4), op="_to_copy", decompose=True)
    text = advise("xnnpack", "invalid dtype", facts_of(node))
    assert "a cast from int64 to float32" in text


def test_invalid_dtype_with_float_tensors_says_nothing():
    node = _node(Lambda(lambda x: x + 1), torch.randn(3), op="add")
    assert advise("xnnpack", "invalid dtype", facts_of(node)) is None  # no fact to name


def test_rank3_mean_rewrite_is_exact():
    x = torch.randn(2, 8, 16)
    node = _node(Lambda(lambda t: t.mean(-1)), x, op="mean")
    reason = "mean.dim only supports averaging 4D tensors, got tensor of rank 3"
    text = advise("xnnpack", reason, facts_of(node))
    assert "rank-3 input float32[2, 8, 16]" in text and "keepdim=False" in text
    rewrite = text.split("(here: ")[1].split("), or leave")[0]
    assert rewrite.startswith("x.reshape(2, 8, 1, 16).mean((2, 3), keepdim=True)")
    assert torch.allclose(eval(rewrite, {"x": x}), x.mean(-1))  # the rewrite gives the same


def test_unsqueeze_not_trailing_suggests_the_reshape():
    node = _node(Lambda(lambda x: x.unsqueeze(1)), torch.randn(4, 5), op="unsqueeze")
    text = advise(
        "xnnpack", "unsqueeze_copy only supported on the trailing dimension", facts_of(node)
    )
    assert "inserts dim 1 into float32[4, 5]" in text and "x.reshape(4, 1, 5)" in text


def test_no_config_names_backends_that_took_it_in_the_suite():
    node = _node(Lambda(lambda x: x.amax(-1)), torch.randn(2, 3), op="amax")
    text = advise("xnnpack", "no XNNPACK implementation of aten.amax.default", facts_of(node))
    assert "no partitioner config for aten.amax.default" in text
    assert "Core ML and OpenVINO delegated every aten_amax_default node" in text


def test_vulkan_conv_names_the_batch():
    conv = torch.nn.Conv2d(3, 4, 3)
    node = _node(conv, torch.randn(4, 3, 8, 8), op="convolution", decompose=True)
    text = advise("vulkan", "op args not supported", facts_of(node))
    assert "batch 1 only" in text and "float32[4, 3, 8, 8], batch 4" in text


def test_vulkan_reduce_names_dims_and_keepdim():
    node = _node(Lambda(lambda x: x.amax(-1)), torch.randn(2, 3, 5), op="amax")
    text = advise("vulkan", "op args not supported", facts_of(node))
    assert "reduces dims [-1] of float32[2, 3, 5] with keepdim=False" in text
    assert "keepdim=True" in text and "dim=2" in text


def test_coreml_argmax_without_dim_rewrite_is_exact():
    x = torch.randn(3, 5)
    node = _node(Lambda(lambda t: t.argmax()), x, op="argmax")
    reason = (
        "torch.ops.aten.{argmax, argmin}.default with dim=None is not supported by CoreML.  "
        "Overriding op support.; Skipping op for CoreML delegation because it is not "
        "supported by CoreML: aten.argmax.default"
    )
    text = advise("coreml", reason, facts_of(node))
    assert "x.flatten().argmax(dim=0)" in text
    assert x.flatten().argmax(dim=0) == x.argmax()


def test_unknown_reason_has_no_advice():
    node = _node(Lambda(lambda x: x + 1), torch.randn(3), op="add")
    assert advise("xnnpack", "no reason given by XNNPACK", facts_of(node)) is None
    assert advise("nobackend", "invalid dtype", facts_of(node)) is None


def test_a_stored_placement_without_advice_still_loads():
    """Results cached before advice existed unpickle with advice None (a class default)."""
    node = NodePlacement("n", "aten_abs_default", "aten.abs.default", False, reason="r")
    del node.__dict__["advice"]  # as an older pickle holds it
    loaded = pickle.loads(pickle.dumps(node))
    assert loaded.advice is None and loaded.why == "r"
    assert fallback_record(loaded)["advice"] is None


class PositionIds(torch.nn.Module):
    def forward(self, x, ids):
        return x.mean(dim=1), ids.unsqueeze(0) + 1


@pytest.fixture(scope="module")
def lowered():
    from etworkbench import lower

    inputs = (torch.randn(2, 8, 16), torch.arange(8))
    return lower(PositionIds(), ["xnnpack"], example_inputs=inputs, cache=False)


def test_real_lowering_keeps_reason_and_adds_advice(lowered):
    result = lowered["xnnpack"]
    nodes = {n.target: n for n in result.placement.cpu_fallbacks()}
    unsqueeze, mean = nodes["aten.unsqueeze_copy.default"], nodes["aten.mean.dim"]
    assert unsqueeze.reason == "invalid dtype"  # exactly XNNPACK's words
    assert "unsqueeze_copy reads int64" in unsqueeze.advice
    assert unsqueeze.advice.endswith("(XNNPACK said: invalid dtype)")
    assert mean.reason == "mean.dim only supports averaging 4D tensors, got tensor of rank 3"
    assert "rank-3 input float32[2, 8, 16]" in mean.advice
    assert result.placement.counts.cpu_kernels == 3  # advice changes no count


def test_real_lowering_shows_advice_in_summary_and_json(lowered):
    from etworkbench.views.graph import describe_node

    result = lowered["xnnpack"]
    records = {r["op"]: r for r in result.to_dict()["fallback_reasons"]}
    assert records["aten.mean.dim"]["reason"].startswith("mean.dim only supports")
    assert "global average pool" in records["aten.mean.dim"]["advice"]
    summary = lowered.summary()
    assert "    advice: unsqueeze_copy×1: XNNPACK takes float32" in summary
    assert len(advice_listing(result.placement.nodes)) == 3
    node = next(n for n in result.placement.cpu_fallbacks() if n.target == "aten.mean.dim")
    assert "why not delegated: XNNPACK's mean.dim" in describe_node(node)
