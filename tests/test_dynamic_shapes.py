"""Dynamic dims: one normalized form from either spelling, early usage errors, cache keys that
tell ranges apart, clear export failures, and programs checked at min / middle / max."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.export import Dim

from etworkbench import UsageError, load_model, lower, preview
from etworkbench.lowering._cache import model_fingerprint
from etworkbench.lowering._dynamic_export import export_spec
from etworkbench.lowering._fingerprint import program_fingerprint
from etworkbench.models._dynamic import parse_dynamic


class Head(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x, scale=None):
        out = self.linear(x).relu()
        return out if scale is None else out * scale


class FixedBatch(torch.nn.Module):
    """Its code fixes the batch to 2: a dynamic batch must be refused, with torch's fix."""

    def forward(self, x):
        return x.view(2, -1).relu()


def head_spec(dynamic, batch: int = 3, **kw):
    torch.manual_seed(0)
    return load_model(Head(), (torch.randn(batch, 4),), dynamic_shapes=dynamic, **kw)


# -- one normalized form ------------------------------------------------------------------------


def test_every_spelling_normalizes_to_the_same_plain_picklable_form():
    spellings = [
        {"x": {0: Dim("batch", min=1, max=8)}},
        ({0: Dim("b", min=1, max=8)},),
        {"x": {0: (1, 8)}},
        {0: {-2: (1, 8)}},  # positional index, negative dim
        parse_dynamic(["x:0=1..8"]),
        parse_dynamic("0:0=1..8"),
    ]
    forms = [head_spec(s).dynamic_shapes for s in spellings]
    assert all(form == forms[0] for form in forms), forms
    (dim,) = forms[0]
    assert (dim.input, dim.dim, dim.min, dim.max, dim.label) == (0, 0, 1, 8, "x")
    assert pickle.loads(pickle.dumps(forms[0])) == forms[0]
    assert hash(forms[0]) == hash(pickle.loads(pickle.dumps(forms[0])))
    assert "dynamic x:0=1..8" in head_spec(spellings[0]).describe_inputs()


def test_a_shared_dim_is_one_group_whatever_its_name():
    class Add(torch.nn.Module):
        def forward(self, a, b):
            return a + b

    inputs = (torch.randn(3, 4), torch.randn(3, 4))
    shared = Dim("batch", min=1, max=8)
    together = load_model(Add(), inputs, dynamic_shapes={"a": {0: shared}, "b": {0: shared}})
    other_name = Dim("n", min=1, max=8)
    renamed = load_model(Add(), inputs, dynamic_shapes=({0: other_name}, {0: other_name}))
    apart = load_model(Add(), inputs, dynamic_shapes={"a": {0: (1, 8)}, "b": {0: (1, 8)}})
    assert together.dynamic_shapes == renamed.dynamic_shapes
    assert [d.group for d in together.dynamic_shapes] == [0, 0]
    assert [d.group for d in apart.dynamic_shapes] == [0, 1]
    assert "same as a:0" in together.describe_inputs()


@pytest.mark.parametrize(
    "dynamic, message",
    [
        ({"y": {0: (1, 8)}}, r"unknown input 'y'; the model's inputs are x"),
        ({3: {0: (1, 8)}}, r"input 3 is out of range"),
        ({"x": {2: (1, 8)}}, r"x has 2 dims \(shape \[3, 4\]\), so dim 2 is out of range"),
        ({"x": {0: (8, 2)}}, r"min 8 is above max 2"),
        ({"x": {0: (0, 8)}}, r"min 0 is below 1"),
        ({"x": {0: Dim("b", min=0, max=8)}}, r"min 0 is below 1"),
        ({"x": {0: (4, 8)}}, r"is 4..8 but the example input x has size 3"),
        ({"x": {0: (3, 3)}}, r"one size, not a range"),
        ({"x": {0: Dim.AUTO}}, r"need a range"),
        ({"x": {0: Dim("b")}}, r"integers"),  # no max: nothing to check or run at
        ({"x": {0: 2 * Dim("b", min=1, max=4)}}, r"derived dims"),
        ({"x": {0: (1, 8)}, 0: {0: (1, 8)}}, r"given twice"),
        ("x:0=1..8", r"must be a dict"),
    ],
)
def test_bad_dynamic_dims_are_usage_errors_naming_the_problem(dynamic, message):
    with pytest.raises(UsageError, match=message):
        head_spec(dynamic)


@pytest.mark.parametrize("text", ["x0=1..8", "x:0=1-8", "x:a=1..8", "x:0=..8", ":0=1..2"])
def test_bad_flag_text_names_the_flag_and_the_form(text):
    with pytest.raises(UsageError, match=r"--dynamic .* is not of the form input:dim=min..max"):
        parse_dynamic([text])


def test_a_keyword_input_can_be_dynamic():
    spec = load_model(
        Head(),
        (torch.randn(3, 4),),
        example_kwargs={"scale": torch.randn(3, 1)},
        dynamic_shapes={"x": {0: Dim("b", min=1, max=8)}, "scale": {0: Dim("b", min=1, max=8)}},
    )
    assert [(d.input, d.group) for d in spec.dynamic_shapes] == [(0, 0), ("scale", 0)]
    program = export_spec(spec)
    assert [str(r) for r in program.range_constraints.values()] == ["VR[1, 8]"]


# -- what torch does with size 1 ----------------------------------------------------------------


def test_an_example_of_size_1_is_widened_for_export_and_the_range_keeps_1():
    """torch 2.14 specializes an example size of 1 (measured: "specialized it to be a constant
    (1)"); the export uses a batch of 2, the program still takes 1..8."""
    spec = head_spec({"x": {0: (1, 8)}}, batch=1)
    with pytest.raises(Exception, match="specialized it to be a constant \\(1\\)"):
        torch.export.export(
            spec.module, tuple(spec.example_inputs), dynamic_shapes={"x": {0: Dim("b", max=8)}}
        )
    program = export_spec(spec)
    assert [str(r) for r in program.range_constraints.values()] == ["VR[1, 8]"]
    assert tuple(spec.example_inputs[0].shape) == (1, 4)  # the user's example is kept


def test_code_that_fixes_a_dynamic_dim_fails_at_export_naming_it_with_torchs_fix():
    report = lower(
        FixedBatch(),
        ["xnnpack"],
        example_inputs=(torch.randn(2, 4),),
        dynamic_shapes={0: {0: Dim("batch", min=1, max=8)}},
        cache=False,
    )
    error = report["xnnpack"].error
    assert report["xnnpack"].status == "failed" and error.stage == "export"
    assert "does not allow dynamic dim x:0 (1..8)" in error.message
    assert "specialized it to be a constant (2)" in error.message
    assert "torch's suggested fix: x_dim0 = 2" in error.message
    assert "Traceback" not in error.message
    previewed = preview(
        FixedBatch(),
        ["xnnpack"],
        example_inputs=(torch.randn(2, 4),),
        dynamic_shapes={0: {0: (1, 8)}},
    )
    assert "x_dim0 = 2" in previewed["xnnpack"].error.message


# -- cache keys ----------------------------------------------------------------------------------


def test_zoo_keys_include_the_dynamic_dims():
    plain = load_model("teaching_net", lazy=True)
    batch = load_model("teaching_net", dynamic_shapes={"x": {0: (1, 4)}})
    spelled = load_model("teaching_net", dynamic_shapes=({0: Dim("n", min=1, max=4)},))
    wider = load_model("teaching_net", dynamic_shapes={"x": {0: (1, 8)}})
    keys = [model_fingerprint(s) for s in (plain, batch, spelled, wider)]
    assert keys[1] == keys[2]
    assert len({keys[0], keys[1], keys[3]}) == 3


_RANGES = st.tuples(st.integers(1, 3), st.integers(4, 9))  # always around the example size 3


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.one_of(st.none(), _RANGES), second=st.one_of(st.none(), _RANGES))
def test_program_keys_tell_ranges_apart_and_ignore_the_spelling(first, second):
    """The user-module key is the exported program's: same ranges (in either spelling) give
    the same key, any other range or a static dim another one."""

    def key(rng, spelled_as_dim):
        if rng is None:
            dynamic = None
        elif spelled_as_dim:
            dynamic = {"x": {0: Dim("batch", min=rng[0], max=rng[1])}}
        else:
            dynamic = {0: {0: rng}}
        spec = head_spec(dynamic)
        program = export_spec(spec)
        return program_fingerprint(program, spec.example_inputs), model_fingerprint(spec, program)

    a, b = key(first, True), key(second, False)
    assert (a[0] == b[0]) == (first == second)  # the program alone tells them apart
    assert (a[1] == b[1]) == (first == second)


# -- lowering, running, reporting ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dynamic_teaching(tmp_path_factory):
    """teaching_net, batch 1..4, XNNPACK and portable in forked workers (one shared export)."""
    return lower("teaching_net", ["xnnpack", "portable"], dynamic_shapes={"x": {0: (1, 4)}}, jobs=0)


def test_dynamic_programs_run_at_min_middle_and_max(dynamic_teaching):
    rows = dynamic_teaching.check_dynamic()
    assert [(r.backend, r.point, r.shape) for r in rows] == [
        (backend, point, f"x[{size}, 3, 16, 16]")
        for backend in ("xnnpack", "portable")
        for point, size in (("min", 1), ("mid", 2), ("max", 4))
    ]
    for row in rows:
        assert row.ran, row
        assert row.max_abs_error is not None and row.max_abs_error < 1e-5
    data = json.loads(dynamic_teaching.to_json())
    assert data["results"][0]["dynamic"][2]["shape"] == "x[4, 3, 16, 16]"
    assert "dynamic x:0=1..4" in data["inputs"]
    assert "dynamic xnnpack max x[4, 3, 16, 16]: ran" in dynamic_teaching.summary()
    assert dynamic_teaching["xnnpack"].placement.delegated_nodes > 0


def test_a_lowering_served_from_the_cache_keeps_its_ranges(dynamic_teaching):
    again = lower("teaching_net", ["xnnpack"], dynamic_shapes=({0: Dim("b", min=1, max=4)},))
    assert again["xnnpack"].cached
    assert all(row.ran for row in again["xnnpack"].check_dynamic())
    static = lower("teaching_net", ["xnnpack"])  # another key: a static program, not this one
    assert static["xnnpack"].check_dynamic() == []
    assert static["xnnpack"].model_spec.dynamic_shapes == ()


def test_rows_say_why_a_program_was_not_run():
    report = lower(
        FixedBatch(),
        ["xnnpack"],
        example_inputs=(torch.randn(2, 4),),
        dynamic_shapes={0: {0: (1, 8)}},
        cache=False,
    )
    rows = report.check_dynamic()
    assert [r.point for r in rows] == ["min", "mid", "max"]
    assert not any(r.ran for r in rows)
    assert all(r.message.startswith("lowering failed: export failed") for r in rows)


def test_cli_dynamic_flag(dynamic_teaching, capsys, tmp_path):
    from etworkbench.cli import main

    code = main(["lower", "teaching_net", "--dynamic", "x:0=1..4", "--run", "--repeats", "1",
                 "--json", "--out", str(tmp_path)])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    rows = data["results"][0]["dynamic"]
    assert [(r["point"], r["ran"]) for r in rows] == [("min", True), ("mid", True), ("max", True)]
    assert main(["lower", "teaching_net", "--dynamic", "x=1..4"]) == 2
    assert "--dynamic 'x=1..4' is not of the form input:dim=min..max" in capsys.readouterr().err
    assert main(["lower", "teaching_net", "--dynamic", "y:0=1..4", "--preview"]) == 2
    assert "unknown input 'y'" in capsys.readouterr().err


def test_app_dynamic_dims_field():
    pytest.importorskip("ipywidgets")
    from etworkbench import Workbench

    wb = Workbench()
    wb.background = False
    wb.select(model="teaching_net", backends=["xnnpack"], dynamic="x:0=1-4")
    assert wb.lower() is None
    assert "dynamic dims &#x27;x:0=1-4&#x27; is not of the form" in wb.message.value
    wb.select(dynamic="y:0=1..4")
    assert wb.preview() is None and "unknown input" in wb.message.value
    wb.select(dynamic="x:0=1..4")
    assert wb.controls.selection().dynamic == "x:0=1..4"
    report = wb.preview()
    assert report is not None and report["xnnpack"].ok, wb.message.value
    assert "dynamic x:0=1..4" in report.inputs


@pytest.mark.slow
def test_mobilenet_v2_with_a_dynamic_batch_runs_at_1_2_and_4():
    """The issue's done check: XNNPACK, batch 1..4, each size within 1e-5 of eager."""
    report = lower("mobilenet_v2", ["xnnpack"], dynamic_shapes={"x": {0: (1, 4)}}, cache=False)
    result = report["xnnpack"]
    assert result.ok, result.summary_line()
    rows = result.check_dynamic()
    assert [r.shape for r in rows] == [f"x[{n}, 3, 224, 224]" for n in (1, 2, 4)]
    for row in rows:
        assert row.ran and row.max_abs_error <= 1e-5, row
