"""Figure 9's browser side: headless Chromium viewers on Monitor, and what their pages showed.

Holds ``OBSERVER`` (the script installed in every page that records when the Monitor's counts
grow), Chromium's launch, opening one context (one Streamlit session) per viewer, and
collecting each page's latencies at the end.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

from bench.viewers.measure import latencies, payload_counts

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
    // the live feed's count (tuning_core/live/answers.py), or a Streamlit metric as the page
    // once drew it
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


FEED_PATH = "/_live/monitor"


def open_viewers(browser, url: str, run: str, viewers: int) -> list:
    """One context per viewer on the run's Monitor; each remembers its page's finished feed
    requests (``context.feed``), whose timing the browser's network layer took."""
    contexts = []
    for _ in range(viewers):
        context = browser.new_context(viewport={"width": 1280, "height": 1800})
        context.add_init_script(OBSERVER)
        context.feed = []
        page = context.new_page()
        page.on("requestfinished", lambda request, kept=context.feed:
                kept.append(request) if FEED_PATH in request.url else None)
        page.goto(f"{url}/monitor?run={run}", wait_until="commit")
        contexts.append(context)
    return contexts


def arrived(requests: list, bodies: dict[str, tuple[int, int]]) -> list[tuple[float, int, int]]:
    """(ms since the epoch, completed, points) of each feed answer with a body that reached
    the browser: when its last byte arrived (Playwright's Resource Timing, from the network
    layer, so a renderer short of CPU does not move it) and what it carried. ``bodies``: counts
    by ETag, filled as new ones are met (the viewers share answers, so most are met once)."""
    rows = []
    for request in requests:
        response = request.response()
        if response is None or response.status != 200:
            continue  # a 304 carries nothing new
        etag = response.headers.get("etag", "")
        if etag not in bodies:
            bodies[etag] = payload_counts(response.body())
        timing = request.timing
        if timing["responseEnd"] >= 0:
            rows.append((timing["startTime"] + timing["responseEnd"], *bodies[etag]))
    return sorted(rows)


def wait_loaded(contexts: list, timeout_s: float) -> None:
    """Waits (bounded) until every page shows its run's Monitor with the live feed running."""
    deadline = time.monotonic() + timeout_s
    for context in contexts:
        context.pages[0].wait_for_function(
            "() => !!window.__liveFeed && !!document.querySelector(\"[data-live-part='status']\")"
            " && !!document.querySelector('.st-key-monitor_learning_curves .js-plotly-plot')",
            timeout=max(1.0, deadline - time.monotonic()) * 1000)


def collect_latencies(contexts: list, events: dict[str, list[float]]
                      ) -> tuple[list[float], int, list[float], int]:
    """Waits (bounded) until every page shows the run's final counts, then matches: the
    latencies until the pages showed each event and how many they never showed, then the
    latencies until its payload reached each browser and how many never did."""
    final = [len(events["completed"]), len(events["points"])]
    deadline, found, missed = time.monotonic() + SETTLE_S, [], 0
    came, lost_on_way = [], 0
    bodies: dict[str, tuple[int, int]] = {}
    for context in contexts:
        page = context.pages[0]
        with contextlib.suppress(Exception):
            page.wait_for_function(
                "([c, p]) => { const s = window.__fig9 || []; const l = s[s.length - 1];"
                " return !!l && l[1] >= c && l[2] >= p; }", arg=final,
                timeout=max(1.0, deadline - time.monotonic()) * 1000)
        seen = page.evaluate("() => window.__fig9 || []")
        more, lost = latencies(events, [tuple(row) for row in seen])
        found += more
        missed += lost
        shown = [row for row in seen if row[1] >= 0 and row[2] >= 0]
        # the page's first drawn counts start both clocks: earlier events were not its to show
        rows = [row for row in arrived(context.feed, bodies) if shown and row[0] >= shown[0][0]]
        more, lost = latencies(events, shown[:1] + rows)
        came += more
        lost_on_way += lost
    return found, missed, came, lost_on_way


def _chromium() -> str:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("the browser figures need Debian's Chromium: run `make browser`")
    return executable


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=_chromium(), headless=True,
                                      args=CHROMIUM_ARGS)


def launch_returning(playwright, profile: Path, *, viewport: dict[str, int] | None = None):
    """A browser that has been here before: Chromium started anew on the persistent profile
    folder ``profile`` (made when missing), its HTTP cache and V8 code cache kept on disk
    between launches, as a person's browser keeps them across a reboot. The cache is keyed by
    origin: a page is found cached only on the port that filled it. Returns the browser's one
    context; closing it ends the browser."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS,
        viewport=viewport)

