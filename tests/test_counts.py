"""One truth in every view: the node counts and the delegated share are analysis.placement's.

Three small models lowered on XNNPACK (an LSTM with a state tuple: CPU kernels and structural
getitems unpacking both delegates and multi-output CPU ops; a BatchNorm CNN; a CNN whose mean is
forced onto the CPU). For each, every rendered view (the summary line, `to_dict()`, the coverage
tables and texts, the compare table, the sweep summary and report, the graph's colouring and
legend) shows the counts of `Placement.counts`, and those relate to executorch's
`get_delegation_info` and to a plain walk of the edge graph as documented.
"""

from __future__ import annotations

import operator
import re

import pytest
import torch
from torch import nn

from etworkbench import lower
from etworkbench.analysis.placement import NodeCounts, share_text
from etworkbench.comparison import Comparison, row_of
from etworkbench.sweep import summarize
from etworkbench.views import coverage as C
from etworkbench.views import graph as G
from etworkbench.views.sweep_report import coverage_csv, sweep_html


class TinyLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x, state):
        out, (h, c) = self.lstm(x, state)
        return self.head(out), (h, c)


class BatchNormCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.mean(dim=(2, 3), keepdim=True).flatten(1))


class MeanCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.conv(x)).mean(dim=(2, 3), keepdim=True)
        return self.fc(y.flatten(1))


def _inputs(name: str) -> tuple:
    torch.manual_seed(0)
    if name == "lstm":
        return (torch.randn(1, 3, 8), (torch.randn(1, 1, 16), torch.randn(1, 1, 16)))
    return (torch.randn(1, 3, 8, 8),)


MODELS = {
    "lstm": (TinyLSTM, None),
    "batchnorm": (BatchNormCNN, None),
    "forced_fallback": (MeanCNN, ["aten.mean.dim"]),
}


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    name = request.param
    factory, exclude = MODELS[name]
    torch.manual_seed(0)
    module = factory().eval()
    report = lower(
        module, ["xnnpack"], example_inputs=_inputs(name), cache=False, exclude_ops=exclude
    )
    result = report["xnnpack"]
    assert result.ok, result.summary_line()
    return name, module, report, result


def _plain_graph(module, args):
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = torch.export.export(module, args)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    return edge.exported_program().graph_module


def _walk(graph_module) -> NodeCounts:
    """The documented definition, re-implemented on the edge graph itself."""
    delegated = cpu = structural = 0
    for node in graph_module.graph.nodes:
        if node.op == "get_attr" and node.name.startswith("lowered_module_"):
            inner = getattr(graph_module, node.target).original_module.graph.nodes
            delegated += sum(1 for n in inner if n.op == "call_function")
        elif node.op != "call_function" or node.name.startswith("executorch_call_delegate"):
            continue
        elif node.target is operator.getitem:
            structural += 1
        else:
            cpu += 1
    return NodeCounts(delegated, cpu, structural)


def test_counts_relate_to_get_delegation_info_as_documented(case):
    name, module, _, result = case
    counts = result.placement.counts
    assert counts.total == len(result.placement.nodes)
    assert counts.structural > 0  # every delegate output is unpacked by a getitem
    assert result.placement.delegated_nodes == counts.delegated
    assert result.placement.fallback_nodes == counts.cpu_kernels + counts.structural
    assert counts.share == counts.delegated / (counts.delegated + counts.cpu_kernels)
    if name == "forced_fallback":  # the plain API cannot exclude ops; the mean stays on CPU
        assert counts.cpu_kernels >= 1
        assert [n.target for n in result.placement.cpu_fallbacks()] == ["aten.mean.dim"]
        return
    from executorch.devtools.backend_debug import get_delegation_info

    graph = _plain_graph(module, _inputs(name))
    info = get_delegation_info(graph)
    assert counts.delegation_info_delegated == info.num_delegated_nodes
    assert counts.delegation_info_non_delegated == info.num_non_delegated_nodes
    assert counts == _walk(graph)


def _numbers(pattern: str, text: str) -> tuple[str, ...]:
    match = re.search(pattern, text)
    assert match, (pattern, text)
    return match.groups()


def test_summary_line_and_json_show_the_counts(case):
    _, _, report, result = case
    c = result.placement.counts
    line = result.summary_line()
    assert line in report.summary()
    found = _numbers(
        r"delegated (\d+) / CPU fallback (\d+) / structural (\d+) nodes, (\S+) delegated", line
    )
    assert found == (str(c.delegated), str(c.cpu_kernels), str(c.structural), c.share_text)
    info = _numbers(r"get_delegation_info: (\d+) delegated / (\d+) non-delegated", line)
    assert info == (str(c.delegation_info_delegated), str(c.delegation_info_non_delegated))

    data = result.to_dict()
    assert data["delegated_nodes"] == c.delegated == sum(o["delegated"] for o in data["ops"])
    assert data["fallback_nodes"] == c.delegation_info_non_delegated
    assert data["fallback_nodes"] == sum(o["fallback"] for o in data["ops"])
    assert data["cpu_kernel_nodes"] == c.cpu_kernels
    assert data["structural_nodes"] == c.structural == sum(o["structural"] for o in data["ops"])
    assert data["delegated_share"] == c.share
    assert sum(r["structural"] for r in data["fallback_reasons"]) == c.structural
    assert NodeCounts.from_dict(data) == c
    old = {k: v for k, v in data.items() if k not in ("cpu_kernel_nodes", "structural_nodes")}
    assert NodeCounts.from_dict(old) == c  # a sweep cell written before the split


def test_coverage_views_show_the_counts(case):
    _, _, report, result = case
    c = result.placement.counts
    table = C.counts_table(report)
    (row,) = table.to_dict("records")
    assert row["delegated"] == c.delegated
    assert row["CPU fallback (runs a kernel)"] == c.cpu_kernels
    assert row["structural (getitem, no kernel)"] == c.structural
    assert row["delegated share"] == c.share_text
    assert row["get_delegation_info delegated"] == c.delegated
    assert row["get_delegation_info non-delegated"] == c.cpu_kernels + c.structural
    text = C.counts_text(report)
    assert re.search(
        rf"xnnpack\s+\S+\s+{c.delegated}\s+{c.cpu_kernels}\s+{c.structural}\s+"
        rf"{re.escape(c.share_text)}\s+{c.delegated}\s+{c.cpu_kernels + c.structural}",
        text,
    ), text
    assert "CPU fallback (runs a kernel)" in text and "structural (getitem, no kernel)" in text

    matrix = C.coverage_matrix(report)
    for kind, value in (
        ("delegated", c.delegated),
        ("cpu_kernel", c.cpu_kernels),
        ("structural", c.structural),
    ):
        assert int(matrix.xs(kind, axis=1, level="placement").to_numpy().sum()) == value
    cells = C.coverage_rows(report)
    assert sum(cell.delegated for cell in cells) == c.delegated
    assert sum(cell.fallback for cell in cells) == c.cpu_kernels
    csv_rows = [line.split(",") for line in C.coverage_csv(report).splitlines()[1:]]
    assert sum(int(r[-1]) for r in csv_rows) == c.cpu_kernels

    share = C.delegated_share_figure(report).data[0]
    assert list(share.text) == [c.share_text]
    assert share.y[0] == pytest.approx(c.share)
    assert len(C.fallback_table(report)) == c.cpu_kernels
    assert len(C.fallback_table(report, structural=True)) == c.cpu_kernels + c.structural
    assert sum(int(r["nodes"]) for r in C.fallback_rows(report)) == c.cpu_kernels
    html = C.fallback_table_html(report)
    if c.cpu_kernels:
        assert html.count("<tr>") == 1 + len(C.fallback_rows(report))
        assert "No CPU fallback" not in html
        assert (
            f"xnnpack: {c.cpu_kernels} CPU fallback nodes (run a kernel) listed, {c.structural} "
            "structural nodes (getitem, no kernel) not listed"
        ) in html
    else:
        assert "No CPU fallback: every node that runs a kernel was delegated" in html
        assert f"({c.structural} structural getitem node" in html


def test_compare_table_shows_the_counts(case):
    _, _, report, result = case
    c = result.placement.counts
    row = row_of(result, ran=False)
    assert (row.delegated_nodes, row.cpu_kernel_nodes, row.structural_nodes) == (
        c.delegated,
        c.cpu_kernels,
        c.structural,
    )
    assert row.delegated_share == c.share
    text = Comparison("m", report.inputs, [row], [result]).summary()
    line = next(t for t in text.splitlines() if t.startswith("xnnpack"))
    assert f"  {c.share_text}  " in line
    assert f"  {c.delegated}/{c.cpu_kernels}/{c.structural}" in line
    assert "delegated share = delegated / (delegated + CPU fallback)" in text


def test_sweep_summary_and_report_show_the_counts(case):
    name, _, _, result = case
    c = result.placement.counts
    record = result.to_dict() | {"model": name, "backend": "xnnpack", "scheme": "fp32"}
    summary = summarize([record])
    assert summary.counts[(name, "xnnpack")] == c
    assert summary.delegated_share[(name, "xnnpack")] == c.share
    csv_rows = [line.split(",") for line in coverage_csv(summary).splitlines()[1:]]
    totals = [sum(int(r[i]) for r in csv_rows) for i in (2, 3, 4)]
    assert totals == [c.delegated, c.cpu_kernels, c.structural]
    assert sum(n for _, n, _ in summary.blocking.get("xnnpack", [])) == c.cpu_kernels
    html = sweep_html(summary)
    assert (
        f"<td>{c.delegated}</td><td>{c.cpu_kernels}</td><td>{c.structural}</td>"
        f"<td>{c.share_text}</td>"
    ) in html


def _dot_classes(dot: str) -> list[str]:
    return re.findall(r'^\s+N_\w+ \[.*class="([^"]*)"\];$', dot, flags=re.M)


def test_graph_colouring_and_legend_show_the_counts(case):
    _, _, _, result = case
    placement = result.placement
    c = placement.counts
    dot = G.placement_to_dot(placement, collapse=False)
    classes = _dot_classes(dot)
    assert len(classes) == c.total
    assert classes.count("etwb-fallback") == c.cpu_kernels
    assert classes.count("etwb-structural") == c.structural
    assert classes.count("etwb-delegated") == c.delegated
    legend = next(line for line in dot.splitlines() if line.lstrip().startswith("legend"))
    assert f"delegated to xnnpack: {c.delegated} node" in legend
    assert f"CPU fallback (runs a kernel): {c.cpu_kernels} node" in legend
    assert f"structural (getitem, no kernel): {c.structural} node" in legend
    assert f"{c.share_text} delegated share = " in legend
    assert c.delegation_info_text() in legend

    kinds = [b.kind for b in G.build_view(placement, "full").boxes]
    assert kinds.count("fallback") == c.cpu_kernels
    collapsed = G.build_view(placement, "module")
    fallback_boxes = sum(b.fallback_members for b in collapsed.boxes if b.kind != "fallback")
    assert fallback_boxes + sum(b.kind == "fallback" for b in collapsed.boxes) == c.cpu_kernels


def test_share_text_never_rounds_to_an_extreme():
    assert share_text(None) == "n/a"
    assert share_text(1.0) == "100%" and share_text(0.0) == "0%"
    assert share_text(204 / 205) == "99.5%"
    assert share_text(9999 / 10000) == ">99.9%" and share_text(1 / 10000) == "<0.1%"
    assert NodeCounts(0, 0, 3).share is None and NodeCounts(0, 0, 3).share_text == "n/a"
    assert NodeCounts(3, 2, 2) + NodeCounts(1, 0, 1) == NodeCounts(4, 2, 3)
