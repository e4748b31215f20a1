"""The nn.Module view of the graph: blocks as boxes, per-delegate shares, fallbacks at every
level, edges between boxes, opening and closing, on hand-made placements and a real lowering."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from etworkbench.analysis.placement import NodePlacement, Placement
from etworkbench.views import graph as G


def _n(name, path, backend=None, delegate=None, inputs=(), structural=False, target=None):
    return NodePlacement(
        name=name,
        op=name.split("/")[-1],
        target=target or f"aten.{name.split('/')[-1]}.default",
        delegated=delegate is not None,
        backend=backend,
        delegate=delegate,
        module_path=path,
        module_type="Block" if path.count(".") == 1 else "",
        reason=None if delegate else ("structural" if structural else "no kernel here"),
        structural=structural,
        inputs=list(inputs),
    )


def nested() -> Placement:
    """stem.0/stem.1 -> blocks.0 (xnnpack, one CPU gelu deep in blocks.0.mlp) -> blocks.1
    (vulkan 2, xnnpack 1) -> mean on the CPU (no module) -> head.1 (xnnpack)."""
    x, v = ("xnnpack", "lm0"), ("vulkan", "lm1")
    nodes = [
        _n("lm0/conv", "stem.0", *x, ["x", "p_w"]),
        _n("lm0/relu", "stem.1", *x, ["lm0/conv"]),
        _n("lm0/q0", "blocks.0.attn.q", *x, ["lm0/relu"]),
        _n("lm0/k0", "blocks.0.attn.k", *x, ["lm0/q0"]),
        _n("lm0/fc0", "blocks.0.mlp.fc1", *x, ["lm0/k0"]),
        _n("getitem", "", inputs=["lm0/fc0"], structural=True, target="getitem"),
        _n("gelu", "blocks.0.mlp.act", inputs=["getitem"]),
        _n("lm1/q1", "blocks.1.attn.q", *v, ["gelu"]),
        _n("lm2/k1", "blocks.1.attn.k", "xnnpack", "lm2", ["lm1/q1"]),
        _n("lm1/fc1", "blocks.1.mlp.fc1", *v, ["lm2/k1"]),
        _n("getitem_1", "", inputs=["lm1/fc1"], structural=True, target="getitem"),
        _n("mean", "", inputs=["getitem_1"]),
        _n("lm3/linear", "head.1", "xnnpack", "lm3", ["mean"]),
        _n("getitem_2", "", inputs=["lm3/linear"], structural=True, target="getitem"),
    ]
    return Placement(nodes, [], ["p_w", "x"], ["getitem_2"], 4)


def ids(view) -> list[str]:
    return [b.id for b in view.boxes]


def dot_line(dot: str, box_id: str) -> str:
    return next(line for line in dot.splitlines() if line.strip().startswith(box_id + " "))


def test_top_level_boxes_are_the_module_blocks():
    view = G.build_view(nested(), "module")
    assert ids(view) == [
        "I_x", "M_stem_0", "M_stem_1", "M_blocks_0", "M_blocks_1", "N_mean", "M_head", "O_0",
    ]  # fmt: skip
    # head.1 is the only indexed block under head: shown as head; getitems fold into the
    # box whose output they unpack
    assert view.box("M_head").members == ["lm3/linear", "getitem_2"]
    assert view.box("M_blocks_0").members == [
        "lm0/q0", "lm0/k0", "lm0/fc0", "getitem", "gelu",
    ]  # fmt: skip
    assert view.box("N_mean").kind == "fallback"  # no module path: the node's own box
    assert all(b.kind == "module" for b in view.boxes if b.id.startswith("M_"))


def test_big_graphs_default_to_the_module_view():
    p = nested()
    assert G.default_mode(p) == "full"
    big = Placement(p.nodes * 11, [], p.graph_inputs, p.graph_outputs)
    assert len(big.nodes) > G.AUTO_FULL_LIMIT and G.default_mode(big) == "module"
    assert G.build_view(big).mode == "module"


def test_each_box_says_how_much_each_delegate_took():
    view = G.build_view(nested(), "module")
    mixed = view.box("M_blocks_1")
    assert mixed.shares == {"vulkan": 2, "xnnpack": 1}
    assert G.share_line(mixed) == "vulkan 2/3 · xnnpack 1/3"
    assert G.majority_backend(mixed) == "vulkan" == mixed.backend
    assert G.share_line(view.box("M_stem_0")) == "xnnpack 1/1"
    line = dot_line(G.to_dot(view), "M_blocks_1")
    assert "vulkan 2/3 · xnnpack 1/3" in line and "on CPU" not in line
    assert f'color="{G.backend_colour("vulkan")}"' in line  # border: the majority backend
    bar = re.findall(r'<TD BGCOLOR="(#\w+)" WIDTH="(\d+)"', line)
    assert bar == [(G.backend_colour("vulkan"), "48"), (G.backend_colour("xnnpack"), "24")]


def test_fallback_is_marked_at_the_top_of_a_nested_hierarchy():
    p = nested()
    top = G.build_view(p, "module")
    block = top.box("M_blocks_0")  # the gelu is three levels down, in blocks.0.mlp.act
    assert block.fallback_members == 1 and G.share_line(block) == "xnnpack 3/4"
    line = dot_line(G.to_dot(top), "M_blocks_0")
    assert "1 on CPU" in line and f'color="{G.FALLBACK["border"]}"' in line
    assert "etwb-has-fallback" in line and 'penwidth="2.5"' in line
    assert f'<TD BGCOLOR="{G.FALLBACK["border"]}" WIDTH="18"' in line  # 1/4 of the bar
    assert "gelu" in block.tooltip and "no kernel here" in block.tooltip

    opened = G.build_view(p, "module", {"M_blocks_0"})
    assert "M_blocks_0" not in ids(opened)
    mlp = opened.box("M_blocks_0_mlp")
    assert mlp.fallback_members == 1 and mlp.frames == ("blocks.0",)
    assert opened.box("M_blocks_0_attn").fallback_members == 0
    assert "1 on CPU" in dot_line(G.to_dot(opened), "M_blocks_0_mlp")

    deepest = G.build_view(p, "module", {"M_blocks_0", "M_blocks_0_mlp"})
    gelu = deepest.box("N_gelu")
    assert gelu.kind == "fallback" and gelu.frames == ("blocks.0", "blocks.0.mlp")


def test_structural_getitems_never_look_like_fallbacks():
    view = G.build_view(nested(), "module")
    for box_id in ("M_blocks_1", "M_head"):
        box = view.box(box_id)
        assert any(m.startswith("getitem") for m in box.members)
        assert box.fallback_members == 0
        line = dot_line(G.to_dot(view), box_id)
        assert "on CPU" not in line and "etwb-has-fallback" not in line
        assert G.FALLBACK["border"] not in line
    assert G.share_line(view.box("M_head")) == "xnnpack 1/1"  # the getitem is not counted


def test_edges_join_boxes_without_self_loops():
    view = G.build_view(nested(), "module")
    assert view.edges == [
        ("I_x", "M_stem_0"), ("M_stem_0", "M_stem_1"), ("M_stem_1", "M_blocks_0"),
        ("M_blocks_0", "M_blocks_1"), ("M_blocks_1", "N_mean"), ("N_mean", "M_head"),
        ("M_head", "O_0"),
    ]  # fmt: skip
    opened = G.build_view(nested(), "module", {"M_blocks_0"})
    assert ("M_stem_1", "M_blocks_0_attn") in opened.edges
    assert ("M_blocks_0_attn", "M_blocks_0_mlp") in opened.edges
    assert ("M_blocks_0_mlp", "M_blocks_1") in opened.edges
    assert all(a != b for a, b in opened.edges)


def test_opening_shows_children_and_direct_nodes_and_nests():
    p = nested()
    opened = G.build_view(p, "module", {"M_blocks_1"})
    # blocks.1.attn holds two nodes: a box; blocks.1.mlp holds one: drawn as the node itself
    assert "M_blocks_1_attn" in ids(opened) and "N_lm1_fc1" in ids(opened)
    assert opened.box("M_blocks_1_attn").shares == {"vulkan": 1, "xnnpack": 1}
    # the getitem after fc1 unpacks a node box now: its own box, in the same frame
    assert opened.box("N_getitem_1").frames == ("blocks.1",)
    both = G.build_view(p, "module", {"M_blocks_1", "M_blocks_1_attn"})
    assert {"N_lm1_q1", "N_lm2_k1"} <= set(ids(both)) and "M_blocks_1_attn" not in ids(both)
    assert both.box("N_lm2_k1").frames == ("blocks.1", "blocks.1.attn")
    dot = G.to_dot(both)
    outer = dot.index("subgraph cluster_M_blocks_1 {")
    inner = dot.index("subgraph cluster_M_blocks_1_attn {")
    assert outer < inner < dot.index("N_lm2_k1 [")  # nested frames
    assert "dashed frame: an open nn.Module" in dot


def test_a_module_holding_one_box_opens_with_its_parent():
    nodes = [
        _n("lm0/a", "blocks.2.conv.0", "xnnpack", "lm0", ["x"]),
        _n("lm0/b", "blocks.2.conv.1", "xnnpack", "lm0", ["lm0/a"]),
        _n("lm0/c", "blocks.3.conv.0", "xnnpack", "lm0", ["lm0/b"]),
    ]
    p = Placement(nodes, [], ["x"], ["lm0/c"])
    opened = G.build_view(p, "module", {"M_blocks_2"})
    # blocks.2 holds only blocks.2.conv: opening blocks.2 opens it too (no box of one box)
    assert "M_blocks_2_conv" not in ids(opened)
    assert {"N_lm0_a", "N_lm0_b"} <= set(ids(opened))


def test_expand_ids_and_collapse_ids_name_modules_and_delegates():
    p = nested()
    assert G.expand_ids(p, ["blocks.0.mlp"]) == {"M_blocks_0", "M_blocks_0_mlp"}
    assert G.expand_ids(p, ["blocks"]) == {"M_blocks_0", "M_blocks_1"}
    opened = G.expand_ids(p, ["lm2"])  # a delegate: open the modules its nodes sit in
    assert "D_xnnpack_lm2" in opened and "M_blocks_1" in opened
    assert "N_lm2_k1" in ids(G.build_view(p, "module", opened))
    closing = G.collapse_ids(p, "cluster_M_blocks_0")
    assert {"M_blocks_0", "M_blocks_0_mlp", "M_blocks_0_attn"} <= closing
    assert not any(i.startswith("M_blocks_1") for i in closing)
    assert G.module_path(p, "cluster_M_blocks_0_mlp") == "blocks.0.mlp"


def test_opened_text_says_what_the_box_holds_not_click_to_expand():
    p = nested()
    view = G.build_view(p, "module")
    box = view.box("M_blocks_0")
    assert "(click to expand)" in box.tooltip
    text = G.opened_text(box, G.build_view(p, "module", {"M_blocks_0"}))
    assert "(click to expand)" not in text
    assert "5 nodes now drawn as 2 boxes" in text
    assert "blocks.0.attn (2 nodes: xnnpack 2/2)" in text
    assert "blocks.0.mlp (3 nodes: xnnpack 1/2, 1 on CPU)" in text


def test_module_view_svg_has_classes_frames_and_tooltips():
    svg = G.render(nested(), "module", {"M_blocks_0"})
    assert 'class="node etwb-group etwb-module etwb-has-fallback"' in svg
    assert 'id="cluster_M_blocks_0" class="cluster etwb-frame"' in svg
    title = re.search(r'id="M_blocks_0_mlp" class="[^"]*">\s*<title>([^<]*)', svg)
    assert "no kernel here" in title.group(1)
    full = G.to_dot(G.build_view(nested(), "full"))
    assert "somewhere inside it" not in full and "etwb-module" not in full


def test_panel_opens_closes_and_describes_module_boxes():
    pytest.importorskip("anywidget")
    from etworkbench.ui._graph_panel import BackendGraph

    pane = BackendGraph(SimpleNamespace(placement=nested()))
    assert pane.mode.value == "full"  # a small graph starts with every node
    pane.mode.value = "module"
    assert 'id="M_blocks_0"' in pane.graph.svg
    pane.graph.selected = "M_blocks_0"  # what the front end sends on a click
    assert 'id="cluster_M_blocks_0"' in pane.graph.svg and 'id="M_blocks_0"' not in pane.graph.svg
    assert "(click to expand)" not in pane.details.value and "blocks.0.mlp" in pane.details.value
    assert pane.graph.selected == ""  # so the same box can be clicked again later
    pane.graph.selected = "N_mean"
    assert "no kernel here" in pane.details.value
    pane.graph.selected = "cluster_M_blocks_0"  # a click on the open module's frame
    assert 'id="M_blocks_0"' in pane.graph.svg and "cluster_M_blocks_0" not in pane.graph.svg
    assert "blocks.0: closed" in pane.details.value
    pane.graph.selected = "M_blocks_0"
    assert 'id="cluster_M_blocks_0"' in pane.graph.svg


def test_module_view_of_a_real_lowering(teaching_xnnpack):
    placement = teaching_xnnpack["xnnpack"].placement
    counts = placement.counts
    view = G.build_view(placement, "module")
    modules = {b.label: b for b in view.boxes if b.kind == "module"}
    assert {"conv", "fc"} <= set(modules)  # TeachingNet.conv and .fc
    assert re.fullmatch(r"xnnpack (\d+)/\1", G.share_line(modules["conv"]))
    # mean and cumsum run on the CPU: each is marked, as a red box or in its module's count
    fallback = [b for b in view.boxes if b.kind == "fallback"]
    in_modules = sum(b.fallback_members for b in modules.values())
    assert len(fallback) + in_modules == counts.cpu_kernels == 2
    delegated = sum(sum(b.shares.values()) for b in modules.values())
    delegated += sum(b.kind == "delegated" for b in view.boxes)
    assert delegated == counts.delegated
    svg = G.to_svg(G.to_dot(view))
    assert 'id="M_conv"' in svg and "etwb-module" in svg


def test_quantize_nodes_without_a_module_join_the_op_they_belong_to():
    q = "quantized_decomposed.quantize_per_tensor.default"
    dq = "quantized_decomposed.dequantize_per_tensor.default"
    x = ("xnnpack", "lm0")
    nodes = [
        _n("lm0/dq_w", "", *x, ["p_w"], target=dq),  # the weight's dequantize: feeds conv
        _n("lm0/conv", "features.0.0", *x, ["x", "lm0/dq_w"]),
        _n("lm0/q", "", *x, ["lm0/conv"], target=q),  # quantizes conv's output
        _n("lm0/dq", "", *x, ["lm0/q"], target=dq),  # dequantizes it for the next op
        _n("lm0/relu", "features.1.0", *x, ["lm0/dq"]),
        _n("lm0/view", "", *x, ["lm0/relu"]),  # no module and not a (de)quantize: own box
    ]
    p = Placement(nodes, [], ["x", "p_w"], ["lm0/view"])
    view = G.build_view(p, "module")
    assert view.box("M_features_0").members == ["lm0/dq_w", "lm0/conv", "lm0/q"]
    assert view.box("M_features_1").members == ["lm0/dq", "lm0/relu"]
    assert "N_lm0_view" in ids(view) and not any("dq" in i for i in ids(view))
