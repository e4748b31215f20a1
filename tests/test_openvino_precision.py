"""OpenVINO host runs report the compute precision they really used, f32 unless asked otherwise.

ExecuTorch's OpenVINO runtime imports each delegate blob into its own ov::Core with no
properties, so the CPU plugin's default INFERENCE_PRECISION_HINT decides (bf16 on AVX512-BF16 /
AMX CPUs). That default is fixed once per process, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("openvino")

_SCRIPT = r"""
import json, sys
from etworkbench import lower
import openvino as ov

asked = sys.argv[1] if sys.argv[1] != "none" else None
result = lower("tiny_convnet", ["openvino"], "fp32")["openvino"]  # may come from the cache
if sys.argv[2] == "preload":  # load the CPU plugin now, under the process's policy
    from etworkbench.backends.openvino import host_precision
    host_precision()
report = result.run(random_inputs=2, repeats=2, warmup=0, precision=asked)
core = str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name())
print("RESULT " + json.dumps({
    "status": report.status, "reason": report.reason, "precision": report.precision,
    "note": report.precision_note, "core": core, "summary": report.summary_line(),
    "max_abs": report.error.max_abs if report.error else None,
    "ref": report.error.reference_max_abs if report.error else None,
}))
"""
_SHORT = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def _short(value: str) -> str:
    return _SHORT.get(value, value)


def _run(asked: str | None, policy: str | None = None, preload: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA",)}
    env.pop("ETWB_OPENVINO_PRECISION", None)
    if policy:
        env["ETWB_OPENVINO_PRECISION"] = policy
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, asked or "none", "preload" if preload else "-"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result (rc {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.fixture(scope="module")
def cpu_default() -> str:
    """The CPU plugin's own default here (bf16 on AVX512-BF16/AMX CPUs, f32 elsewhere)."""
    code = "import openvino as ov; print(ov.Core().get_property('CPU','INFERENCE_PRECISION_HINT'))"
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    value = out.stdout.strip().split("'")[1] if "'" in out.stdout else out.stdout.strip()
    return _short(value)


def test_fp32_runs_in_f32_by_default_on_any_cpu():
    run = _run(None)
    assert run["status"] == "ok", run
    assert run["precision"] == "f32" == _short(run["core"]), run
    assert run["max_abs"] < 1e-5, run  # f32 for real: bf16 would be ~1e-3 here
    assert "computed in f32" in run["summary"]


def test_cpu_default_precision_is_reported_as_the_core_property(cpu_default):
    run = _run(None, policy="cpu-default")
    assert run["status"] == "ok", run
    assert run["precision"] == _short(run["core"]) == cpu_default, run
    if cpu_default == "bf16":
        assert "INFERENCE_PRECISION_HINT" in run["note"]
        assert 1e-5 < run["max_abs"] < 0.05 * run["ref"], run  # bf16-sized, not f32-sized
    else:
        assert run["max_abs"] < 1e-5, run


def test_asking_bf16_gets_it_where_the_cpu_has_it_and_a_reason_elsewhere(cpu_default):
    run = _run("bf16", policy="cpu-default")  # chosen before lowering loads the CPU plugin
    if cpu_default == "bf16":
        assert run["status"] == "ok" and run["precision"] == "bf16", run
        assert 1e-5 < run["max_abs"] < 0.05 * run["ref"], run
    else:
        assert run["status"] == "not run" and run["precision"] == "f32", run
        assert "bf16 was asked" in run["reason"], run
    # Asked only after the process was fixed at f32 (plugin loaded): not run, and says how.
    late = _run("bf16", preload=True)
    assert late["status"] == "not run" and late["precision"] == "f32", late
    assert "--run-precision bf16" in late["reason"], late


def test_asking_f32_after_the_plugin_loaded_in_bf16_says_how_to_get_it(cpu_default):
    if cpu_default != "bf16":
        pytest.skip("this CPU has no bf16: OpenVINO runs f32 whatever is asked")
    run = _run("f32", policy="cpu-default", preload=True)
    assert run["status"] == "not run", run
    assert run["precision"] == "bf16" and "ETWB_OPENVINO_PRECISION=f32" in run["reason"], run


def test_bad_precision_is_a_usage_error():
    from etworkbench.backends.openvino import run_precision, set_host_precision
    from etworkbench.errors import UsageError

    with pytest.raises(UsageError):
        run_precision("fp8")
    with pytest.raises(UsageError):
        set_host_precision("int8")
