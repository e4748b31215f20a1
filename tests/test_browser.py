"""The real thing: JupyterLab + headless Debian Chromium, the workbench notebook, every button.

One JupyterLab server for the module (from this venv, on 127.0.0.1, everything in temporary
directories: see `_browser_lab`), one Chromium, one page per window size. At 1280x800 and at
1920x1080 the test walks through the app (`_browser_walk`): lower teaching_net for XNNPACK,
Core ML, Vulkan and OpenVINO, each tab, search, expand, click a node, compare, priority
preview, bad reference, cancel, save. The first size lowers for real; the second is served by
the kernel's program cache (the same kernel: opening the notebook again reconnects to it).

It asserts: no control or label cut off or outside the output area; the node counts and sizes
that the summary, graph legend, coverage tab and sizes tab print equal the JSON of the report
on screen (`report.to_json()`, what `etwb lower --json` prints, read from the kernel); stale
banners come and go as the selection and runs change; a preview keeps the lowered programs;
Cancel says "cancelled"; save writes the .pte. First paint (running the app cell to the
controls being visible, target <= 2 s) is measured and printed, not asserted.
Checks are collected and asserted together at the end, so one run reports every failing one.
Screenshots of each step: tests/_output/browser_<size>_<NN>_<step>.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _browser_app import App
from _browser_checks import Checks
from _browser_lab import ARGS, CHROMIUM, LabError, local_only, running_lab
from _browser_walk import Reference, Walk

pytestmark = pytest.mark.browser

SIZES = [(1280, 800), (1920, 1080)]
# Each size cancels a lowering nothing has cached yet (an op kept on the CPU changes the key).
CANCEL_OPS = ["aten.cumsum.default", "aten.relu.default"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    try:
        with running_lab(tmp_path_factory.mktemp("lab")) as server:
            yield server
    except LabError as exc:
        pytest.fail(str(exc))


def test_walkthrough_at_1280x800_and_1920x1080(lab, output_dir):
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    checks = Checks()
    reference = Reference(lab)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for index, (width, height) in enumerate(SIZES):
                size = f"{width}x{height}"
                context = browser.new_context(viewport={"width": width, "height": height})
                context.route("**/*", local_only)
                page = context.new_page()
                page.set_default_timeout(60_000)
                app = App(page, output_dir, size)
                begun = time.perf_counter()
                try:
                    Walk(app, lab, checks, reference, cold=index == 0).run(CANCEL_OPS[index])
                    checks.check(f"[{size}] the walk-through ran to its end", True)
                except Exception as exc:  # recorded with a screenshot; the next size still runs
                    shot = app.shot("failure")
                    checks.check(
                        f"[{size}] the walk-through ran to its end",
                        False,
                        f"{type(exc).__name__}: {str(exc)[:1500]} (screenshot {shot.name})",
                    )
                finally:
                    context.close()
                    print(f"walk-through at {size}: {time.perf_counter() - begun:.1f} s")
        finally:
            browser.close()
    checks.close_layout([f"{w}x{h}" for w, h in SIZES])
    print("\n".join(checks.notes))
    print(f"browser test: {time.perf_counter() - started:.1f} s in all")
    print(checks.report())
    failed = [check.name for check in checks.failed()]
    assert not failed, checks.report()
