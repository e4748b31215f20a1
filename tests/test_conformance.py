"""The conformance corpus: workbench answers against the plain executorch API, end to end."""

from __future__ import annotations

import json
import os

import pytest

from etworkbench.cli import main
from etworkbench.conformance import _compare, _run, collect
from etworkbench.conformance._cases import Case

FAST_OPS = ["add/*", "relu/*", "linear/test_linear_dtype", "sigmoid/test_sigmoid_dtype"]
FAST_TRICKY = ["tricky/python_attr_config", "tricky/shape_arithmetic", "tricky/lazy_cache"]


def _cli(out, backends, cases, *extra) -> int:
    argv = ["conformance", "--suite", "tricky", "ops", "--backends", *backends, "--out", str(out)]
    for pattern in cases:
        argv += ["--case", pattern]
    return main([*argv, *extra])


def test_the_ops_suite_yields_more_than_500_cases():
    collection = collect("ops")
    assert len(collection.cases) > 500, len(collection.cases)  # 937 with executorch 1.5.1
    names = {c.name for c in collection.cases}
    assert "add/test_add_dtype" in names
    module, args, kwargs = collection.cases[0].build()
    assert args and kwargs == {}


def test_a_fast_subset_agrees_and_a_rerun_writes_nothing(tmp_path, capsys):
    out = tmp_path / "xnn"
    assert _cli(out, ["xnnpack"], FAST_OPS + FAST_TRICKY) == 0, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["suite"]: r for r in summary["rows"]}
    assert rows["tricky"]["cases"] == 3 and rows["tricky"]["agree"] == 3
    assert 8 <= rows["ops"]["cases"] <= 14 and rows["ops"]["agree"] == rows["ops"]["cases"]
    assert summary["mismatches"] == [] and summary["errors"] == []
    assert rows["ops"]["pte_equal"] == rows["ops"]["pte_compared"] > 0  # xnnpack is deterministic
    assert rows["ops"]["fallback_without_reason"] == 0
    for row in rows.values():  # the preview places like the lowering; programs run close to eager
        assert row["previews"] > 0 and row["previews_equal"] == row["previews"]
        assert row["runs"] > 0 and row["run_max_error"] < 1e-3
    assert any(op["op"] == "aten_add_tensor" for op in summary["ops"]["xnnpack"])
    assert (out / "report.html").read_text().count("<tr>") > 5
    assert "| tricky | xnnpack | 3 | 3 |" in (out / "conformance.md").read_text()

    files = {p: p.stat().st_mtime_ns for p in (out / "cases").iterdir()}
    assert len(files) == rows["ops"]["cases"] + 3
    assert _cli(out, ["xnnpack"], FAST_OPS + FAST_TRICKY) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "cases").iterdir()} == files
    assert (
        f"{len(files)} of {len(files)} (case, backend) pairs already done"
        in capsys.readouterr().err
    )


def test_one_tricky_model_agrees_on_vulkan_and_coreml(tmp_path):
    out = tmp_path / "gpu"
    assert _cli(out, ["vulkan", "coreml"], ["tricky/python_attr_config"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {(r["backend"], r["agree"]) for r in summary["rows"]} == {("vulkan", 1), ("coreml", 1)}
    assert set(json.loads((out / "determinism.json").read_text())) == {"vulkan", "coreml"}


def test_an_injected_mismatch_is_reported_with_its_op_diff(tmp_path, monkeypatch):
    real = _compare.workbench_counts

    def off_by_one(placement):
        counts = real(placement)
        op = sorted(counts)[0]
        counts[op] = [counts[op][0] + 1, counts[op][1]]
        return counts

    monkeypatch.setattr(_compare, "workbench_counts", off_by_one)
    out = tmp_path / "bad"
    assert _cli(out, ["xnnpack"], ["tricky/python_attr_config"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    (mismatch,) = summary["mismatches"]
    (diff,) = mismatch["op_diff"]
    assert diff["workbench"][0] == diff["plain"][0] + 1
    assert summary["rows"][0]["mismatch"] == 1
    assert diff["op"] in (out / "report.html").read_text()
    assert diff["op"] in (out / "conformance.md").read_text()


def test_a_case_that_hangs_or_crashes_its_worker_fails_alone(tmp_path, monkeypatch):
    def fake_compare(case, backend, deterministic):
        if case.name == "hangs":
            import time

            time.sleep(120)
        os._exit(3)

    monkeypatch.setattr(_run, "compare_case", fake_compare)
    monkeypatch.setattr(_run, "parse_target", lambda text: text)  # nothing to import in the child
    monkeypatch.setattr(_run, "probe_determinism", lambda out, backends, notify: {})
    cases = [Case("tricky", n, lambda: None) for n in ("hangs", "crashes")]
    plan = _run.Plan(["tricky"], ["xnnpack"], cases)
    # The deadline is long enough that a loaded CI machine still forks and crashes within it.
    records = _run.run_conformance(tmp_path, plan, jobs=2, timeout=15)
    by_case = {r["case"]: r for r in records}
    assert "timed out after 15 s" in by_case["hangs"]["differences"][0]
    assert "worker died: exit status 3" in by_case["crashes"]["differences"][0]
    assert {r["outcome"] for r in records} == {"error"}


@pytest.mark.slow
def test_every_tricky_model_on_xnnpack(tmp_path):
    """The whole tricky suite; tensor_attr_scalars mismatches until _shared_edge is fixed."""
    out = tmp_path / "tricky"
    main(["conformance", "--suite", "tricky", "--backends", "xnnpack", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"][0]["cases"] == 14


def test_per_group_samples_each_operator_once():
    from etworkbench.conformance._collect import select

    cases = collect("ops").cases
    sampled = select(cases, None, None, 1)
    groups = [c.name.split("/", 1)[0] for c in sampled]
    assert len(groups) == len(set(groups)) == len({c.name.split("/", 1)[0] for c in cases})
    assert len(select(cases, ["add/*"], None, 2)) == 2


@pytest.mark.slow
def test_quantized_priority_and_ethos_u_targets_agree_with_the_plain_api(tmp_path):
    """Both sides make the same quantizer calls; a priority list is one partitioner list."""
    out = tmp_path / "targets"
    targets = ["xnnpack:int8", "coreml+xnnpack", "ethosu"]
    assert _cli(out, targets, ["tricky/python_attr_config"]) == 0
    # a model torch.export refuses fails at export on both sides, quantized too
    assert _cli(tmp_path / "refused", ["xnnpack:int8"], ["tricky/data_dependent_branch"]) == 0
    (refused,) = json.loads((tmp_path / "refused" / "summary.json").read_text())["rows"]
    assert refused["agree_both_failed"] == 1 and refused["both_failed_by_stage"] == {"export": 1}
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["backend"]: r for r in summary["rows"]}
    assert set(rows) == set(targets)
    assert all(r["agree"] == r["cases"] == 1 for r in rows.values()), summary["mismatches"]
    # deterministic quantized programs: the bytes are compared, and equal
    assert rows["xnnpack:int8"]["pte_compared"] == rows["xnnpack:int8"]["pte_equal"] == 1
    assert rows["ethosu"]["pte_compared"] == rows["ethosu"]["pte_equal"] == 1
    assert rows["xnnpack:int8"]["runs"] == 1  # the int8 program ran against eager
    assert rows["coreml+xnnpack"]["previews_equal"] == rows["coreml+xnnpack"]["previews"] == 1
    (record,) = [json.loads(p.read_text()) for p in (out / "cases").glob("*xnnpack_int8.json")]
    assert record["scheme"] == "int8" and record["plain"]["delegated"] > 0


def test_targets_parse_and_bad_ones_name_the_choices():
    from etworkbench.conformance._targets import parse_target
    from etworkbench.errors import UsageError

    assert parse_target("xnnpack").label == "xnnpack"
    target = parse_target("CoreML+xnnpack:fp32")
    assert target.backends == ("coreml", "xnnpack") and target.priority
    assert target.label == "coreml+xnnpack:fp32" and target.lowering_label == "coreml+xnnpack"
    with pytest.raises(UsageError, match="int3.*schemes are"):
        parse_target("xnnpack:int3")
    with pytest.raises(UsageError, match="twice"):
        parse_target("xnnpack+xnnpack")
    with pytest.raises(UsageError, match="nosuch"):
        parse_target("nosuch")


def test_a_run_loads_the_whole_workbench_before_its_first_case():
    import pkgutil
    import sys

    import etworkbench

    names = _run.load_every_workbench_module()
    expected = {
        info.name
        for info in pkgutil.walk_packages(etworkbench.__path__, "etworkbench.")
        if not info.name.endswith(".__main__")
    }
    assert set(names) == expected and len(expected) > 50
    assert expected <= set(sys.modules)
