"""Keep in float: a quantized program with some modules left float (`lower(float_modules=...)`).

The fixture (`fixtures/outlier_block.py`) has one block whose hidden tensor spans 0..500: int8
ruins it, so keeping that block float must really remove its quantization (checked on the
quantized graph) and bring the program's error down (checked by running it here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etworkbench import lower
from etworkbench.backends import get_backend
from etworkbench.backends._keep_float import module_paths
from etworkbench.cli import main
from etworkbench.errors import UsageError
from etworkbench.lowering._engine import cache_key
from etworkbench.lowering._keep_float import keep_float_hook, resolve
from etworkbench.lowering._quantize import quantize
from etworkbench.models import load_model

MODEL = f"{Path(__file__).parent / 'fixtures' / 'outlier_block.py'}:make"


def _linears(program) -> dict[str, tuple[bool, bool]]:
    """Innermost module path of each linear -> (input comes dequantized, weight dequantized)."""
    found = {}
    for node in program.graph_module.graph.nodes:
        if node.op == "call_function" and "linear" in str(node.target):
            inputs, weight = node.args[0], node.args[1]
            found[module_paths(node)[-1]] = (_dequantized(inputs), _dequantized(weight))
    return found


def _dequantized(arg) -> bool:
    return getattr(arg, "op", None) == "call_function" and "dequantize" in str(arg.target)


def _quantized_program(float_modules: tuple[str, ...]):
    spec = load_model(MODEL)
    xnnpack = get_backend("xnnpack")
    keep = resolve(float_modules, spec.module)
    hook = keep_float_hook(xnnpack, keep)
    batches = [tuple(spec.example_inputs)]
    return quantize(spec, xnnpack.schemes["int8"], batches, keep_float=hook)


def test_kept_block_has_no_quantize_dequantize_around_it():
    full = _linears(_quantized_program(()))
    assert full == {
        name: (True, True) for name in ("stem", "block.expand", "block.squeeze", "head")
    }
    mixed = _linears(_quantized_program(("block",)))
    # the block's linears take float weights and a float hidden tensor between them ...
    assert mixed["block.expand"][1] is False and mixed["block.squeeze"] == (False, False)
    # ... the block's input is still a dequantized int8 tensor (stem's output), and the
    # other linears are still quantized
    assert mixed["block.expand"][0] is True
    assert mixed["stem"] == (True, True) and mixed["head"] == (True, True)


def test_type_entry_expands_to_every_module_of_that_type():
    spec = load_model(MODEL)
    keep = resolve(("nn.Linear", "aten.relu"), spec.module)
    assert keep.entries == ("aten.relu", "torch.nn.Linear")
    assert keep.modules == ("block.expand", "block.squeeze", "head", "stem")
    assert keep.ops == ("aten.relu",)


@pytest.mark.slow
def test_mixed_program_lowers_runs_and_beats_full_int8_not_served_from_int8_cache():
    int8 = lower(MODEL, ["xnnpack"], "int8")["xnnpack"]  # cache on: stored under the int8 key
    mixed = lower(MODEL, ["xnnpack"], "int8", float_modules=["block"])["xnnpack"]
    assert int8.ok and mixed.ok, (int8.summary_line(), mixed.summary_line())
    assert not mixed.cached, "the int8 program was served for a keep-float request"
    assert mixed.pte_data != int8.pte_data
    assert mixed.float_modules == ("block",) and int8.float_modules == ()
    assert "float: block" in mixed.summary_line()
    assert mixed.to_dict()["float_modules"] == ["block"]
    assert mixed.placement.counts.share == 1.0  # float linears still go to XNNPACK
    int8_run = int8.run(repeats=1, random_inputs=2)
    mixed_run = mixed.run(repeats=1, random_inputs=2)  # same inputs: seeded random batches
    assert int8_run.ok and mixed_run.ok
    assert int8_run.error.max_abs > 0.1, "the fixture's block should ruin full int8"
    assert mixed_run.error.max_abs < int8_run.error.max_abs / 5
    again = lower(MODEL, ["xnnpack"], "int8", float_modules=["block"])["xnnpack"]
    assert again.cached and again.pte_data == mixed.pte_data


@pytest.mark.parametrize(
    ("quant", "modules", "words"),
    [
        ("int8", ["blok"], ["'blok'", "did you mean", "block"]),
        ("int8", ["block.expnd"], ["block.expand"]),
        ("fp32", ["block"], ["XNNPACK fp32", "not quantized"]),
        ("8da4w", ["head"], ["XNNPACK 8da4w", "torchao"]),
        ("int8", ["aten.nosuchop"], ["not an ATen op"]),
    ],
)
def test_bad_requests_are_usage_errors(quant, modules, words):
    with pytest.raises(UsageError) as caught:
        lower(MODEL, ["xnnpack"], quant, float_modules=modules, cache=False)
    for word in words:
        assert word in str(caught.value)


def test_quantizer_without_module_skip_or_op_skip_is_refused():
    from etworkbench.lowering._keep_float import refusal

    spec = load_model(MODEL)
    ops = resolve(("aten.linear",), spec.module)
    for name in ("coreml", "tosa"):  # name-only skips: modules yes, ATen ops no
        backend = get_backend(name)
        assert refusal(backend, "int8", resolve(("head",), spec.module)) == ""
        assert "not ATen ops" in refusal(backend, "int8", ops)
    assert "no per-module skip" in refusal(get_backend("qnn"), "int8", ops)


def test_cli_keep_float_errors_exit_2(capsys):
    assert main(["lower", MODEL, "--quant", "int8", "--keep-float", "blok", "--no-cache"]) == 2
    assert "did you mean block" in capsys.readouterr().err
    assert main(["lower", MODEL, "--preview", "--keep-float", "block"]) == 2


_entry = st.from_regex(r"[a-z][a-z0-9_]{0,5}(\.[a-z0-9_]{1,4}){0,2}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.sets(_entry, max_size=4), st.sets(_entry, max_size=4), st.randoms())
def test_cache_key_is_the_set_of_float_modules(a, b, rnd):
    def key(entries):
        return cache_key("model", ["xnnpack"], "int8", (), None, (), entries)

    shuffled = list(a)
    rnd.shuffle(shuffled)
    assert key(tuple(shuffled)) == key(tuple(sorted(a)))
    assert (key(tuple(a)) == key(tuple(b))) == (a == b)
    assert (key(tuple(a)) == key(())) == (not a)  # no entries: the plain int8 key


def test_json_has_float_modules_when_none(capsys):
    from etworkbench.lowering._results import BackendResult

    assert (
        json.loads(json.dumps(BackendResult("x", ["x"], "int8", "ok").to_dict()))["float_modules"]
        == []
    )


@pytest.mark.slow
def test_app_shows_a_bad_keep_float_name_as_a_message():
    from etworkbench import Workbench

    wb = Workbench()
    wb.background = False
    wb.controls.wait_for_probes()
    wb.select(model="teaching_net", backends=["xnnpack"], quantization="int8")
    wb.select(float_modules=["fcc"])
    assert wb.state.selection.float_modules == ("fcc",)
    assert "keep in float: fcc" in wb.state.selection.describe()
    assert wb.lower() is None
    assert "etwb-error" in wb.message.value and "did you mean fc" in wb.message.value


@pytest.mark.slow
def test_compare_puts_the_mixed_program_beside_fp32_and_int8():
    from etworkbench.comparison import compare, keep_float_tradeoff
    from etworkbench.views.tradeoff import size_vs_error

    table = keep_float_tradeoff(MODEL, ["block"], repeats=2, random_inputs=1)
    fp32, int8, mixed = table.rows
    assert [r.variant for r in table.rows] == ["fp32", "int8", "int8 + float block"]
    assert all(r.status == "ok" and r.run_status == "ok" for r in table.rows), table.summary()
    assert fp32.max_abs_error < mixed.max_abs_error < int8.max_abs_error / 5
    assert mixed.latency_ms is not None and mixed.pte_bytes > int8.pte_bytes  # float weights
    assert "int8 + float block" in table.summary()
    assert "int8 + float block" in size_vs_error(table).data[0].text
    bad = compare(MODEL, [("xnnpack", "int8", ["blok"])], run=False)
    assert bad.rows[0].status == "invalid" and "did you mean block" in bad.rows[0].reason


@pytest.mark.slow
def test_app_sizes_tab_shows_the_keep_float_tradeoff():
    from etworkbench import Workbench

    wb = Workbench()
    wb.background = False
    wb.controls.wait_for_probes()
    wb.select(model=MODEL, backends=["xnnpack"], quantization="int8", float_modules=["block"])
    report = wb.lower()
    assert report is not None and report["xnnpack"].ok, wb.message.value
    box = wb.sizes.tradeoff
    assert box.layout.display == "" and "block kept in float" in box.message.value
    box.button.click()
    fp32, int8, mixed = box.comparison.rows
    assert (
        mixed.variant == "int8 + float block"
        and mixed.pte_bytes == report["xnnpack"].sizes.pte_bytes
    )
    assert mixed.max_abs_error < int8.max_abs_error  # what keeping it float buys back
    assert "int8 + float block" in box.table.value and box.figure is not None
    wb.select(float_modules=[])
    wb.lower()
    assert box.layout.display == "none"  # nothing kept float: nothing to trade off
