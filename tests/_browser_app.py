"""The workbench as the browser test sees it: locators for its controls and tabs, and readers of
what its views print (tables, plotly figures, SVG legends) and of its layout.

Everything is scoped to the app cell's widget output (`App.out`), so JupyterLab's own toolbars
and the notebook's other cells never count.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

# What the layout check looks at: controls, labels, HTML blocks and the cells of our tables.
# A node inside the graph canvas is left out: the SVG is panned and zoomed inside its viewport.
LAYOUT_SELECTORS = ", ".join(
    [
        ".widget-label",
        ".widget-label-basic",
        ".widget-checkbox",
        ".widget-toggle-button",
        "button",
        ".widget-html-content",
        "select",
        "input",
        "table.etwb-table th",
        "table.etwb-table td",
        ".lm-TabBar-tabLabel",
        ".js-plotly-plot",
    ]
)

_LAYOUT_JS = """
(area, selectors) => {
  const a = area.getBoundingClientRect();
  const text = (el) => {
    let t = '';
    if (el.tagName === 'INPUT') t = el.value || ('placeholder: ' + (el.placeholder || ''));
    else if (el.tagName === 'SELECT') t = el.selectedOptions.length ? el.selectedOptions[0].text : '';
    else t = el.innerText || el.textContent || el.getAttribute('title') || '';
    return t.replace(/\\s+/g, ' ').trim().slice(0, 90);
  };
  const name = (el) => el.tagName.toLowerCase()
      + [...el.classList].filter(c => !c.startsWith('lm-mod')).slice(0, 3).map(c => '.' + c).join('');
  const ctx = document.createElement('canvas').getContext('2d');
  // a <select> or <input> never scrolls: measure its shown text against the room it has
  const textCut = (el) => {
    if (el.tagName !== 'SELECT' && !(el.tagName === 'INPUT' && ['text', 'search', ''].includes(el.type))) return false;
    const shown = el.tagName === 'SELECT'
      ? (el.selectedOptions.length ? el.selectedOptions[0].text : '') : (el.value || el.placeholder || '');
    const cs = getComputedStyle(el);
    ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    return ctx.measureText(shown).width > room + 1;
  };
  // the part of the output area an element can show in: the area narrowed by every ancestor
  // that clips (overflow-x not visible); `by` names the one that clips tightest
  const room = (el) => {
    let left = a.left, right = a.right, by = 'the output area';
    for (let p = el.parentElement; p && p !== area; p = p.parentElement) {
      if (getComputedStyle(p).overflowX === 'visible') continue;
      const q = p.getBoundingClientRect();  // it clips at its padding box
      const l = q.left + p.clientLeft, r = l + p.clientWidth;
      const who = name(p) + ' (overflow ' + getComputedStyle(p).overflowX + ')';
      if (r < right) { right = r; by = who; }
      if (l > left) { left = l; by = who; }
    }
    return {left, right, by};
  };
  const bad = [];
  if (area.scrollWidth > area.clientWidth + 1)
    bad.push({what: 'the output area scrolls sideways', el: name(area), text: '',
              scroll: area.scrollWidth, client: area.clientWidth, left: 0, right: 0});
  for (const el of area.querySelectorAll(selectors)) {
    if (el.closest('.etwb-graph-canvas')) continue;
    if (!el.getClientRects().length) continue;  // not rendered: a hidden tab, display:none
    if (getComputedStyle(el).visibility === 'hidden') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const cut = (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) || textCut(el);
    const box = room(el);
    const outside = r.left < box.left - 2 || r.right > box.right + 2;  // 2 px: sub-pixel layout
    const where = 'outside ' + box.by;
    if (cut || outside)
      bad.push({what: cut && outside ? 'cut (text wider than its box), and ' + where : cut ? 'cut (text wider than its box)' : where,
                el: name(el), text: text(el), scroll: el.scrollWidth, client: el.clientWidth,
                left: Math.round(r.left - a.left), right: Math.round(r.right - a.left),
                room: [Math.round(box.left - a.left), Math.round(box.right - a.left)]});
  }
  // a plotly figure clips its SVG: a title or label running past the figure is cut off
  for (const el of area.querySelectorAll('.js-plotly-plot .main-svg text')) {
    if (!el.getClientRects().length || !el.textContent.trim()) continue;
    const r = el.getBoundingClientRect();
    const plot = (el.closest('svg') || el.closest('.js-plotly-plot')).getBoundingClientRect();  // the SVG clips
    if (r.width > 0 && (r.left < plot.left - 1 || r.right > plot.right + 1))
      bad.push({what: 'plot text cut by its figure (scrollWidth: text width, clientWidth: figure width)', el: 'plotly text', text: text(el),
                scroll: Math.round(r.width), client: Math.round(plot.width),
                left: Math.round(r.left - a.left), right: Math.round(r.right - a.left),
                room: [Math.round(plot.left - a.left), Math.round(plot.right - a.left)]});
  }
  return {width: Math.round(a.width), bad};
}
"""

_STALE_JS = """
(area) => ({
  stale_panels: area.querySelectorAll('.etwb-stale').length,
  banners: [...new Set([...area.querySelectorAll('.etwb-stale-banner')]
      .filter(e => !e.querySelector('.etwb-stale-banner'))
      .map(e => e.textContent.replace(/\\s+/g, ' ').trim()).filter(Boolean))],
  faded: area.querySelectorAll('.etwb-stale-text').length,
  errors: [...area.querySelectorAll('.etwb-error')].map(e => e.textContent.replace(/\\s+/g, ' ').trim()),
})
"""

_TABLE_JS = """
(table) => {
  const head = table.querySelector('thead tr');
  const text = (el) => el.textContent.replace(/\u200b/g, '').trim();  // break hints
  const cols = head ? [...head.querySelectorAll('th')].map(text) : [];
  const rows = [...table.querySelectorAll('tbody tr')].map(tr => ({
    index: [...tr.querySelectorAll('th')].map(th => th.textContent.trim()),
    cells: [...tr.querySelectorAll('td')].map(td => td.textContent.trim()),
    titles: [...tr.querySelectorAll('td')].map(td => td.getAttribute('title') || ''),
  }));
  return {cols, rows};
}
"""

_PLOTLY_JS = """
(els) => els.map(el => ({
  title: String((el.layout && el.layout.title && (el.layout.title.text || el.layout.title)) || ''),
  traces: (el.data || []).map(t => ({
    type: t.type || '', name: t.name || '',
    x: t.x ? Array.from(t.x).map(String) : [],
    text: Array.isArray(t.text) ? t.text.map(r => Array.isArray(r) ? Array.from(r).map(String) : String(r)) : [],
  })),
}))
"""


def exactly(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


class App:
    """The Workbench of the notebook's first code cell, in one page."""

    def __init__(self, page, shots: Path, size: str) -> None:
        self.page = page
        self.cell = page.locator(".jp-CodeCell").first
        # outputs restored from an autosaved notebook are marked old by `run_cell`
        self.out = self.cell.locator(
            ".jp-OutputArea-output:not([data-etwb-old]):has(.jupyter-widgets)"
        ).first
        self.shots, self.size, self.count = shots, size, 0

    # -- running the cell ---------------------------------------------------------------------
    def run_cell(self, shot: str = "") -> tuple[float, float]:
        """Execute the app cell: seconds to the controls being visible (first paint) and to the
        backend checkboxes being usable (XNNPACK enabled)."""
        self.page.evaluate(
            "document.querySelectorAll('.jp-OutputArea-output')"
            ".forEach(e => e.setAttribute('data-etwb-old', ''))"
        )
        self.cell.locator(".jp-InputArea-editor").click()
        start = time.perf_counter()
        self.page.keyboard.press("Shift+Enter")
        self.button("Lower").wait_for(state="visible", timeout=300_000)
        self.dropdown("model").wait_for(state="visible", timeout=30_000)
        painted = time.perf_counter() - start
        if shot:
            self.shot(shot)  # as first painted: the backend checks may still say "checking…"
        self.checkbox("XNNPACK").wait_for(state="visible", timeout=120_000)
        deadline = time.monotonic() + 120
        while not self.checkbox("XNNPACK").is_enabled() and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        return painted, time.perf_counter() - start

    # -- locators -----------------------------------------------------------------------------
    def _labelled(self, kind: str, label: str):
        label_loc = self.page.locator(".widget-label", has_text=exactly(label))
        return self.out.locator(kind).filter(has=label_loc).filter(visible=True).first

    def dropdown(self, label: str):
        return self._labelled(".widget-dropdown", label).locator("select")

    def text(self, label: str):
        return self._labelled(".widget-text", label).locator("input")

    def reference(self):
        """The model reference field shown for the last model option (no label of its own)."""
        return self.out.locator(".widget-text input[placeholder*='.py:']").first

    def checkbox(self, title: str):
        return self.out.locator(".widget-checkbox", has_text=title).locator("input").first

    def button(self, text: str):
        return self.out.locator("button", has_text=exactly(text)).filter(visible=True).first

    def toggle(self, text: str):
        return self.out.locator("button.widget-toggle-button", has_text=text).first

    def tab(self, label: str | re.Pattern):
        pattern = exactly(label) if isinstance(label, str) else label
        name = self.page.locator(".lm-TabBar-tabLabel", has_text=pattern)
        return self.out.locator(".lm-TabBar-tab").filter(has=name).filter(visible=True).first

    def tab_labels(self, first: str) -> list[str]:
        """The labels of the visible tab bar whose first tab is `first`."""
        bars = self.out.locator(".lm-TabBar").filter(visible=True)
        for i in range(bars.count()):
            labels = [
                t.strip() for t in bars.nth(i).locator(".lm-TabBar-tabLabel").all_inner_texts()
            ]
            if labels and (labels[0] == first or labels[0].startswith(first)):
                return labels
        return []

    def stage(self, pattern: str):
        return self.out.locator(".widget-html-content", has_text=re.compile(pattern)).first

    def stage_text(self) -> str:
        """The controls' stage line (the HTML right under the Lower / Preview / Cancel row)."""
        known = r"^(starting|lower:|preview:|cancel|stopped)"
        loc = self.out.locator(".widget-html-content", has_text=re.compile(known))
        return loc.first.inner_text().strip() if loc.count() else ""

    def wait_run(self, pattern: str, timeout: float) -> None:
        """Until the stage line matches and the Lower button is usable again (it is re-enabled
        only after every panel has been redrawn)."""
        from playwright.sync_api import expect

        expect(self.stage(pattern)).to_be_visible(timeout=timeout)
        expect(self.button("Lower")).to_be_enabled(timeout=120_000)

    def visible_svgs(self):
        return self.out.locator(".etwb-graph-canvas svg").filter(visible=True)

    # -- readers ------------------------------------------------------------------------------
    def summary(self) -> str:
        pre = self.out.locator("pre", has_text=re.compile(r"^\s*Lowered \d+/\d+ backends"))
        return pre.first.inner_text() if pre.count() else ""

    def preview_summary(self) -> str:
        pre = self.out.locator("pre", has_text=re.compile(r"^\s*Previewed \d+/\d+ backends"))
        return pre.first.inner_text() if pre.count() else ""

    def stale(self) -> dict:
        return self.out.evaluate(_STALE_JS)

    def table(self, has_text) -> dict:
        loc = self.out.locator("table.etwb-table", has_text=has_text).filter(visible=True)
        return loc.first.evaluate(_TABLE_JS) if loc.count() else {"cols": [], "rows": []}

    def plots(self) -> list[dict]:
        return self.out.locator(".js-plotly-plot").filter(visible=True).evaluate_all(_PLOTLY_JS)

    def legend(self, svg) -> str:
        return "\n".join(t.strip() for t in svg.locator("g#legend text").all_text_contents())

    def layout(self) -> dict:
        return self.out.evaluate(_LAYOUT_JS, LAYOUT_SELECTORS)

    def shot(self, step: str, target=None) -> Path:
        """Screenshot of the window (JupyterLab scrolls inside it), `target` scrolled into view."""
        if target is not None:
            try:
                target.scroll_into_view_if_needed(timeout=5_000)
            except Exception:  # noqa: BLE001 - a screenshot of whatever is there still helps
                pass
        self.count += 1
        path = self.shots / f"browser_{self.size}_{self.count:02d}_{step}.png"
        try:
            self.page.screenshot(path=str(path))
        except Exception as exc:  # noqa: BLE001 - a dead page must not hide the real error
            print(f"no screenshot {path.name}: {exc}")
        return path
