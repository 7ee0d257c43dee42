"""Figure 9's browser side: headless Chromium viewers on Monitor, and what their pages showed.

Holds ``OBSERVER`` (the script installed in every page that records when the Monitor's counts
grow), Chromium's launch, opening one context (one Streamlit session) per viewer, and
collecting each page's latencies at the end.
"""

from __future__ import annotations

import shutil
import time

from bench.viewers_measure import latencies

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
START_S, SETTLE_S = 120.0, 20.0

# Runs in every page before its own scripts: the largest "Completed" value and
# learning-curve point count seen so far, with Date.now() each time one grows.
OBSERVER = """
(() => {
  if (window.__fig9) return;
  const seen = window.__fig9 = [];
  let completed = -1, points = -1;
  // the curves' first trace ("all trials · train"): one point per epoch_end, NaN between
  // trials; _fullData holds it decoded (data holds Plotly's base64 "bdata" form)
  const count = gd => { const t = (gd._fullData || [])[0], x = t && t.x; let n = 0;
    if (x && typeof x[Symbol.iterator] === "function")
      for (const v of x) if (typeof v === "number" && Number.isFinite(v)) n++;
    return n; };
  const read = () => {
    // the live feed's count (pages/_feed.py), or a Streamlit metric as the page once drew it
    const values = [...document.querySelectorAll(
      ".live-metric[data-metric='Completed'] .live-value")];
    for (const box of document.querySelectorAll("[data-testid='stMetric']")) {
      const label = box.querySelector("[data-testid='stMetricLabel']");
      const value = box.querySelector("[data-testid='stMetricValue']");
      if (label && value && label.textContent.trim() === "Completed") values.push(value);
    }
    for (const value of values)
      if (/^\\d+$/.test(value.textContent.trim()))
        completed = Math.max(completed, Number(value.textContent.trim()));
    for (const gd of document.querySelectorAll(".st-key-monitor_learning_curves .js-plotly-plot"))
      if (gd._fullData) points = Math.max(points, count(gd));
    const last = seen[seen.length - 1];
    if (!last || last[1] !== completed || last[2] !== points)
      seen.push([Date.now(), completed, points]);
  };
  new MutationObserver(read).observe(document, {subtree: true, childList: true,
                                               characterData: true});
})();
"""


def open_viewers(browser, url: str, run: str, viewers: int) -> list:
    contexts = []
    for _ in range(viewers):
        context = browser.new_context(viewport={"width": 1280, "height": 1800})
        context.add_init_script(OBSERVER)
        context.new_page().goto(f"{url}/monitor?run={run}", wait_until="commit")
        contexts.append(context)
    return contexts


def wait_loaded(contexts: list, timeout_s: float) -> None:
    """Waits (bounded) until every page shows its run's Monitor with the live feed running."""
    deadline = time.monotonic() + timeout_s
    for context in contexts:
        context.pages[0].wait_for_function(
            "() => !!window.__liveFeed && !!document.querySelector(\"[data-live-part='status']\")"
            " && !!document.querySelector('.st-key-monitor_learning_curves .js-plotly-plot')",
            timeout=max(1.0, deadline - time.monotonic()) * 1000)


def collect_latencies(contexts: list, events: dict[str, list[float]]) -> tuple[list[float], int]:
    """Waits (bounded) until every page shows the run's final counts, then matches."""
    final = [len(events["completed"]), len(events["points"])]
    deadline, found, missed = time.monotonic() + SETTLE_S, [], 0
    for context in contexts:
        page = context.pages[0]
        try:
            page.wait_for_function(
                "([c, p]) => { const s = window.__fig9 || []; const l = s[s.length - 1];"
                " return !!l && l[1] >= c && l[2] >= p; }", arg=final,
                timeout=max(1.0, deadline - time.monotonic()) * 1000)
        except Exception:  # noqa: BLE001 - a page that never caught up counts as missed below
            pass
        seen = page.evaluate("() => window.__fig9 || []")
        more, lost = latencies(events, [tuple(row) for row in seen])
        found += more
        missed += lost
    return found, missed


def launch_chromium(playwright):
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("figure 9 needs Debian's Chromium: run `make browser`")
    return playwright.chromium.launch(executable_path=executable, headless=True,
                                      args=CHROMIUM_ARGS)

