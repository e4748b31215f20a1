"""Host runs: every runnable scheme runs close to float eager; reasons when it cannot run here."""

from __future__ import annotations

import functools
import json

import pytest

from etworkbench import lower
from etworkbench import runtime as _run
from etworkbench.comparison import runnable_pairs
from etworkbench.lowering import BackendResult
from etworkbench.runtime import _host, run_program, runnability

# Max abs error allowed against the float eager model, per scheme family. fp32 is absolute;
# reduced-precision bounds are relative to the largest eager output magnitude.
FP32_ABS = 1e-4
RELATIVE = {"fp16": 0.02, "bf16": 0.05, "int8": 0.15, "int4": 0.5, "8da4w": 0.5}
# 8da4w quantizes only nn.Linear layers whose width is a multiple of 32: tiny_convnet has none.
MODEL_FOR_SCHEME = {"8da4w": "transformer_block"}


def bound_for(scheme: str, reference_max_abs: float) -> float | None:
    if scheme == "fp32":
        return FP32_ABS
    for prefix, rel in RELATIVE.items():
        if scheme.startswith(prefix) or f"-{prefix}" in scheme or f"{prefix}-" in scheme:
            return rel * max(reference_max_abs, 1e-3)
    return None


@functools.cache
def lowered(model: str, backend: str, scheme: str) -> BackendResult:
    """One lowering per (model, backend, scheme) for the whole module."""
    return lower(model, [backend], scheme)[backend]


_PAIRS_ERROR: list[str] = []


def _pairs() -> list[tuple[str, str]]:
    try:
        return runnable_pairs()
    except Exception as exc:  # collection must not fail; test_runnable_pairs_exist reports it
        _PAIRS_ERROR.append(f"{type(exc).__name__}: {exc}")
        return []


PAIRS = _pairs()


def test_runnable_pairs_exist():
    """The parametrized run test below must never be silently empty."""
    assert not _PAIRS_ERROR, f"runnable_pairs() failed at collection: {_PAIRS_ERROR[0]}"
    assert PAIRS, "runnable_pairs() is empty: no scheme of any backend would be run"
    assert ("xnnpack", "fp32") in PAIRS, PAIRS  # XNNPACK always lowers and runs on this host
    assert ("portable", "fp32") in PAIRS, PAIRS


@pytest.mark.parametrize(("backend", "scheme"), PAIRS)
def test_every_runnable_scheme_runs_close_to_eager(backend, scheme):
    model = MODEL_FOR_SCHEME.get(scheme, "tiny_convnet")
    result = lowered(model, backend, scheme)
    # runnable_pairs() lists schemes that lower here: a lowering failure is a failure.
    assert result.ok, f"{backend}/{scheme} did not lower: {result.summary_line()}"
    report = run_program(result, random_inputs=2, repeats=3, warmup=1)
    if report.status == _run.NOT_RUNNABLE:
        assert report.reason, "not runnable without a reason"
        pytest.skip(f"{backend}/{scheme}: {report.reason}")
    assert report.ok, report.summary_line()
    assert report.inputs_checked == 3
    # A backend that picks its float precision at run time (OpenVINO CPU: bf16 by default on
    # AVX512-BF16/AMX CPUs unless forced to f32) is held to the precision it reports.
    computed = scheme if report.precision in (None, "f32") else report.precision
    bound = bound_for(computed, report.error.reference_max_abs)
    assert bound is not None, (
        f"declare an error bound for scheme {scheme!r}; measured {report.error}"
    )
    assert report.error.max_abs < bound, f"{backend}/{scheme}: {report.error}"
    if model != "tiny_convnet":
        return
    # tiny_convnet is a classifier: agreement is measured, and fp32 must agree exactly.
    assert report.error.top1_agreement is not None
    if scheme == "fp32":
        assert report.error.top1_agreement == 1.0


def test_xnnpack_fp32_latency_error_and_memory_fields():
    report = run_program(lowered("tiny_convnet", "xnnpack", "fp32"), repeats=5, warmup=1)
    assert report.ok, report.summary_line()
    lat = report.latency_ms
    assert lat.repeats == 5 and lat.warmup == 1
    assert 0 < lat.min <= lat.median <= lat.p90
    assert report.error.max_abs < FP32_ABS
    assert report.error.top1_agreement == 1.0 and report.error.top5_agreement == 1.0
    assert report.error.rows == report.inputs_checked == 5  # example + 4 random, batch 1
    assert report.load_ms is not None and report.load_ms > 0
    assert set(report.memory_detail) == {"heap_bytes", "rss_hwm_bytes"}
    heap = report.memory_detail["heap_bytes"]
    assert heap is None or report.peak_memory_bytes >= heap > 0  # the runtime allocates
    assert report.memory_method
    assert "XnnpackBackend" in report.host["runtime_backends"]


def test_xnnpack_int8_error_is_quantization_sized_and_top1_agrees():
    fp32 = run_program(lowered("tiny_convnet", "xnnpack", "fp32"), repeats=2, warmup=0)
    int8 = run_program(lowered("tiny_convnet", "xnnpack", "int8"), repeats=2, warmup=0)
    assert int8.ok, int8.summary_line()
    # Compared with the *float* model: int8 error is real but bounded, and above fp32's.
    assert fp32.error.max_abs < int8.error.max_abs < 0.15 * int8.error.reference_max_abs
    assert int8.error.top1_agreement >= 0.6, int8.error


def test_non_classifier_has_no_topk(teaching_xnnpack):
    report = run_program(teaching_xnnpack["xnnpack"], random_inputs=1, repeats=2, warmup=0)
    assert report.ok, report.summary_line()
    assert report.error.top1_agreement is None and report.error.top5_agreement is None
    assert report.error.max_abs < FP32_ABS


def test_explicit_inputs_and_seeded_random_inputs(teaching_xnnpack):
    import torch

    result = teaching_xnnpack["xnnpack"]
    a = _run.random_like(result._model_spec.example_inputs, 2, seed=3)
    b = _run.random_like(result._model_spec.example_inputs, 2, seed=3)
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    report = run_program(result, inputs=a[0], random_inputs=0, repeats=1, warmup=0)
    assert report.ok and report.inputs_checked == 1


def test_backend_that_does_not_run_on_host_says_why(monkeypatch, teaching_xnnpack):
    from etworkbench.backends import get_backend

    monkeypatch.setattr(get_backend("xnnpack"), "runs_on_host", False)
    report = run_program(teaching_xnnpack["xnnpack"])
    assert report.status == "not runnable here"
    assert "not on this host" in report.reason and "XNNPACK" in report.reason
    assert report.latency_ms is None and report.error is None


def test_delegate_missing_from_runtime_registry_says_which(monkeypatch, teaching_xnnpack):
    monkeypatch.setattr(_host, "registered_backends", lambda: ("QnnBackend",))
    report = run_program(teaching_xnnpack["xnnpack"])
    assert report.status == "not runnable here"
    assert report.reason == "runtime has no XnnpackBackend backend registered"


def test_result_without_program_is_not_run():
    result = BackendResult("nope", ["nope"], "fp32", "unavailable", reason="not installed")
    assert runnability(result) == ("not run", "nothing to run: the lowering unavailable")
    report = result.run()
    assert report.status == "not run" and result.run_report is report
    assert result.to_dict()["run"]["status"] == "not run"


def test_failed_run_is_recorded_with_stage_run(teaching_xnnpack):
    import torch

    bad = (torch.randn(1, 3, 8, 8),)  # wrong shape for the program
    report = run_program(teaching_xnnpack["xnnpack"], inputs=bad, repeats=1, warmup=0)
    assert report.status == "failed"
    assert report.failure.stage == "run" and report.reason
    assert report.to_dict()["failure"]["stage"] == "run"


def test_etdump_profile_has_delegate_and_cpu_events(teaching_xnnpack):
    from etworkbench.views.tradeoff import profile_figure, profile_table

    report = run_program(
        teaching_xnnpack["xnnpack"], random_inputs=0, repeats=1, warmup=0, profile=True
    )
    profile = report.profile
    assert profile is not None
    if not profile.rows:
        pytest.skip(f"runtime gave no ETDump: {profile.note}")
    kinds = {row.kind for row in profile.rows}
    assert {"delegate call", "CPU kernel", "method"} <= kinds  # teaching_net: mean/cumsum on CPU
    assert all(row.median_ms >= 0 and row.count == profile.executions for row in profile.rows)
    calls = [row for row in profile.rows if row.kind == "delegate call"]
    assert len(calls) == 2 and {row.backend for row in calls} == {"XnnpackBackend"}
    assert "DELEGATE_CALL #1" in profile_table(report)
    assert len(profile_figure(report).data) >= 2


def test_cli_run_json_schema(teaching_xnnpack, tmp_path, capsys):
    from etworkbench.cli import main

    argv = ["lower", "teaching_net", "--run", "--repeats", "3", "--json", "--out", str(tmp_path)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    run = data["results"][0]["run"]
    assert run["status"] == "ok"
    assert set(run["latency_ms"]) == {"median", "p90", "min", "repeats", "warmup"}
    assert run["latency_ms"]["repeats"] == 3 and run["latency_ms"]["median"] > 0
    for key in ("max_abs", "mean_abs", "top1_agreement", "top5_agreement"):
        assert key in run["error"]
    for key in ("peak_memory_bytes", "memory_method", "inputs_checked", "failure", "reason"):
        assert key in run


def test_cli_without_run_has_null_run(teaching_xnnpack, tmp_path, capsys):
    from etworkbench.cli import main

    assert main(["lower", "teaching_net", "--json", "--out", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["run"] is None


def test_cli_run_and_preview_is_usage_error(capsys):
    from etworkbench.cli import main

    assert main(["lower", "teaching_net", "--run", "--preview"]) == 2
    assert "--run needs a compiled program" in capsys.readouterr().err


@pytest.mark.slow
def test_mobilenet_v2_int8_xnnpack_is_under_35_percent_of_fp32():
    fp32 = lowered("mobilenet_v2", "xnnpack", "fp32")
    int8 = lowered("mobilenet_v2", "xnnpack", "int8")
    assert fp32.ok and int8.ok, (fp32.summary_line(), int8.summary_line())
    ratio = int8.pte_bytes / fp32.pte_bytes
    assert ratio < 0.35, f"int8 {int8.pte_bytes} / fp32 {fp32.pte_bytes} = {ratio:.1%}"
    report = run_program(int8, random_inputs=1, repeats=2, warmup=1)
    assert report.ok, report.summary_line()
    assert report.error.top1_agreement is not None


def test_cli_bad_repeats_is_usage_error(teaching_xnnpack, tmp_path, capsys):
    from etworkbench.cli import main

    argv = ["lower", "teaching_net", "--run", "--repeats", "0", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--repeats must be >= 1" in capsys.readouterr().err


def test_cpu_kernel_missing_from_runtime_says_which(monkeypatch, teaching_xnnpack):
    monkeypatch.setattr(_host, "registered_operators", lambda: frozenset())
    report = run_program(teaching_xnnpack["xnnpack"])
    assert report.status == "not runnable here"
    assert report.reason.startswith("runtime has no kernel for aten::")
    assert "aten::cumsum.out" in report.reason  # teaching_net keeps cumsum on CPU


def test_a_model_with_state_is_compared_after_the_same_calls_as_eager():
    """A buffer updated each call: the program and eager must see the same call sequence."""
    import torch

    class Counter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros(1))
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            self.calls.add_(1)
            return self.fc(x) * self.calls

    torch.manual_seed(0)
    model = Counter().eval()
    result = lower(model, ["xnnpack"], example_inputs=(torch.randn(2, 4),), cache=False)["xnnpack"]
    report = result.run(random_inputs=3, repeats=5)
    assert report.status == "ok", report.reason
    assert report.error.max_abs < 1e-4, report.error
    assert float(model.calls) == 0  # the user's module was not called by the run
