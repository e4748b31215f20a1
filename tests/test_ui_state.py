"""The app's one state (`WorkbenchState`) and what the panels make of it: stale results say so,
a preview keeps the lowering, an error keeps old results (marked stale), a cancel is no failure."""

from __future__ import annotations

import html

import pytest

pytest.importorskip("ipywidgets")

from etworkbench.errors import UsageError  # noqa: E402
from etworkbench.lowering import BackendResult, LoweringReport  # noqa: E402
from etworkbench.ui._state import Selection, WorkbenchState  # noqa: E402

OLD = "teaching_net · xnnpack · fp32"  # how the banner names the lowered selection


@pytest.fixture
def wb():
    from etworkbench import Workbench

    app = Workbench()
    app.background = False
    app.select(model="teaching_net", backends=["xnnpack"])
    return app


@pytest.fixture
def lowered(wb):
    report = wb.lower()
    assert report is not None and report["xnnpack"].ok, wb.message.value
    return wb


def _panels(app):
    return {
        "graph": app.graphs,
        "coverage": app.coverage,
        "sizes": app.sizes,
        "failures": app.failures,
        "save": app.saving,
    }


def _banners(app) -> dict[str, str]:
    return {name: html.unescape(p.banner.value) for name, p in _panels(app).items()}


def _report(*results) -> LoweringReport:
    return LoweringReport("teaching_net", "x: float32[1, 3, 8, 8]", 0, list(results))


def test_state_transitions_on_their_own():
    state = WorkbenchState(selection=Selection("teaching_net", ("xnnpack",)))
    assert (state.phase, state.lowered, state.stale) == ("idle", None, False)
    state.selection = Selection("tiny_convnet", ("xnnpack",))
    assert not state.stale  # nothing lowered, nothing stale
    state.selection = Selection("teaching_net", ("xnnpack",))

    state.begin("lower")
    assert state.phase == "lowering" and state.running
    first = _report(BackendResult("xnnpack", ["xnnpack"], "fp32", "ok"))
    state.finish(first)
    assert (state.lowered, state.stale, state.phase, state.note()) == (first, False, "done", "")

    state.selection = Selection("teaching_net", ("xnnpack",), exclude_ops=("aten.relu.default",))
    assert state.stale
    assert state.note() == f"results below are for {OLD}; press Lower to refresh"
    state.selection = Selection("teaching_net", ("xnnpack",))  # back to what was lowered
    assert not state.stale

    changes = []
    state.observe(lambda change: changes.append(change["name"]), ["lowered"])
    state.begin("lower")
    assert state.stale and "under way" in state.note()
    equal = _report(BackendResult("xnnpack", ["xnnpack"], "fp32", "ok"))
    assert equal.results == first.results  # the same content, a new run
    state.finish(equal)  # a second run's equal report (a cache hit) is news all the same
    assert state.lowered is equal and changes == ["lowered"] and not state.stale

    state.begin("lower")
    state.fail(UsageError("no such model"))
    assert (state.phase, state.error) == ("error", "UsageError: no such model")
    assert state.lowered is equal and state.stale and "stopped with an error" in state.note()
    with pytest.raises(Exception, match="phase"):
        state.phase = "sleeping"


def test_changing_the_selection_marks_every_panel_stale(lowered):
    wb = lowered
    assert wb.state.lowered is wb.report and wb.state.lowered_for.describe() == OLD
    assert not wb.state.stale and set(_banners(wb).values()) == {""}

    wb.select(exclude_ops=["aten.relu.default"])
    assert wb.state.stale
    for name, text in _banners(wb).items():
        assert f"results below are for {OLD}; press Lower to refresh" in text, name
        assert "etwb-stale" in _panels(wb)[name]._dom_classes, name
    assert "etwb-stale-banner" in wb.summary.value
    assert wb.graphs.graphs["xnnpack"].result is wb.state.lowered["xnnpack"]  # still drawn

    wb.select(exclude_ops=[])  # back to what was lowered: current again
    assert not wb.state.stale and set(_banners(wb).values()) == {""}
    assert "etwb-stale" not in wb.sizes._dom_classes


def test_a_run_marks_old_results_stale_while_it_runs_and_clears_the_export_note(lowered, tmp_path):
    wb = lowered
    wb.coverage.export(str(tmp_path / "cov.csv"))
    assert "wrote" in wb.coverage.export_status.value
    during = []
    wb.state.observe(
        lambda change: during.append(_banners(wb)["sizes"]) if change["new"] == "lowering" else 0,
        "phase",
    )
    assert wb.lower() is not None
    assert during and "a new run is under way" in during[0] and OLD in during[0]
    assert wb.coverage.export_status.value == ""
    assert not wb.state.stale and set(_banners(wb).values()) == {""}


def test_preview_after_lower_keeps_the_lowering(lowered, tmp_path):
    wb = lowered
    lowering = wb.state.lowered
    previewed = wb.preview()
    assert previewed is not None and previewed["xnnpack"].preview
    assert wb.state.lowered is lowering and wb.state.previewed is previewed
    assert wb.report is previewed and not wb.state.stale and not wb.state.preview_stale

    assert list(wb.saving.rows) == ["xnnpack"]  # still the lowered .pte to save
    assert wb.saving.rows["xnnpack"].result is lowering["xnnpack"]
    assert wb.sizes.shown is lowering and "xnnpack" in wb.sizes.table.value
    assert list(wb.graphs.tabs.titles) == ["xnnpack (preview)"]
    assert "preview" in wb.graphs.caption.value and "preview" in wb.coverage.caption.value
    summary = html.unescape(wb.summary.value)
    assert "Lowered 1/1" in summary and "Previewed 1/1" in summary and "<b>preview</b>" in summary
    assert wb.summary.showing.layout.display == ""

    written = wb.save(tmp_path / "kept.pte")
    assert written.read_bytes() == lowering["xnnpack"].buffer

    wb.summary.showing.value = "lowered"  # the tabs go back to the lowered programs
    assert wb.report is lowering and list(wb.graphs.tabs.titles) == ["xnnpack"]
    assert wb.graphs.graphs["xnnpack"].result is lowering["xnnpack"]


def test_an_error_keeps_the_old_results_marked_stale(lowered):
    wb = lowered
    old = wb.state.lowered
    wb.select(model="no_such_file.py:build")
    assert wb.lower() is None
    assert wb.state.phase == "error" and "no_such_file.py" in wb.state.error
    assert "no_such_file.py" in wb.message.value
    assert wb.state.lowered is old and wb.state.stale
    banners = _banners(wb)
    assert banners["failures"] == ""  # the traceback there is the current news
    assert "no_such_file.py" in wb.failures.body.value
    assert wb.panels.titles[3] == "failures (error)"
    for name in ("graph", "coverage", "sizes", "save"):
        assert f"stopped with an error; the results below are for {OLD}" in banners[name], name

    wb.select(model="teaching_net")
    assert wb.lower() is not None
    assert (wb.state.phase, wb.state.error, wb.message.value) == ("done", "", "")
    assert not wb.state.stale and wb.panels.titles[3] == "failures"


def test_save_replaces_not_saved_with_the_path(lowered, tmp_path):
    wb = lowered
    assert "(not saved)" in wb.summary.value
    written = wb.save(tmp_path / "scripted.pte")
    assert "(not saved)" not in wb.summary.value and str(written) in wb.summary.value
    assert wb.state.saved == {"xnnpack": str(written)}
    row = wb.saving.rows["xnnpack"]
    assert str(written) in row.status.value
    row.path.value = str(tmp_path / "button.pte")
    row.button.click()
    assert str(tmp_path / "button.pte") in wb.summary.value


def test_a_cancel_is_said_as_cancelled_not_as_a_failure(wb):
    from etworkbench import lower

    wb.select(backends=["xnnpack", "portable"])
    asked = []

    def stop():  # the user presses Cancel while the first backend lowers (in this process)
        asked.append(True)
        return len(asked) > 1

    report = lower("teaching_net", ["xnnpack", "portable"], stop=stop, jobs=1)
    assert report.not_started == ["portable"]
    wb.show(report)
    assert wb.state.phase == "cancelled" and wb.panels.titles[3] == "failures"
    assert "portable: cancelled" in wb.failures.body.value
    assert "failed" not in wb.summary.value and "cancelled" in wb.summary.value
