"""The Workbench app without a browser: drive the controls and buttons, read the widgets."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")


@pytest.fixture
def workbench():
    from etworkbench import Workbench

    wb = Workbench()
    wb.background = False  # button handlers run inline, so the test sees their effects
    return wb


def test_backend_checkboxes_follow_list_backends(workbench):
    from etworkbench import list_backends

    rows = {r.name: r for r in list_backends()}
    assert set(workbench.controls.checks) == set(rows)
    assert workbench.controls.wait_for_probes(timeout=300)  # the probes run in the background
    for name, box in workbench.controls.checks.items():
        assert box.disabled == (not rows[name].available)
        if not rows[name].available:
            assert rows[name].reason in box.tooltip
            assert rows[name].title in workbench.controls.availability.value  # the hover list


def test_scheme_dropdown_offers_only_common_schemes(workbench):
    from etworkbench import get_backend

    assert workbench.controls.wait_for_probes(timeout=300)
    workbench.select(backends=["xnnpack"])
    assert set(workbench.controls.scheme.options) == set(get_backend("xnnpack").info().schemes)
    with pytest.raises(Exception, match="scheme"):
        workbench.select(quantization="no-such-scheme")
    assert "no-such-scheme" in workbench.message.value


def test_lower_button_fills_the_panels_and_save_writes(workbench, tmp_path):
    workbench.select(model="teaching_net", backends=["xnnpack"], priority=False)
    workbench.controls.lower_button.click()  # the real handler, in the foreground
    assert workbench.message.value == ""
    report = workbench.report
    assert report is not None and report["xnnpack"].ok

    graph = workbench.graphs.graphs["xnnpack"].graph.svg
    assert "<svg" in graph
    assert "etwb-delegated" in graph and "etwb-fallback" in graph
    assert "mean.dim only supports keepdim=True" in graph  # the reason, in a tooltip

    assert len(workbench.sizes.figure.data) >= 4  # the stacked parts
    assert "xnnpack" in workbench.sizes.table.value
    assert workbench.coverage.heatmap.data  # the heatmap was drawn

    bar, text = workbench.controls.bars["xnnpack"]
    assert bar.value == bar.max and text.value in ("done", "cached")

    row = workbench.saving.rows["xnnpack"]
    row.path.value = str(tmp_path / "button.pte")
    row.button.click()
    assert (tmp_path / "button.pte").stat().st_size == report["xnnpack"].sizes.pte_bytes
    assert "wrote" in row.status.value

    written = workbench.save(tmp_path / "scripted.pte")
    assert written.read_bytes() == (tmp_path / "button.pte").read_bytes()


def test_bad_model_text_shows_an_error_message(workbench):
    workbench.select(model="no_such_file.py:build", backends=["xnnpack"])
    workbench.controls.lower_button.click()
    assert workbench.report is None
    assert "etwb-error" in workbench.message.value
    assert "no_such_file.py" in workbench.message.value
    assert not workbench.controls.lower_button.disabled  # the app is usable again


def test_no_backend_chosen_is_a_message_not_a_traceback(workbench):
    assert workbench.lower() is None
    assert "choose at least one backend" in workbench.message.value


def test_cancel_stops_the_running_workers(workbench, monkeypatch):
    import etworkbench.ui._app as app

    workbench.select(model="teaching_net", backends=["xnnpack", "portable"])
    calls = []
    real = app.lower

    def lower_and_cancel_while_running(*args, **kwargs):
        calls.append(list(args[1]))
        progress = kwargs["progress"]

        def progress_then_cancel(event):
            workbench.cancel()  # the user presses Cancel while the backends lower
            progress(event)

        return real(*args, **{**kwargs, "progress": progress_then_cancel})

    monkeypatch.setattr(app, "lower", lower_and_cancel_while_running)
    report = workbench.lower()
    assert calls == [["xnnpack", "portable"]]  # one engine call: the export is shared
    assert [(r.backend, r.error.stage) for r in report.results] == [
        ("xnnpack", "cancel"),
        ("portable", "cancel"),
    ]
    assert "cancelled" in workbench.controls.stage.value
    assert "portable" in workbench.controls.stage.value
    assert workbench.controls.bars["portable"][1].value == "cancelled"
    # a cancel is not a failure: not in the failures count, not "failed: cancel failed"
    assert workbench.state.phase == "cancelled"
    assert workbench.panels.titles[3] == "failures"
    assert "xnnpack: cancelled" in workbench.summary.value
    assert "failed" not in workbench.summary.value
    assert "portable: cancelled" in workbench.failures.body.value


def test_in_process_stop_lets_the_running_backend_finish():
    from etworkbench import lower

    asked = []

    def stop():
        asked.append(True)
        return len(asked) > 1  # the user cancels while the first backend lowers

    report = lower("teaching_net", ["xnnpack", "portable"], stop=stop, cache=False)
    assert [r.backend for r in report.results] == ["xnnpack"] and report["xnnpack"].ok
    assert report.not_started == ["portable"]


def test_preview_button_draws_the_graph_without_a_pte(workbench):
    workbench.select(model="teaching_net", backends=["xnnpack"])
    workbench.controls.preview_button.click()
    assert workbench.message.value == ""
    result = workbench.report["xnnpack"]
    assert result.preview and result.sizes is None
    svg = workbench.graphs.graphs["xnnpack"].graph.svg
    assert "etwb-delegated" in svg and "etwb-fallback" in svg
    assert workbench.saving.rows == {}  # nothing to save from a preview


def test_a_module_passed_from_python(tmp_path):
    import torch

    from etworkbench import Workbench

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    wb = Workbench(model=model, example_inputs=(torch.randn(1, 4),), backends=["xnnpack"])
    report = wb.lower()
    assert report is not None and report.results[0].ok, wb.message.value
    assert wb.save(tmp_path / "m.pte").stat().st_size > 0


def test_exclude_button_keeps_the_failing_op_on_cpu_and_lowers_again(workbench, monkeypatch):
    from _fake_backend import register_failing_backend

    register_failing_backend(monkeypatch, "relu_hater", "preprocess-relu")
    from etworkbench.ui._controls import Controls

    wb = type(workbench)()  # a new app sees the test backend in its checkboxes
    wb.background = False
    assert isinstance(wb.controls, Controls) and "relu_hater" in wb.controls.checks
    wb.select(model="teaching_net", backends=["relu_hater"])
    first = wb.lower()["relu_hater"]
    assert first.status == "failed" and first.error.op == "aten.relu.default"
    assert "simulated compiler: no kernel for" in wb.failures.body.value
    button = wb.failures.exclude_buttons["aten.relu.default"]
    assert button.description == "exclude aten.relu.default and lower again"

    button.click()
    assert wb.controls.exclude.value == "aten.relu.default"
    again = wb.report["relu_hater"]
    assert again.ok, again.summary_line()
    relu = [n for n in again.placement.nodes if n.target == "aten.relu.default"]
    assert relu and all(not n.delegated and "excluded by user" in n.reason for n in relu)
    assert again.placement.delegated_nodes > 0  # the rest still went to the backend
    assert wb.failures.exclude_buttons == {}


def test_a_malformed_exclude_op_is_a_message(workbench):
    workbench.select(model="teaching_net", backends=["xnnpack"], exclude_ops=["relu"])
    assert workbench.lower() is None
    import html

    assert "cannot exclude op 'relu'" in html.unescape(workbench.message.value)


@pytest.mark.slow
def test_mobilenet_v2_xnnpack_and_coreml_through_the_app(workbench, tmp_path):
    """The issue's "done when": both graphs, coverage, sizes, and a .pte `etwb inspect` reads."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    workbench.select(model="mobilenet_v2", backends=["xnnpack", "coreml"])
    workbench.controls.lower_button.click()
    assert workbench.message.value == ""
    report = workbench.report
    assert [r.backend for r in report.results] == ["xnnpack", "coreml"]
    assert all(r.ok for r in report.results), report.summary()

    assert list(workbench.graphs.tabs.titles) == ["xnnpack", "coreml", "compare"]
    for name in ("xnnpack", "coreml"):
        svg = workbench.graphs.graphs[name].graph.svg
        assert "<svg" in svg and "etwb-delegated" in svg
    heatmap = workbench.coverage.heatmap.data[0]
    assert list(heatmap.x) == ["xnnpack", "coreml"]
    rows = "".join(map(str, heatmap.y))  # the exported program's ops: one conv row for both
    assert "aten.conv2d.default" in rows and "aten.convolution.default" not in rows
    assert "xnnpack" in workbench.sizes.table.value and "coreml" in workbench.sizes.table.value

    for name in ("xnnpack", "coreml"):
        row = workbench.saving.rows[name]
        row.path.value = str(tmp_path / f"mv2_{name}.pte")
        row.button.click()
        assert "wrote" in row.status.value
    etwb = Path(sys.executable).with_name("etwb")
    for name, delegate in (("xnnpack", "XnnpackBackend"), ("coreml", "CoreMLBackend")):
        out = subprocess.run(
            [str(etwb), "inspect", str(tmp_path / f"mv2_{name}.pte"), "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        facts = json.loads(out.stdout)
        (forward,) = facts["methods"]
        assert [d["backend_id"] for d in forward["delegates"]] == [delegate]
        assert facts["total_bytes"] == report[name].sizes.pte_bytes


def test_preview_applies_the_keep_on_cpu_field(workbench):
    workbench.select(model="teaching_net", backends=["xnnpack"], exclude_ops=["aten.relu.default"])
    workbench.controls.preview_button.click()
    assert workbench.message.value == ""
    relu = [
        n for n in workbench.report["xnnpack"].placement.nodes if n.target == "aten.relu.default"
    ]
    assert relu and all("excluded by user" in n.reason for n in relu)
