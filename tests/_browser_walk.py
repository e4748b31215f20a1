"""The workbench walk-through the browser test drives at one window size.

Open the notebook and run the app cell (first paint timed), lower teaching_net for XNNPACK,
Core ML, Vulkan and OpenVINO, visit each tab, search, expand a delegate, click a node, compare
two backends, preview them as one priority list, give a bad model reference, lower again, cancel
a lowering, lower and save. Every step is screenshotted and its layout scanned; the counts each
view prints are compared with the JSON of the report on screen (`Reference`).
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path

from _browser_app import App, exactly
from _browser_checks import (
    Checks,
    coverage_table_counts,
    fallback_note,
    heatmap_sums,
    json_counts,
    legend_counts,
    pte_size_matches,
    share_bars,
    share_matches,
    size_bar_labels,
    size_matches,
    summary_counts,
    table_rows,
)
from _browser_lab import Lab, kernel_json, open_notebook

MODEL = "teaching_net"
BACKENDS = {"xnnpack": "XNNPACK", "coreml": "Core ML", "vulkan": "Vulkan", "openvino": "OpenVINO"}
PRIORITY = "+".join(BACKENDS)
DELEGATED = "g.node.etwb-delegated"  # class names views/graph_dot.py puts on SVG nodes
FALLBACK = "g.node.etwb-fallback"
GROUP = "g.node.etwb-group"
EXPANDED = 'g.node[id^="N_lowered_module"]'  # a node drawn inside an opened delegate
SIZES_TABLE = re.compile(r"\.pte size|pte_MB")  # the sizes tab's table (now / before)


class Reference:
    """The JSON of the lowering the app shows: `report.to_json()` (what `etwb lower --json`
    prints), read from the notebook's kernel, so it is the very report on screen."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def results(self) -> dict[str, dict]:
        start = time.perf_counter()
        report = kernel_json(self.lab, "wb.state.lowered.to_json(indent=None)")
        print(f"the kernel's report.to_json(): {time.perf_counter() - start:.1f} s")
        return {r["backend"]: r for r in report["results"]}


class Walk:
    def __init__(self, app: App, lab: Lab, checks: Checks, ref: Reference, cold: bool) -> None:
        self.app, self.page, self.lab, self.checks, self.ref = app, app.page, lab, checks, ref
        self.size, self.cold = app.size, cold
        self.readings: dict = {}

    # -- helpers ------------------------------------------------------------------------------
    def say(self, name: str, ok: bool, detail: object = "") -> bool:
        return self.checks.check(f"[{self.size}] {name}", ok, detail)

    def scan(self, step: str, target=None) -> None:
        self.app.shot(re.sub(r"\W+", "_", step).strip("_"), target)
        self.checks.layout_step(self.size, step, self.app.layout())

    @contextmanager
    def step(self, name: str):
        start = time.perf_counter()
        yield
        print(f"STEP [{self.size}] {name}: {time.perf_counter() - start:.1f} s")

    def until(self, condition, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            self.page.wait_for_timeout(100)
        return bool(condition())

    def lower(self, stage: str = r"^lower: done$", timeout: float = 300_000) -> float:
        start = time.perf_counter()
        self.app.button("Lower").click()
        self.app.wait_run(stage, timeout)
        return time.perf_counter() - start

    def fresh(self, name: str) -> None:
        """No panel marked stale, no grey banner, no faded summary, no error box."""
        st = self.app.stale()
        clear = not (st["stale_panels"] or st["banners"] or st["faded"] or st["errors"])
        self.say(f"{name}: no stale banner or error left", clear, st)

    def open_tab(self, *labels) -> None:
        for label in labels:
            self.app.tab(label).click()

    # -- the walk-through ---------------------------------------------------------------------
    def run(self, cancel_op: str) -> None:
        with self.step("open + first paint"):
            self.first_paint()
        with self.step("lower 4 backends"):
            self.lower_four()
        with self.step("each tab + counts"):
            self.each_tab()
            self.compare_counts()
        with self.step("search, expand, click a node"):
            self.search_expand_click()
        with self.step("compare"):
            self.compare()
        with self.step("priority preview"):
            self.priority_preview()
        with self.step("bad reference + lower again"):
            self.bad_reference()
            self.lower_again()
        with self.step("cancel"):
            self.cancel(cancel_op)
        with self.step("lower + save"):
            self.save()

    def first_paint(self) -> None:
        """Run the app cell and time its first paint. In a fresh kernel (the first size) that
        includes importing etworkbench, so the cell is run a second time for the warm number;
        a reopened notebook first restores the kernel's widgets, which the number includes."""
        open_notebook(self.page, self.lab)
        runs = ["cold kernel: imports etworkbench", "warm kernel: app cell run again"]
        if not self.cold:
            runs = ["notebook reopened: the page restores the kernel's widgets first"]
        for n, run in enumerate(runs):
            painted, usable = self.app.run_cell(shot=f"painted_{n + 1}")
            self.checks.note(
                f"[{self.size}] first paint ({run}): {painted:.2f} s from running the app cell "
                f"to the controls being visible (target <= 2 s, not asserted); backend "
                f"checkboxes usable after {usable:.2f} s"
            )
        # where the time goes: building the app in the kernel (not drawn) vs. the rest
        build = "__import__('json').dumps(__import__('timeit').timeit(type(wb), number=1))"
        self.checks.note(
            f"[{self.size}] first paint, for comparison: the kernel builds a Workbench() in "
            f"{kernel_json(self.lab, build):.2f} s (warm, not displayed)"
        )
        self.scan("first paint")

    def lower_four(self) -> None:
        app = self.app
        app.dropdown("model").select_option(MODEL)
        for title in BACKENDS.values():
            app.checkbox(title).check(timeout=120_000)
        order = app.out.locator(".widget-html-content", has_text="order:").first
        expected = "order: " + " → ".join(BACKENDS)
        self.until(lambda: order.inner_text().strip() == expected, 15)
        self.say(
            "the order label follows the check order",
            order.inner_text().strip() == expected,
            order.inner_text(),
        )
        self.scan("selected 4 backends")
        seconds = self.lower(timeout=900_000)
        self.checks.note(f"[{self.size}] Lower, 4 backends: {seconds:.1f} s")
        summary = app.summary()
        self.say(
            "the summary says Lowered 4/4", f"Lowered 4/4 backends for {MODEL}" in summary, summary
        )
        self.fresh("after lowering")

    def each_tab(self) -> None:
        app = self.app
        app.tab("graph").click()
        for backend in BACKENDS:
            app.tab(backend).click()
            svg = app.visible_svgs().first
            svg.locator("g#legend").wait_for(state="attached", timeout=30_000)
            self.readings[("legend", backend)] = app.legend(svg)
            if backend == "xnnpack":  # conv/relu/linear delegated, mean and cumsum on CPU
                cpu = " ".join(svg.locator(FALLBACK).all_text_contents())
                taken = svg.locator(DELEGATED).count()
                self.say(
                    "XNNPACK takes conv/relu/linear and leaves mean and cumsum on the CPU",
                    taken > 0 and "mean" in cpu and "cumsum" in cpu,
                    f"{taken} delegated boxes; CPU boxes: {cpu}",
                )
            self.scan(f"graph tab {backend}", svg)

        app.tab("coverage").click()
        counts = app.out.locator("table.etwb-table", has_text="delegated share").filter(
            visible=True
        )
        counts.first.wait_for(timeout=30_000)
        everything = lambda: (  # noqa: E731
            len(heatmap_sums(app.plots())) == len(BACKENDS)
            and len(share_bars(app.plots())) == len(BACKENDS)
        )
        self.until(everything, 30)
        self.readings["coverage"] = app.table("delegated share")
        self.readings["coverage plots"] = app.plots()
        note = app.out.locator(".widget-html-content", has_text="listed").filter(visible=True)
        self.readings["fallback note"] = note.first.inner_text() if note.count() else ""
        self.scan("coverage tab", counts.first)

        app.tab("sizes").click()
        chart = app.out.locator(".js-plotly-plot", has_text=".pte size").filter(visible=True)
        chart.first.wait_for(timeout=60_000)
        chart.first.locator(".trace.bars .point path").first.wait_for(state="attached")
        self.readings["sizes"] = app.table(SIZES_TABLE)
        self.readings["sizes plots"] = app.plots()
        self.scan("sizes tab", chart.first)

        app.tab(re.compile(r"^\s*failures")).click()
        labels = app.tab_labels("graph")
        body = app.out.locator(".widget-html-content", has_text="No failures").filter(visible=True)
        self.say(
            "failures tab: none, and its title counts none",
            body.count() == 1 and "failures" in labels,
            f"tabs {labels}",
        )
        self.scan("failures tab")

        app.tab("save").click()
        saves = app.out.locator("button", has_text="Save .pte").filter(visible=True)
        self.say(
            "save tab: one row per backend",
            saves.count() == len(BACKENDS),
            f"{saves.count()} Save .pte buttons",
        )
        self.scan("save tab")
        self.readings["summary"] = app.summary()

    def compare_counts(self) -> None:
        """Every view's counts and sizes for each backend against the report's JSON."""
        results = self.ref.results()
        r = self.readings
        summary = summary_counts(r["summary"])
        coverage = coverage_table_counts(r["coverage"])
        heat = heatmap_sums(r["coverage plots"])
        shares = share_bars(r["coverage plots"])
        note = fallback_note(r["fallback note"])
        sizes = table_rows(r["sizes"])
        size_labels = size_bar_labels(r["sizes plots"])
        for backend in BACKENDS:
            j = results.get(backend)
            if not self.say(
                f"JSON: {backend} lowered", j and j["status"] == "ok", j and j["status"]
            ):
                continue
            want, share, pte = json_counts(j), j["delegated_share"], j["pte_bytes"]
            shown = f"JSON {want.numbers()} share {share} pte_bytes {pte}"

            def same(view, got, printed_share=False, extra=True, b=backend, want=want, share=share):
                """`got` (delegated, CPU fallback, structural) and, unless False, the share."""
                ok = got is not None and tuple(got) == want.numbers() and extra
                if printed_share is not False:
                    ok = ok and share_matches(printed_share, share)
                self.say(
                    f"counts {b}: {view} == JSON",
                    ok,
                    f"{view} {got} share {printed_share!r}; JSON {want.numbers()} share {share}",
                )

            line = summary.get(backend)
            same("summary", line and line[0].numbers(), line and line[0].share)
            if line:
                self.say(
                    f"size {backend}: summary == JSON",
                    size_matches(line[1], pte),
                    f"summary {line[1]!r}; {shown}",
                )
            legend = legend_counts(r[("legend", backend)], backend)
            same("graph legend", legend.numbers(), legend.share)
            cov = coverage.get(backend)
            info_ok = bool(cov) and cov[1] == (want.delegated, want.cpu + want.structural)
            same("coverage", cov and cov[0].numbers(), cov and cov[0].share, info_ok)
            h = heat.get(backend)
            same("coverage heatmap (summed cells)", h and (*h, want.structural))
            self.say(
                f"counts {backend}: coverage share bar == JSON",
                share_matches(shares.get(backend), share),
                f"bar {shares.get(backend)!r}; {shown}",
            )
            n = note.get(backend)
            same("coverage fallback note", n and (want.delegated, *n))
            row = sizes.get(backend, {})
            self.say(
                f"size {backend}: sizes table == JSON",
                pte_size_matches(row, pte),
                f"row {row}; {shown}",
            )
            self.say(
                f"size {backend}: size chart label == JSON",
                size_matches(size_labels.get(backend), pte),
                f"label {size_labels.get(backend)!r}; {shown}",
            )

    def search_expand_click(self) -> None:
        app = self.app
        self.open_tab("graph", "xnnpack")
        app.text("search").fill("cumsum")
        info = app.out.locator(".widget-html-content", has_text="match(es)").filter(visible=True)
        info.first.wait_for(timeout=30_000)
        svg = app.visible_svgs().first
        hits = svg.locator("g.etwb-match")
        self.until(lambda: hits.count() > 0, 15)
        self.say(
            "search outlines the cumsum node",
            "1 match" in info.first.inner_text() and "cumsum" in " ".join(hits.all_text_contents()),
            f"{info.first.inner_text()!r}; outlined {hits.all_text_contents()}",
        )
        self.scan("search cumsum", svg)
        app.text("search").fill("")

        app.dropdown("view").select_option("collapsed by delegate")
        groups = app.visible_svgs().first.locator(GROUP)
        self.until(lambda: groups.count() > 0, 30)
        text = " ".join(groups.all_text_contents())
        delegate = re.search(r"xnnpack · (\w+)", text)
        self.say("collapsed by delegate draws 3-D boxes", delegate is not None, text)
        if delegate:
            app.text("expand").fill(delegate.group(1))
            inside = app.visible_svgs().first.locator(EXPANDED)
            self.say(
                "typing a delegate id expands it",
                self.until(lambda: inside.count() > 0, 30),
                f"expand {delegate.group(1)!r}: {inside.count()} nodes drawn inside",
            )
            self.scan("expand typed", app.visible_svgs().first)
        app.button("collapse all").click()
        inside = app.visible_svgs().first.locator(EXPANDED)
        self.until(lambda: inside.count() == 0, 30)
        app.visible_svgs().first.locator(GROUP).first.click()
        self.say(
            "clicking a 3-D box expands it",
            self.until(lambda: inside.count() > 0, 30),
            f"{inside.count()} nodes drawn inside after the click",
        )
        self.scan("expand by click", app.visible_svgs().first)

        node = app.visible_svgs().first.locator(FALLBACK, has_text="mean").first
        node.click()
        details = app.out.locator("pre", has_text="why not delegated").filter(visible=True)
        shown = self.until(lambda: details.count() > 0, 30)
        text = details.first.inner_text() if shown else ""
        self.say(
            "clicking a node shows where it runs and why",
            shown and "runs on: CPU fallback" in text and "mean" in text,
            text,
        )
        self.say(
            "the clicked node is marked selected",
            "etwb-selected" in (node.get_attribute("class") or ""),
            node.get_attribute("class"),
        )
        self.scan("node details", details.first if shown else None)

    def compare(self) -> None:
        app = self.app
        self.open_tab("graph", "compare")
        svgs = app.visible_svgs()
        self.until(lambda: svgs.count() == 2, 30)
        app.dropdown("right").select_option("openvino")
        right = lambda: app.legend(app.visible_svgs().nth(1))  # noqa: E731
        self.say(
            "compare redraws the right pane for openvino",
            self.until(lambda: "delegated to openvino" in right(), 30),
            right(),
        )
        panes = app.out.locator(".etwb-graph").filter(visible=True)
        boxes = [panes.nth(i).bounding_box() for i in range(panes.count())]
        area = app.out.bounding_box()
        # side by side when both fit, one above the other when not: never overlapping or cut
        apart = len(boxes) == 2 and (
            boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"] + 1
            or boxes[0]["y"] + boxes[0]["height"] <= boxes[1]["y"] + 1
        )
        inside = all(
            b["x"] >= area["x"] - 1 and b["x"] + b["width"] <= area["x"] + area["width"] + 1
            for b in boxes
        )
        side = len(boxes) == 2 and boxes[0]["y"] == boxes[1]["y"]
        self.say(
            "compare shows both graphs whole, apart (side by side or stacked)",
            apart and inside,
            f"panes {boxes}; output area x {area['x']:.0f}..{area['x'] + area['width']:.0f}",
        )
        self.checks.note(
            f"[{self.size}] compare: panes {'side by side' if side else 'stacked'} "
            f"in a {area['width']:.0f} px output area"
        )
        self.scan("compare tab", panes.first)

    def priority_preview(self) -> None:
        app = self.app
        app.toggle("one priority list").click()
        self.until(lambda: app.stale()["stale_panels"] >= 5, 30)
        st = app.stale()
        self.say(
            "changing the selection marks every panel stale",
            st["stale_panels"] == 5
            and st["faded"] == 1
            and st["banners"]
            and all("press Lower to refresh" in b for b in st["banners"]),
            st,
        )
        self.scan("stale after priority chosen")
        seconds = self.lower_with("Preview", r"^preview: done$")
        self.checks.note(f"[{self.size}] Preview, priority list of 4: {seconds:.1f} s")
        summary, preview = app.summary(), app.preview_summary()
        self.say(
            "the summary keeps the lowering beside the preview",
            "Lowered 4/4" in summary and preview.startswith("Previewed 1/1"),
            f"{summary!r} / {preview!r}",
        )
        self.open_tab("graph")
        labels = app.tab_labels(PRIORITY)
        self.say(
            "the graph tab shows the priority preview", labels == [f"{PRIORITY} (preview)"], labels
        )
        self.scan("preview graph", app.visible_svgs().first)
        self.open_tab("sizes")
        sizes = table_rows(app.table(SIZES_TABLE))
        kept = all(
            sizes.get(b, {}).get(".pte size") or sizes.get(b, {}).get("pte_MB") for b in BACKENDS
        )
        self.say("preview keeps the lowered programs: sizes", kept, sizes)
        self.scan("preview sizes")
        self.open_tab("save")
        saves = app.out.locator("button", has_text="Save .pte").filter(visible=True)
        self.say(
            "preview keeps the lowered programs: save",
            saves.count() == len(BACKENDS),
            f"{saves.count()} Save .pte buttons",
        )
        st = app.stale()
        self.say(
            "after the preview only sizes and save (the lowering) are stale",
            st["stale_panels"] == 2,
            st,
        )
        self.scan("preview save")
        toggle = app.toggle("lowered programs")
        self.say("'tabs show' offers lowered programs / preview", toggle.is_visible())
        toggle.click()
        self.open_tab("graph")
        self.until(lambda: app.tab_labels("xnnpack")[:1] == ["xnnpack"], 30)
        labels = app.tab_labels("xnnpack")
        self.say(
            "'tabs show: lowered programs' brings the 4 graphs back",
            labels == [*BACKENDS, "compare"],
            labels,
        )

    def lower_with(self, button: str, stage: str) -> float:
        start = time.perf_counter()
        self.app.button(button).click()
        self.app.wait_run(stage, 300_000)
        return time.perf_counter() - start

    def bad_reference(self) -> None:
        app = self.app
        model = app.dropdown("model")
        model.select_option(model.evaluate("s => s.options[s.options.length - 1].value"))
        app.reference().fill("no_such_file.py:build")
        self.lower(r"^stopped", 120_000)
        error = app.out.locator(".etwb-error")
        text = error.first.inner_text() if error.count() else ""
        self.say("a bad reference shows an error box naming it", "no_such_file.py" in text, text)
        st = app.stale()
        self.say(
            "after the error the old results stay, marked stale",
            st["stale_panels"] >= 4 and any("stopped with an error" in b for b in st["banners"]),
            st,
        )
        self.scan("bad reference", error.first if error.count() else None)

    def lower_again(self) -> None:
        app = self.app
        app.dropdown("model").select_option(MODEL)
        app.toggle("each backend separately").click()
        seconds = self.lower()
        self.checks.note(f"[{self.size}] Lower again (cache): {seconds:.1f} s")
        self.fresh("a new lowering after the error")
        self.say(
            "a new lowering drops the preview",
            app.preview_summary() == "" and not app.toggle("lowered programs").is_visible(),
            app.preview_summary(),
        )
        self.open_tab("graph")
        labels = app.tab_labels("xnnpack")
        self.say(
            "the graph tabs are the 4 backends again", labels == [*BACKENDS, "compare"], labels
        )
        self.scan("lowered again")

    def cancel(self, op: str) -> None:
        from playwright.sync_api import expect

        app = self.app
        app.text("keep on CPU").fill(op)  # a program not in the cache: a real lowering to stop
        app.button("Lower").click()
        expect(app.button("Cancel")).to_be_enabled(timeout=60_000)
        app.button("Cancel").click()
        app.wait_run(r"^(cancelled \(|lower: done$)", 300_000)
        stage = app.stage_text()
        self.say("Cancel says 'cancelled'", stage.startswith("cancelled ("), stage)
        summary = app.summary()
        self.say(
            "the summary says cancelled, not failed",
            "cancelled" in summary and "failed" not in summary,
            summary,
        )
        bars = app.out.locator(".widget-html-content", has_text=exactly("cancelled"))
        self.say("the progress rows say cancelled", bars.count() >= 1, f"{bars.count()} rows")
        labels = app.tab_labels("graph")
        self.open_tab(re.compile(r"^\s*failures"))
        body = app.out.locator(".etwb-cancelled").filter(visible=True)
        self.say(
            "failures: a cancel is listed as cancelled and not counted",
            "failures" in labels and body.count() >= 1,
            f"tabs {labels}; {body.all_inner_texts()}",
        )
        self.scan("cancelled")

    def save(self) -> None:
        app, page = self.app, self.page
        app.text("keep on CPU").fill("")
        self.lower()
        self.fresh("the lowering after the cancel")
        summary = app.summary()
        self.say(
            "the lowering after the cancel replaces it",
            "Lowered 4/4" in summary and "cancelled" not in summary,
            summary,
        )
        self.open_tab("save")
        results = self.ref.results()
        for backend in BACKENDS:
            label = page.locator(".widget-label", has_text=exactly(backend))
            row = (
                app.out.locator(".widget-hbox")
                .filter(has=label)
                .filter(has=page.locator("button", has_text="Save .pte"))
                .filter(visible=True)
                .first
            )
            row.locator("button", has_text="Save .pte").click()
            status = row.locator(".widget-html-content", has_text="wrote")
            status.wait_for(timeout=30_000)
            written = row.locator("code").inner_text().strip()
            path = Path(written) if Path(written).is_absolute() else self.lab.kernel_cwd / written
            size = path.stat().st_size if path.is_file() else None
            self.say(
                f"save {backend} writes its .pte",
                size is not None and size == results.get(backend, {}).get("pte_bytes"),
                f"{status.inner_text()!r}: {path} has {size} bytes, JSON pte_bytes "
                f"{results.get(backend, {}).get('pte_bytes')}",
            )
        self.scan("saved")
        lines = summary_counts(app.summary())
        self.say(
            "the summary shows where each .pte was written",
            all(
                "-> " in lines.get(b, (None, "", ""))[2]
                and "(not saved)" not in lines.get(b, (None, "", ""))[2]
                for b in BACKENDS
            ),
            app.summary(),
        )
        self.scan("summary after save", app.out.locator("pre").first)
