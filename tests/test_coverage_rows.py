"""Coverage rows line up across backends: one row per op of the user's exported program.

Core ML keeps `aten.conv2d.default`, XNNPACK decomposes it to `aten.convolution.default`; both
must land in the `aten.conv2d.default` row, each backend's own ops as detail (hover, CSV), and
the counts summed over rows must stay the placement's. Hand-built placements for the rules, one
real lowering on XNNPACK and Core ML for the provenance.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from etworkbench.analysis.placement import NodeCounts, NodePlacement, Placement
from etworkbench.lowering import BackendResult
from etworkbench.views import coverage as C

CONV2D, CONVOLUTION = "aten.conv2d.default", "aten.convolution.default"


def _node(name, target, source_op, delegated=True, backend="b", structural=False):
    return NodePlacement(
        name,
        name.rsplit("/", 1)[-1],
        target,
        delegated,
        backend if delegated else None,
        "lowered_module_0" if delegated else None,
        structural=structural,
        reason=None if delegated else "r",
        source_op=source_op,
    )


def _result(backend, nodes, model="m"):
    result = BackendResult(backend, [backend], "fp32", "ok", model=model)
    result.placement = Placement(nodes, [], ["x"], [nodes[-1].name], 1)
    return result


def _xnnpack():
    """conv2d decomposed to convolution (delegated) + a CPU permute copy, relu, getitem, mean."""
    return _result(
        "xnnpack",
        [
            _node("lm/aten_convolution_default", CONVOLUTION, CONV2D, backend="xnnpack"),
            _node("aten_permute_copy_default", "aten.permute_copy.default", CONV2D, False),
            _node(
                "lm/aten_relu_default", "aten.relu.default", "aten.relu.default", backend="xnnpack"
            ),
            _node("getitem", "getitem", "aten.relu.default", False, structural=True),
            _node("aten_mean_dim", "aten.mean.dim", "aten.mean.dim", False),
        ],
    )


def _coreml():
    """conv2d kept as conv2d, relu and mean delegated, no provenance on relu (old pickle)."""
    return _result(
        "coreml",
        [
            _node("lm/aten_conv2d_default", CONV2D, CONV2D, backend="coreml"),
            _node("lm/aten_relu_default", "aten.relu.default", "", backend="coreml"),
            _node("lm/aten_mean_dim", "aten.mean.dim", "aten.mean.dim", backend="coreml"),
            _node("getitem", "getitem", "", False, structural=True),
        ],
    )


def _cells(results):
    return {(c.op, c.backend): c for c in C.coverage_rows(results)}


def test_one_row_per_exported_op_with_each_backends_own_ops_as_detail():
    results = [_xnnpack(), _coreml()]
    cells = _cells(results)
    assert sorted({op for op, _ in cells}) == [CONV2D, "aten.mean.dim", "aten.relu.default"]
    xnn, coreml = cells[(CONV2D, "xnnpack")], cells[(CONV2D, "coreml")]
    assert (xnn.delegated, xnn.fallback, xnn.state) == (1, 1, "partly")
    assert (coreml.delegated, coreml.fallback, coreml.state) == (1, 0, "delegated")
    assert xnn.backend_ops == (
        "aten.convolution.default x1 delegated; aten.permute_copy.default x1 CPU fallback"
    )
    assert coreml.backend_ops == "aten.conv2d.default x1 delegated"
    # a node without provenance counts under its own target
    assert cells[("aten.relu.default", "coreml")].delegated == 1
    assert cells[("aten.mean.dim", "xnnpack")].state == "fallback"
    assert cells[("aten.mean.dim", "coreml")].state == "delegated"
    assert CONVOLUTION not in {op for op, _ in cells}


def test_csv_has_the_backend_ops_column_and_the_same_totals():
    results = [_xnnpack(), _coreml()]
    rows = list(csv.DictReader(io.StringIO(C.coverage_csv(results))))
    assert list(rows[0]) == ["op", "backend", "backend_ops", "state", "delegated", "cpu_kernel"]
    conv = {r["backend"]: r for r in rows if r["op"] == CONV2D}
    assert conv["xnnpack"]["backend_ops"].startswith("aten.convolution.default x1 delegated")
    assert conv["coreml"]["backend_ops"] == "aten.conv2d.default x1 delegated"
    for result in results:
        counts = result.placement.counts
        mine = [r for r in rows if r["backend"] == result.backend]
        assert sum(int(r["delegated"]) for r in mine) == counts.delegated
        assert sum(int(r["cpu_kernel"]) for r in mine) == counts.cpu_kernels
    # naive comma splitting (older readers) still finds cpu_kernel last
    for line in C.coverage_csv(results).splitlines()[1:]:
        assert len(line.split(",")) == 6


def test_heatmap_has_one_conv_row_filled_for_both_backends_with_detail_on_hover():
    fig = C.coverage_figure([_xnnpack(), _coreml()], structural=True)
    heat = fig.data[0]
    ops, backends = list(heat.y), list(heat.x)
    assert ops.count(CONV2D) == 1 and CONVOLUTION not in ops
    row = ops.index(CONV2D)
    states = {b: C.CATEGORIES[heat.z[row][i]] for i, b in enumerate(backends)}
    assert states == {"xnnpack": "partly", "coreml": "delegated"}
    hover = heat.hovertext[row]
    assert "as aten.convolution.default x1 delegated" in hover[backends.index("xnnpack")]
    assert "as aten.permute_copy.default x1 CPU fallback" in hover[backends.index("xnnpack")]
    assert "as aten.conv2d.default x1 delegated" in hover[backends.index("coreml")]
    # structural getitems keep their own row, whatever op their provenance names
    getitem = list(heat.hovertext[ops.index("getitem")])
    assert "as getitem x1 structural" in getitem[0] and "as getitem x1 structural" in getitem[1]
    assert "structural" not in heat.hovertext[ops.index("aten.relu.default")][0]


def test_matrix_sums_equal_the_placement_counts_and_the_per_target_grouping():
    results = [_xnnpack(), _coreml()]
    matrix = C.coverage_matrix(results)
    assert list(matrix.index) == [CONV2D, "aten.mean.dim", "aten.relu.default", "getitem"]
    for result in results:
        counts = result.placement.counts
        for kind, value in (
            ("delegated", counts.delegated),
            ("cpu_kernel", counts.cpu_kernels),
            ("structural", counts.structural),
        ):
            assert int(matrix[(result.backend, kind)].sum()) == value
    assert int(matrix.to_numpy().sum()) == sum(len(r.placement.nodes) for r in results)
    assert matrix.loc[CONV2D, ("xnnpack", "cpu_kernel")] == 1
    assert "getitem" not in C.coverage_matrix(results, structural=False).index


def test_backend_ops_orders_by_count_and_splits_kinds_of_one_target():
    nodes = [
        _node("a", "aten.add.Tensor", "aten.foo.default"),
        _node("b", "aten.mul.Tensor", "aten.foo.default"),
        _node("c", "aten.mul.Tensor", "aten.foo.default", delegated=False),
        _node("d", "getitem", "aten.foo.default", delegated=False, structural=True),
    ]
    assert C.backend_ops(nodes) == (
        "aten.mul.Tensor x1 delegated + x1 CPU fallback; aten.add.Tensor x1 delegated; "
        "getitem x1 structural"
    )
    assert C.backend_ops([]) == ""
    assert NodeCounts.of(nodes) == NodeCounts(2, 1, 1)


def test_hover_lists_at_most_eight_ops_of_a_row():
    nodes = [_node(f"n{i}", f"aten.op{i}.default", "aten.big.default") for i in range(11)]
    heat = C.coverage_figure([_result("b", nodes)]).data[0]
    (hover,) = heat.hovertext[0]
    assert hover.count("<br>as ") == 8 and "… and 3 more ops" in hover


def test_placement_coverage_stays_keyed_by_op_type():
    """get_delegation_info agreement: `Placement.coverage()` ignores source_op."""
    coverage = _xnnpack().placement.coverage()
    assert [row.op for row in coverage] == [
        "aten_convolution_default",
        "aten_mean_dim",
        "aten_permute_copy_default",
        "aten_relu_default",
        "getitem",
    ]


def test_a_node_pickled_before_source_op_existed_falls_back_to_its_target():
    node = _node("x", "aten.relu.default", "aten.hardtanh.default")
    del node.__dict__["source_op"]  # what unpickling an older NodePlacement gives
    assert node.source_op == "" and C.row_op(node) == "aten.relu.default"


def _source(target, *parents):
    return SimpleNamespace(target=target, from_node=list(parents))


def test_source_op_is_the_oldest_operator_of_the_provenance_chain():
    from etworkbench.analysis.source_ops import source_op_of

    def node(target, *sources):
        return SimpleNamespace(target=target, meta={"from_node": list(sources)} if sources else {})

    own = str  # stands for op_name: the node's own target
    chain = _source(CONVOLUTION, _source(CONVOLUTION, _source(CONV2D)))
    assert source_op_of(node("edge_conv", chain), own) == CONV2D
    # only the first source of each level is followed
    assert source_op_of(node("x", _source("aten.add.Tensor"), _source("aten.mul.Tensor")), own) == (
        "aten.add.Tensor"
    )
    # a PT2E observer ends the chain; the operator that replaced it is the source
    dq = "quantized_decomposed.dequantize_per_tensor.default"
    assert source_op_of(node("dq", _source(dq, _source("activation_post_process_3"))), own) == dq
    edge = "<EdgeOpOverload: aten.mean.dim>: schema = aten::mean.dim(Tensor self) -> Tensor"
    assert source_op_of(node("m", _source(edge)), own) == "aten.mean.dim"
    # no provenance, or none naming an operator: the node's own target
    assert source_op_of(node("aten.relu.default"), own) == "aten.relu.default"
    assert source_op_of(node("getitem", _source("<built-in function getitem>")), own) == "getitem"


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def lowered():
    from etworkbench import get_backend, lower

    if not get_backend("coreml").availability.available:
        pytest.skip("coremltools is not installed")
    torch.manual_seed(0)
    inputs = (torch.randn(1, 3, 8, 8),)
    model = ConvNet().eval()
    report = lower(model, ["xnnpack", "coreml"], example_inputs=inputs, cache=False)
    assert all(r.ok for r in report.results), report.summary()
    exported = torch.export.export(model, inputs).graph.nodes
    ops = {str(n.target) for n in exported if n.op == "call_function"}
    return report, ops


def test_real_lowering_puts_the_conv_of_both_backends_in_one_row(lowered):
    report, exported_ops = lowered
    assert exported_ops == {CONV2D, "aten.relu.default", "aten.mean.dim", "aten.linear.default"}
    xnnpack, coreml = report["xnnpack"].placement, report["coreml"].placement
    # the backends decompose the conv differently, yet both name the exported op as its source
    assert {n.source_op for n in xnnpack.nodes if n.target == CONVOLUTION} == {CONV2D}
    assert {n.source_op for n in coreml.nodes if n.target == CONV2D} == {CONV2D}
    assert CONV2D not in {n.target for n in xnnpack.nodes}
    for placement in (xnnpack, coreml):  # inside the delegates and outside
        assert {n.source_op for n in placement.nodes} <= exported_ops

    cells = _cells(report)
    assert cells[(CONV2D, "xnnpack")].state == cells[(CONV2D, "coreml")].state == "delegated"
    assert cells[(CONV2D, "xnnpack")].backend_ops == "aten.convolution.default x1 delegated"
    assert cells[(CONV2D, "coreml")].backend_ops == "aten.conv2d.default x1 delegated"
    heat = C.coverage_figure(report).data[0]
    ops, backends = list(heat.y), list(heat.x)
    assert backends == ["xnnpack", "coreml"] and ops.count(CONV2D) == 1
    assert CONVOLUTION not in ops
    row = ops.index(CONV2D)
    assert [C.CATEGORIES[code] for code in heat.z[row]] == ["delegated", "delegated"]
    assert "as aten.convolution.default x1 delegated" in heat.hovertext[row][0]
    assert "as aten.conv2d.default x1 delegated" in heat.hovertext[row][1]


def test_real_lowering_totals_equal_the_per_target_grouping(lowered):
    """Regrouping moves nodes between rows only: every count summed over rows is unchanged."""
    report, _ = lowered
    matrix = C.coverage_matrix(report)
    by_row = {(op, b, k): int(v) for (b, k), col in matrix.items() for op, v in col.items()}
    for result in report.results:
        counts = result.placement.counts
        per_target = Counter((n.target, n.kind) for n in result.placement.nodes)  # the old rows
        for kind, value in (
            ("delegated", counts.delegated),
            ("cpu_kernel", counts.cpu_kernels),
            ("structural", counts.structural),
        ):
            ours = sum(v for (_, b, k), v in by_row.items() if (b, k) == (result.backend, kind))
            before = sum(v for (_, k), v in per_target.items() if k == kind)
            assert ours == before == value
        cells = [c for c in C.coverage_rows(report) if c.backend == result.backend]
        assert sum(c.delegated for c in cells) == counts.delegated
        assert sum(c.fallback for c in cells) == counts.cpu_kernels
        # get_delegation_info's per-op keys are untouched: the backend's own node names
        assert {row.op for row in result.placement.coverage()} == {
            n.op for n in result.placement.nodes
        }
    structural = matrix.xs("structural", axis=1, level="placement").sum(axis=1)
    assert list(structural[structural > 0].index) == ["getitem"]
    assert "aten_convolution_default" in {r.op for r in report["xnnpack"].placement.coverage()}
    assert "aten_conv2d_default" in {r.op for r in report["coreml"].placement.coverage()}
