"""Placement must agree with executorch's own get_delegation_info on the same lowering."""

from __future__ import annotations

import copy
from operator import getitem

import pytest
import torch
from _checks import assert_matches_delegation_info

from etworkbench import load_model
from etworkbench.analysis.placement import analyze_placement, op_type_of, source_line
from etworkbench.backends import Reasons, get_backend
from etworkbench.backends._base import op_name


def _lower_directly(spec):
    """The plain executorch API, so the comparison does not go through our pipeline."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = torch.export.export(spec.module, spec.example_inputs)
    return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])


@pytest.mark.parametrize(
    "model",
    [
        "teaching_net",
        "tiny_convnet",
        "transformer_block",
        "small_gru",
        "tests/fixtures/user_model.py:make",
    ],
)
def test_placement_counts_equal_get_delegation_info(model):
    spec = load_model(model)
    edge = _lower_directly(spec)
    gm = edge.exported_program().graph_module
    placement = analyze_placement(gm, {"XnnpackBackend": "xnnpack"}, lambda n: "r", op_name)
    assert_matches_delegation_info(gm, placement)
    # The three kinds split get_delegation_info's totals: structural = top-level getitems.
    from executorch.devtools.backend_debug import get_delegation_info

    info, counts = get_delegation_info(gm), placement.counts
    getitems = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is getitem]
    assert counts.structural == len(getitems)
    assert counts.delegated == info.num_delegated_nodes
    assert counts.cpu_kernels + counts.structural == info.num_non_delegated_nodes
    assert counts.share == counts.delegated / (counts.delegated + counts.cpu_kernels)


def test_pipeline_report_matches_get_delegation_info(teaching_xnnpack):
    result = teaching_xnnpack["xnnpack"]
    assert result.ok
    spec = load_model("teaching_net")
    gm = _lower_directly(spec).exported_program().graph_module
    assert_matches_delegation_info(gm, result.placement)


def test_every_fallback_has_a_reason_and_xnnpack_speaks_for_itself(teaching_xnnpack):
    placement = teaching_xnnpack["xnnpack"].placement
    reasons = {n.target: n.reason for n in placement.fallbacks()}
    assert all(n.reason for n in placement.fallbacks())
    # XNNPACK's own WhyNoPartition log record, captured from its logger:
    assert reasons["aten.mean.dim"] == "mean.dim only supports keepdim=True"
    # No XNNPACK config exists for cumsum: derived from the partitioner's config table.
    assert reasons["aten.cumsum.default"] == "no XNNPACK implementation of aten.cumsum.default"
    assert reasons["getitem"].startswith("structural")
    assert [n.target for n in placement.cpu_fallbacks()] == ["aten.mean.dim", "aten.cumsum.default"]
    assert (placement.counts.cpu_kernels, placement.counts.structural) == (2, 2)


def test_placement_carries_module_path_and_source_line(teaching_xnnpack):
    placement = teaching_xnnpack["xnnpack"].placement
    conv = next(n for n in placement.nodes if n.target == "aten.convolution.default")
    assert conv.delegated and conv.backend == "xnnpack" and conv.delegate == "lowered_module_0"
    assert conv.module_path == "conv" and conv.module_type == "Conv2d"
    mean = next(n for n in placement.nodes if n.target == "aten.mean.dim")
    assert "_nets.py" in mean.source and "mean(dim=(2, 3))" in mean.source
    assert mean.shape == "float32[1, 8]"


def test_graph_edges_connect_through_delegates(teaching_xnnpack):
    placement = teaching_xnnpack["xnnpack"].placement
    by_name = {n.name: n for n in placement.nodes}
    mean = next(n for n in placement.nodes if n.target == "aten.mean.dim")
    # mean reads relu's output through the getitem that unpacks the first delegate.
    (getitem,) = mean.inputs
    assert by_name[getitem].structural
    assert by_name[getitem].inputs == ["lowered_module_0/aten_relu_default"]
    conv = by_name["lowered_module_0/aten_convolution_default"]
    assert conv.inputs == ["x"]


def test_op_type_and_op_name():
    assert op_type_of("aten_convolution_default_12") == "aten_convolution_default"
    from executorch.exir.dialects._ops import ops as exir_ops

    assert op_name(exir_ops.edge.aten.convolution.default) == "aten.convolution.default"
    assert op_name(torch.ops.aten.mean.dim) == "aten.mean.dim"


def test_source_line_prefers_user_frame():
    trace = (
        'File "/home/u/model.py", line 7, in forward\n    y = self.fc(x)\n'
        'File "/x/site-packages/torch/nn/modules/linear.py", line 125, in forward\n'
        "    return F.linear(input, self.weight, self.bias)\n"
    )
    assert source_line(trace) == "/home/u/model.py:7: y = self.fc(x)"


def test_reasons_fall_back_to_no_reason_given():
    from etworkbench.lowering._compile import reason_finder

    class Node:
        name = "aten_foo_default"
        target = copy  # anything without a schema

    finder = reason_finder([get_backend("xnnpack")], Reasons())
    assert finder(Node()) in ("no reason given by XNNPACK", "no XNNPACK implementation of copy")


def test_source_line_is_the_models_own_frame_not_torchs():
    trace = (
        '  File "/site-packages/torchvision/models/mobilenetv2.py", line 166, in forward\n'
        "    x = self.features(x)\n"
        '  File "/site-packages/torch/nn/modules/activation.py", line 340, in forward\n'
        "    return F.hardtanh(input, self.min_val, self.max_val, self.inplace)\n"
    )
    assert source_line(trace).endswith("mobilenetv2.py:166: x = self.features(x)")
    only_torch = trace.split("\n", 2)[2]
    assert "activation.py:340" in source_line(only_torch)  # nothing else: the last frame
