"""The app paints before any backend is probed: probing imports every SDK (seconds), so it runs
in a background thread and each checkbox says "checking…" until its probe returns."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("ipywidgets")

from etworkbench.backends import Availability, Backend, backend_names  # noqa: E402
from etworkbench.ui._controls import CHECKING  # noqa: E402

UNAVAILABLE = "no SDK on this test machine"


@pytest.fixture
def blocked_probes(monkeypatch):
    """Every availability probe blocks until the test releases it; a probe on the thread that
    builds the app is recorded (and answered at once, so a regression fails, not hangs)."""
    release = threading.Event()
    builder = threading.current_thread()
    calls: list[tuple[str, bool]] = []  # (backend, on the builder's thread)

    def availability(self: Backend) -> Availability:
        on_builder = threading.current_thread() is builder
        calls.append((self.name, on_builder))
        if not on_builder:
            release.wait(60)
        return Availability(True) if self.name == "xnnpack" else Availability(False, UNAVAILABLE)

    # a property (a data descriptor) wins over a value an earlier test cached on the instance
    monkeypatch.setattr(Backend, "availability", property(availability))
    try:
        yield release, calls
    finally:
        release.set()


def test_the_app_paints_before_any_probe_and_fills_in_as_they_return(blocked_probes, capsys):
    from etworkbench import Workbench

    release, calls = blocked_probes
    start = time.perf_counter()
    wb = Workbench()
    took = time.perf_counter() - start
    with capsys.disabled():  # a measurement to read, not a bound to assert
        print(f"\nWorkbench() constructed in {took:.3f} s with every probe blocked")

    c = wb.controls
    assert [name for name, on_builder in calls if on_builder] == []  # nothing probed here
    assert not c.probed.is_set()
    assert set(c.checks) == set(backend_names())
    for name, box in c.checks.items():
        assert box.disabled and box.tooltip == CHECKING, name
        assert box.description == c.facts[name].title  # the title is known without a probe
    assert CHECKING in c.availability.value
    assert c.scheme.options == ("fp32",)  # the scheme list did not need a probe either

    # The user may tick a backend and pick a scheme before the probes finish: declared schemes.
    wb.select(backends=["xnnpack"], quantization="int8")
    assert c.scheme.value == "int8"

    release.set()
    assert c.wait_for_probes(timeout=60)
    assert [name for name, on_builder in calls if on_builder] == []
    assert not c.checks["xnnpack"].disabled
    assert c.checks["xnnpack"].tooltip == c.rows["xnnpack"].hardware
    for name, box in c.checks.items():
        if name != "xnnpack":
            assert box.disabled and UNAVAILABLE in box.tooltip, name
    assert CHECKING not in c.availability.value
    assert "unavailable (hover for why)" in c.availability.value
    assert c.scheme.value == "int8"  # still offered once xnnpack is known to lower here

    wb.select(backends=["xnnpack", "qnn"])  # an unavailable backend has no schemes
    assert c.scheme.options == ()


def test_lowering_before_the_probes_finish_waits_for_them(blocked_probes, monkeypatch):
    import etworkbench.ui._app as app
    from etworkbench import Workbench

    release, _ = blocked_probes
    wb = Workbench()
    wb.select(model="teaching_net", backends=["xnnpack"])
    seen = []

    def fake_lower(*args, **kwargs):  # the engine is not the point here: when it is called is
        seen.append(wb.controls.probed.is_set())
        raise RuntimeError("stop here")

    monkeypatch.setattr(app, "lower", fake_lower)
    worker = wb.start("lower")  # the Lower button, in its background thread
    deadline = time.monotonic() + 60
    while "waiting for the backend checks" not in wb.controls.stage.value:
        assert time.monotonic() < deadline, wb.controls.stage.value
        time.sleep(0.01)
    assert seen == [] and worker.is_alive()  # held while the probes are blocked
    release.set()
    worker.join(60)
    assert seen == [True]  # the engine started only once every probe had returned
    assert "stop here" in wb.message.value


def test_importing_the_app_does_not_import_torch():
    """torch takes ~2 s to import: the app's first paint must not wait for it (the probes and
    the first lowering load it)."""
    import subprocess
    import sys

    code = (
        "import sys, time; t = time.perf_counter(); from etworkbench import Workbench, lower; "
        "print(round(time.perf_counter() - t, 3)); "
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    print(f"import etworkbench (app and API): {proc.stdout.strip()} s, torch not loaded")
