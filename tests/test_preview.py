"""Placement preview: same placement as a full lowering, without compiling, and fast to redo."""

from __future__ import annotations

import pytest

from etworkbench import lower, preview


@pytest.mark.parametrize(
    "model", ["teaching_net", "transformer_block", "tests/fixtures/user_model.py:make"]
)
def test_preview_counts_and_reasons_equal_the_full_lowering(model):
    planned = preview(model, ["xnnpack"])["xnnpack"]
    lowered = lower(model, ["xnnpack"], cache=False)["xnnpack"]
    assert planned.preview and planned.ok
    assert planned.placement.coverage() == lowered.placement.coverage()
    planned_reasons = sorted(n.reason for n in planned.placement.fallbacks())
    lowered_reasons = sorted(n.reason for n in lowered.placement.fallbacks())
    assert planned_reasons == lowered_reasons
    assert planned.sizes is None and "not compiled" in planned.summary_line()


def test_second_preview_reuses_the_decomposed_program():
    preview("teaching_net", ["xnnpack"])
    again = preview("teaching_net", ["xnnpack"])["xnnpack"]
    # Only the re-tag runs: no export, no decomposition (both came from memory).
    assert again.timings_s["to_edge"] < 0.01 and again.timings_s["export"] < 0.01


def test_preview_has_no_pte():
    result = preview("teaching_net", ["xnnpack"])["xnnpack"]
    with pytest.raises(Exception, match="no .pte"):
        result.save("/tmp/never.pte")


def test_preview_from_memory_does_not_build_the_zoo_model(monkeypatch):
    import dataclasses

    from etworkbench.models import _spec

    preview("teaching_net", ["xnnpack"])

    def build():
        raise AssertionError("teaching_net was built")

    entry = dataclasses.replace(_spec._ZOO["teaching_net"], build=build)
    monkeypatch.setitem(_spec._ZOO, "teaching_net", entry)
    again = preview("teaching_net", ["xnnpack"])
    assert again["xnnpack"].ok and again.parameter_bytes > 0


def test_a_newly_chosen_backend_reuses_the_functionalized_export(monkeypatch):
    from etworkbench.lowering import _preview, _shared_edge

    preview("teaching_net", ["xnnpack"])
    shared = _preview._exports["zoo:teaching_net"]
    assert isinstance(shared, _shared_edge.SharedExport) and shared._functional is not None
    monkeypatch.setattr(
        shared.exported, "run_decompositions", None, raising=False
    )  # functionalizing again would fail
    assert preview("teaching_net", ["openvino"])["openvino"].ok


@pytest.mark.parametrize(
    ("model", "ops"),
    [
        ("teaching_net", ["aten.relu.default"]),  # the middle of a delegate: re-split
        ("transformer_block", ["aten.linear.default"]),  # kept from decomposition by XNNPACK
    ],
)
def test_preview_with_excluded_ops_equals_the_full_lowering(model, ops):
    planned = preview(model, ["xnnpack"], exclude_ops=ops)["xnnpack"]
    lowered = lower(model, ["xnnpack"], exclude_ops=ops, cache=False)["xnnpack"]
    assert planned.ok and lowered.ok
    assert planned.placement.coverage() == lowered.placement.coverage()
    assert planned.placement.num_delegated_subgraphs == lowered.placement.num_delegated_subgraphs
    planned_reasons = sorted(n.reason for n in planned.placement.fallbacks())
    assert planned_reasons == sorted(n.reason for n in lowered.placement.fallbacks())
    assert any("excluded by user" in reason for reason in planned_reasons)
    plain = preview(model, ["xnnpack"])["xnnpack"]
    assert plain.placement.coverage() != planned.placement.coverage()  # not the cached one
