"""Per-node numerics against executorch's own ETDump/ETRecord, on teaching_net (tiny)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def teaching_int8(tmp_path_factory):
    from etworkbench import lower

    return lower("teaching_net", ["xnnpack"], "int8", cache=False)["xnnpack"]


def test_fp32_xnnpack_gap_is_float_noise(teaching_xnnpack):
    report = teaching_xnnpack["xnnpack"].numerics()
    assert report.ok, report.reason
    names = {row.name for row in report.rows}
    placement = {n.name for n in teaching_xnnpack["xnnpack"].placement.nodes}
    assert names <= placement  # named as the graph names them, so it can colour them
    assert {"aten_mean_dim", "aten_cumsum_default"} <= names  # CPU kernels, per op
    assert any(row.placement == "xnnpack" for row in report.rows)  # delegate boundaries
    assert all(row.relative is not None and row.relative <= 1e-5 for row in report.rows)
    assert report.first_diverging is None


@pytest.mark.slow
def test_int8_last_node_equals_run_error(teaching_int8):
    report = teaching_int8.numerics()
    assert report.ok, report.reason
    run = teaching_int8.run(random_inputs=0, repeats=1, warmup=0)
    assert report.last.max_abs == pytest.approx(run.error.max_abs, rel=1e-5, abs=1e-7)
    assert report.last.max_abs > 1e-4  # int8 really differs from float here


@pytest.mark.slow
def test_threshold_moves_first_diverging(teaching_int8):
    high = teaching_int8.numerics(threshold=10.0)
    assert high.first_diverging is None
    low = teaching_int8.numerics(threshold=1e-9)
    assert low.first_diverging is low.rows[0]
    assert [r.order for r in low.rows] == sorted(r.order for r in low.rows)


@pytest.mark.slow
def test_cached_and_outputs(teaching_int8, tmp_path):
    import torch

    first = teaching_int8.numerics()
    again = teaching_int8.numerics()
    assert again.cached and again.rows == first.rows
    other = teaching_int8.numerics(inputs=(torch.ones(1, 3, 16, 16),))
    assert not other.cached and other.rows != first.rows  # other inputs: measured again
    data = json.loads(json.dumps(first.to_dict()))
    assert len(data["rows"]) == len(first.rows)
    assert data["first_diverging"] == first.first_diverging.name
    frame = first.to_dataframe()
    assert list(frame["name"]) == [r.name for r in first.rows]
    overlay = first.overlay()
    assert overlay.name == "error" and set(overlay.values) == {r.name for r in first.rows}
    assert overlay.worst(1)[0][0] == first.worst(1)[0].name


@pytest.mark.slow
def test_etrecord_beside_pte_and_bytes_unchanged(teaching_int8, tmp_path):
    from etworkbench import lower
    from etworkbench.errors import UsageError

    before = teaching_int8.buffer
    path = teaching_int8.save_etrecord(tmp_path / "teaching.pte")
    assert path.name == "teaching.etrecord" and path.stat().st_size > 0
    assert teaching_int8.buffer == before
    # the default lowering, again, makes the same bytes as the program the ETRecord describes
    again = lower("teaching_net", ["xnnpack"], "int8", cache=False)["xnnpack"]
    assert again.buffer == before
    (tmp_path / "a_file").write_text("")
    with pytest.raises(UsageError):  # a file where the directory should be: a usage error
        teaching_int8.save_etrecord(tmp_path / "a_file" / "x.etrecord")


def test_not_runnable_backend_says_why():
    from etworkbench import lower
    from etworkbench.runtime import NOT_RUNNABLE

    report = lower("teaching_net", ["vulkan"])
    result = report["vulkan"]
    if not result.ok:
        pytest.skip(f"vulkan did not lower here: {result.summary_line()}")
    numerics = result.numerics()
    assert numerics.status == NOT_RUNNABLE and numerics.reason and not numerics.rows


def test_portable_fp32_reports_every_kernel():
    from etworkbench import lower

    result = lower("teaching_net", ["portable"])["portable"]
    report = result.numerics()
    assert report.ok, report.reason
    assert not report.unmatched  # every kernel's output has a float twin
    kernels = {n.name for n in result.placement.nodes if not n.delegated and n.target}
    assert {row.name for row in report.rows} <= kernels and len(report.rows) >= 5
    assert all(row.placement == "cpu" and row.relative <= 1e-5 for row in report.rows)


@pytest.mark.parametrize("scheme", [None, "int8"])
def test_openvino_numerics_through_its_unstable_blobs(scheme):
    """OpenVINO's compiled blob differs from one lowering to the next; the program around it
    does not, so the ETRecord made by lowering again still describes it."""
    pytest.importorskip("openvino")
    from etworkbench import lower
    from etworkbench.lowering._etrecord import same_but_delegate_blobs

    first = lower("teaching_net", ["openvino"], scheme, cache=False)["openvino"]
    second = lower("teaching_net", ["openvino"], scheme, cache=False)["openvino"]
    assert same_but_delegate_blobs(first.buffer, second.buffer)
    report = first.numerics()
    assert report.ok, report.reason
    assert report.rows[-1].placement == "openvino"
    run = first.run(random_inputs=0, repeats=1, warmup=0)
    assert report.last.max_abs == pytest.approx(run.error.max_abs, rel=1e-5, abs=1e-7)
    if scheme is None:
        assert report.first_diverging is None
    else:
        assert report.last.relative > 1e-3  # int8 really differs


def test_different_programs_are_not_taken_for_one():
    from etworkbench import lower
    from etworkbench.lowering._etrecord import same_but_delegate_blobs

    a = lower("teaching_net", ["xnnpack"])["xnnpack"].buffer
    b = lower("tiny_convnet", ["xnnpack"])["xnnpack"].buffer
    assert same_but_delegate_blobs(a, a)
    assert not same_but_delegate_blobs(a, b)


@pytest.mark.slow
def test_keep_float_program_has_numerics():
    from etworkbench import lower

    mixed = lower("teaching_net", ["xnnpack"], "int8", float_modules=["fc"])["xnnpack"]
    report = mixed.numerics()
    assert report.ok, report.reason
    run = mixed.run(random_inputs=0, repeats=1, warmup=0)
    assert report.last.max_abs == pytest.approx(run.error.max_abs, rel=1e-5, abs=1e-7)


@pytest.mark.slow
def test_folded_batch_norm_is_compared_after_the_norm():
    """int8 folds BatchNorm into the conv before it: the conv's runtime output is the float
    model's value after the norm, and per_op_mode logs it (int8, dequantized to compare)."""
    import torch
    from torch import nn

    from etworkbench import lower

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU6(), nn.Conv2d(8, 4, 1))
    with torch.no_grad():  # a norm far from identity, so before/after really differ
        model[1].running_mean.uniform_(-2, 2)
        model[1].running_var.uniform_(0.1, 4)
    model.eval()
    report = lower(
        model,
        ["xnnpack"],
        "int8",
        example_inputs=(torch.randn(1, 3, 12, 12),),
        options={"xnnpack": {"per_op_mode": True}},
    )
    result = report["xnnpack"]
    gaps = result.numerics()
    assert gaps.ok, gaps.reason
    first = gaps.rows[0]
    assert "batch_norm" in first.reference, first
    assert first.module_path == "0"  # the quantize output carries its conv's module
    assert first.cosine > 0.99 and first.relative < 0.1, first
    run = result.run(random_inputs=0, repeats=1, warmup=0)
    assert gaps.last.max_abs == pytest.approx(run.error.max_abs, rel=1e-5, abs=1e-7)


@pytest.mark.slow
def test_per_op_delegates_each_report_once():
    """per_op_mode: delegates whose debug handles overlap (or are equal) are told apart by
    their exact handle set and run order, so no delegate output is reported twice."""
    from collections import Counter

    from etworkbench import lower

    result = lower("teaching_net", ["xnnpack"], "int8", options={"xnnpack": {"per_op_mode": True}})[
        "xnnpack"
    ]
    report = result.numerics()
    assert report.ok, report.reason
    names = Counter(row.name for row in report.rows)
    assert all(count == 1 for count in names.values()), names
    run = result.run(random_inputs=0, repeats=1, warmup=0)
    assert report.last.max_abs == pytest.approx(run.error.max_abs, rel=1e-5, abs=1e-7)
