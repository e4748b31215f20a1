"""The grey "these results are old" banner a panel puts over results that are not current.

A panel owns one `StaleBanner` as its first child and calls `say(state.note(...))` whenever the
state changes: a non-empty text shows the banner and gives the panel the `etwb-stale` class,
which `STYLE` (in the app, once) greys out everything in the panel but the banner.
"""

from __future__ import annotations

import html

import ipywidgets as W

STALE_CLASS = "etwb-stale"
BANNER_CLASS = "etwb-stale-banner"
BANNER_STYLE = (
    "background:#eeeeee;color:#555;border-left:4px solid #999;padding:4px 10px;margin:2px 0;"
    "font-family:sans-serif;font-size:90%"
)
STYLE = (
    f"<style>.{STALE_CLASS} > :not(.{BANNER_CLASS}) {{opacity:0.45}}"
    f" .{STALE_CLASS}-text {{opacity:0.45}}</style>"
)

# the panels that draw whichever report the tabs show vs. the ones that draw the lowering only
FOCUS_NAMES = ["lowered", "previewed", "showing", "stale", "preview_stale", "phase", "exception"]
LOWERED_NAMES = ["lowered", "stale", "phase"]


def banner_html(text: str) -> str:
    if not text:
        return ""
    return f"<div class='{BANNER_CLASS}' style='{BANNER_STYLE}'>{html.escape(text)}</div>"


class FollowsLowered:
    """For a panel that draws the last lowering only (sizes, save): redraw when a new lowering
    arrives, say so when it is stale. A preview compiles nothing, so it changes neither.

    The panel has a `banner` (StaleBanner), `shown` (the report drawn) and `show(report)`, and
    calls `follow(state)` at the end of its `__init__`.
    """

    def follow(self, state) -> None:
        self.state = state
        if state is not None:
            state.observe(self._lowered_changed, LOWERED_NAMES)

    def _lowered_changed(self, _change=None) -> None:
        report = self.state.lowered
        if report is not None and report is not self.shown:
            self.show(report)
        self.banner.say(self.state.note("lowered"))


class StaleBanner(W.HTML):
    """Empty while the owner's results are current; the stale note otherwise."""

    def __init__(self, owner: W.DOMWidget) -> None:
        super().__init__()
        self.owner = owner
        self.add_class(BANNER_CLASS)

    def say(self, text: str) -> None:
        self.value = banner_html(text)
        if text:
            self.owner.add_class(STALE_CLASS)
        else:
            self.owner.remove_class(STALE_CLASS)
