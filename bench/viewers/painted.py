"""When a page showed something, as the page itself saw it (figure 14).

Playwright's ``wait_for_selector`` checks once per try and backs off between tries (0, 20, 50,
100, 100 ms, then every 500 ms: ``retryWithProgressAndTimeouts`` in its driver), so a time
taken when it returns is late by up to half a second, in steps. The recorder here runs in the
page instead (an init script): at the animation frame after each change of the document (the
frame that paints it) it checks each wanted :class:`Sight` condition and keeps the wall-clock
time (``Date.now()``, the clock of Python's ``time.time()``) of the first frame where it
held. The harness waits on the recorder (``wait_for_function`` polls at each frame), then
reads those times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# A chart counts once Plotly drew its traces (``_fullData``), not at its first draw with the
# axes alone (``pages/common/live_chart.py``), which makes its ``.main-svg`` already.
RECORDER = """
(() => {
  if (window.__painted) return;
  // stale: the layouts of the charts already drawn when an action was armed (rearm): a
  // chart counts once drawn again since (Plotly makes a new layout at each draw)
  const rec = window.__painted = {want: {}, marks: {}, stale: new WeakSet()};
  const shown = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  // The cheap conditions first: counting shown elements asks for their boxes, which makes
  // the browser lay the page out then and there; a visit should not pay for its own
  // measurement at every frame while its charts draw
  const holds = ([selector, count, charts, script]) => {
    if (script && !document.querySelector(
      "[data-testid='stApp'][data-test-script-state='notRunning']")) return false;
    if (charts && [...document.querySelectorAll('.js-plotly-plot')]
        .filter(gd => gd._fullData && gd._fullData.length && !rec.stale.has(gd._fullLayout))
        .length < charts) return false;
    return !selector || [...document.querySelectorAll(selector)].filter(shown).length >= count;
  };
  let pending = false;
  const check = () => {
    pending = false;
    const now = Date.now();
    for (const [name, condition] of Object.entries(rec.want))
      if (!rec.marks[name] && holds(condition)) rec.marks[name] = now;
  };
  rec.check = check;
  const later = () => { if (!pending) { pending = true; requestAnimationFrame(check); } };
  new MutationObserver(later).observe(document, {subtree: true, childList: true,
                                                 attributes: true, characterData: true});
})();
"""


@dataclass(frozen=True)
class Sight:
    """What a visit waits for, as conditions the page checks at each frame: first content
    (``first`` shown, ``first_count`` times), and complete (first content, ``done`` shown
    ``done_count`` times when given, ``charts`` Plotly charts drawn with their traces, and
    Streamlit's script done when ``script``)."""

    first: str
    charts: int = 0
    script: bool = True
    first_count: int = 1
    done: str = ""
    done_count: int = 1

    def wants(self) -> dict[str, list[Any]]:
        """The recorder's conditions: name -> [selector, count, charts, script]."""
        key = json.dumps([self.first, self.first_count, self.charts, self.script, self.done,
                          self.done_count])
        return {"first " + key: [self.first, self.first_count, 0, False],
                "complete " + key: [self.first, self.first_count, self.charts, self.script],
                **({"done " + key: [self.done, self.done_count, 0, False]} if self.done
                   else {})}


def install(context: Any) -> None:
    """The recorder in every page ``context`` opens from now on (before the page's scripts)."""
    context.add_init_script(RECORDER)


def expect(context: Any, sight: Sight) -> None:
    """``sight``'s conditions checked in every document ``context`` opens from now on (an
    init script after the recorder's); each is added once per context."""
    added = context.__dict__.setdefault("_painted_sights", set())
    if sight not in added:
        added.add(sight)
        context.add_init_script(
            f"window.__painted && Object.assign(window.__painted.want, "
            f"{json.dumps(sight.wants())});")


def rearm(page: Any, sight: Sight) -> None:
    """``sight`` checked afresh on the open document (an action without a navigation, such
    as a pick, timed next): its conditions added, their times forgotten, and the charts drawn
    so far counted only once drawn again."""
    page.evaluate("w => { const r = window.__painted; Object.assign(r.want, w);"
                  " for (const n of Object.keys(w)) delete r.marks[n];"
                  " r.stale = new WeakSet([...document.querySelectorAll('.js-plotly-plot')]"
                  ".map(gd => gd._fullLayout).filter(Boolean)); }", sight.wants())


def wait(page: Any, sight: Sight, timeout_ms: float, started_ms: float
         ) -> tuple[float, float]:
    """Seconds from ``started_ms`` (wall clock) to ``sight``'s first content and to complete,
    waiting for each in the page (Playwright's TimeoutError when one never comes)."""
    times = []
    names = [n for n in sight.wants() if not n.startswith("done ")]
    done = [n for n in sight.wants() if n.startswith("done ")]
    for name in names + done:
        times.append(page.wait_for_function(
            "n => window.__painted && window.__painted.marks[n]", arg=name,
            timeout=timeout_ms).json_value())
    first, complete = times[0], max(times[1:])
    return round((first - started_ms) / 1000, 2), round((complete - started_ms) / 1000, 2)
