"""Figure 11: what each live page costs the server, and the search, while a search trains.

Figure 9 watches Monitor, whose live parts follow the live feed with no rerun of the viewer's
Streamlit session. The Search, Runs and Best pages hold widgets in their live parts, so they
poll from ``st.fragment(run_every=...)`` while anything trains (``pages/_live.py``: 2 s, the
Runs table 5 s): every viewer reruns a fragment of its session at that period. This figure
opens N viewers on each page in turn during one long search (a ``python -m tuning_core
resume`` process, as in figure 9) and reads, over a fixed window once the pages have loaded:

- the server's CPU seconds per viewer-minute, less the server's rate in the windows with no
  viewer, and that extra as a share of the CPUs the server shares with the search (the goal);
- the search's speed: its process tree's CPU seconds per second, against the windows with no
  viewer (the search is CPU-bound and shares its CPU set with the server, so what the server
  takes it loses), and the epochs it logged per minute (noisier: trials differ in size).

It does this twice in the same run, one dashboard after the other on the same search: as
shipped (``.streamlit/config.toml``), and with Streamlit's default of a full garbage
collection after every script run (``runner.postScriptGC``, which the shipped config turns
off; set back here with ``STREAMLIT_RUNNER_POST_SCRIPT_GC=true``). The windows of each page
alternate in rounds, so a slow stretch of the search spreads over all of them. CPUs are split
as in figure 9: server and search on one set, Chromium on the rest.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.harness.common import FigureResult, median
from bench.viewers.browser import START_S, launch_chromium
from bench.viewers.measure import cpu_list, read_stats, tree_cpu
from bench.viewers.pinning import hold_browsers, pinned, usable_split
from bench.viewers.server import (
    Setup,
    dashboard,
    fresh_setup,
    kill,
    new_run,
    start_search,
    wait_training,
)
from tuning_core.runs.rundir import RunDir

GOAL = ("N viewers on any live page (Monitor, Search, Runs, Best model) during a search take at "
        "most 10% of the CPU the search runs on (the server's CPU above its rate with no viewer, "
        "median of rounds), with the dashboard as shipped; the search's own loss is reported")
FULL = {"viewers": 10, "rounds": 2, "window_s": 30.0}
QUICK = {"viewers": 2, "rounds": 1, "window_s": 8.0}
MAX_SHARE = 0.10
QUIET_RATE, QUIET_S = 0.05, 30.0  # the server is warm once under 5% of a core (bounded wait)
SETTLE_S = 3.0  # after the pages have drawn, before the window opens
PAGES = {"monitor": "Monitor", "search": "Search", "runs": "Runs", "best": "Best model"}
NONE = "none"
ARMS = {"shipped": {}, "postScriptGC on": {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}}
# the pages that rerun a session per viewer: the only ones the garbage collection touches
ARM_PAGES = {"shipped": [NONE, *PAGES], "postScriptGC on": [NONE, "search", "runs", "best"]}


@dataclass
class Window:
    """N viewers on one page (none: no viewer) for one measuring window."""

    arm: str
    page: str
    viewers: int
    seconds: float
    server_cpu_s: float
    search_cpu_s: float
    epochs: int
    server_rss_mb: float

    @property
    def search_rate(self) -> float:
        return self.search_cpu_s / self.seconds

    @property
    def epochs_per_min(self) -> float:
        return self.epochs * 60 / self.seconds


def epochs_between(events: Iterable[dict[str, Any]], start: float, end: float) -> int:
    """``epoch_end`` events of a trial log (``RunDir.reader().events()``, which leaves out a
    line still being written) whose ``time`` lies in [start, end)."""
    count = 0
    for event in events:
        stamp = event.get("time")
        if event.get("event") == "epoch_end" and isinstance(stamp, (int, float)):
            count += start <= stamp < end
    return count


def extra_rate(window: Window, idle_rate: float) -> float:
    """The server's CPU seconds per second in a window above its rate with no viewer."""
    return window.server_cpu_s / window.seconds - idle_rate


def per_viewer_minute(window: Window, idle_rate: float) -> float:
    """The server's CPU seconds per viewer-minute of a window, less its rate with no viewer."""
    return extra_rate(window, idle_rate) * 60 / window.viewers


@dataclass
class PageSummary:
    arm: str
    page: str
    server_per_viewer_min: float  # median of rounds
    server_share: float  # extra server CPU s per s / the CPUs it shares with the search
    slowdown: float  # 1 - search CPU rate / the none windows' median; median of rounds
    slowdown_high: float
    epoch_ratio: float  # epochs per minute / the none windows' median


def summarize(windows: list[Window], cores: int = 1) -> list[PageSummary]:
    """Per arm and page: the medians of its rounds against the arm's windows with no viewer;
    ``cores``: how many CPUs the server shares with the search."""
    out = []
    for arm in dict.fromkeys(w.arm for w in windows):
        mine = [w for w in windows if w.arm == arm]
        idle = [w for w in mine if w.page == NONE]
        if not idle:
            raise ValueError(f"arm {arm!r} has no window without viewers")
        idle_server = median([w.server_cpu_s / w.seconds for w in idle])
        idle_search = median([w.search_rate for w in idle])
        idle_epochs = median([w.epochs_per_min for w in idle])
        for page in dict.fromkeys(w.page for w in mine if w.page != NONE):
            rounds = [w for w in mine if w.page == page]
            slow = [1 - w.search_rate / idle_search for w in rounds]
            out.append(PageSummary(
                arm, page, median([per_viewer_minute(w, idle_server) for w in rounds]),
                median([extra_rate(w, idle_server) for w in rounds]) / cores,
                median(slow), max(slow),
                median([w.epochs_per_min for w in rounds]) / idle_epochs if idle_epochs else 0))
    return out


def _open_pages(browser, url: str, page: str, run: str, viewers: int) -> list:
    contexts = []
    for _ in range(viewers):
        context = browser.new_context(viewport={"width": 1280, "height": 1200})
        context.new_page().goto(f"{url}/{page}?run={run}", wait_until="commit")
        contexts.append(context)
    for context in contexts:  # drawn: the page's title, and no script run pending; ten pages
        # load one after the other on the browsers' CPU, so each gets its own bounded wait
        context.pages[0].wait_for_function(
            "title => [...document.querySelectorAll('h1')].some(h => h.textContent.trim() "
            "=== title) && document.querySelector(\"[data-test-script-state='notRunning']\")",
            arg=PAGES[page], timeout=START_S * 1000)
    return contexts


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _warm_up(setup: Setup, browser, run: Path) -> None:
    """One viewer on every page once (each page's first run imports and caches), then until
    the server is quiet (its background import of scikit-learn at start, say): not counted."""
    for page in PAGES:
        for context in _open_pages(browser, setup.url, page, run.name, 1):
            context.close()
    deadline = time.monotonic() + QUIET_S
    before = tree_cpu(setup.server.pid, read_stats())
    while time.monotonic() < deadline:
        time.sleep(1.0)  # sampling the server's CPU rate
        now = tree_cpu(setup.server.pid, read_stats())
        if now - before < QUIET_RATE:
            return
        before = now


def _window(setup: Setup, browser, search, run: Path, arm: str, page: str, viewers: int,
            seconds: float) -> Window:
    contexts = _open_pages(browser, setup.url, page, run.name, viewers) if page != NONE else []
    try:
        time.sleep(SETTLE_S if contexts else 0.0)  # the window opens once the pages are idle
        hold_browsers(setup.split, setup.server.pid, search)
        stats = read_stats()
        server0, search0 = tree_cpu(setup.server.pid, stats), tree_cpu(search.pid, stats)
        wall0, started = time.time(), time.monotonic()
        time.sleep(seconds)  # the measured window: the pages poll as they would
        stats = read_stats()
        server1, search1 = tree_cpu(setup.server.pid, stats), tree_cpu(search.pid, stats)
        elapsed, wall1 = time.monotonic() - started, time.time()
        if search.poll() is not None:
            raise RuntimeError(f"the search ended during a window (exit {search.returncode})")
        events = RunDir(run).reader().events()
        return Window(arm, page, len(contexts), elapsed, server1 - server0, search1 - search0,
                      epochs_between(events, wall0, wall1), _rss_mb(setup.server.pid))
    finally:
        for context in contexts:
            context.close()


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    work, env, runs, data = fresh_setup("fig11")
    from playwright.sync_api import sync_playwright

    split = usable_split()
    windows: list[Window] = []
    search = None
    with pinned(split.browsers if split else None), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for arm, extra in ARMS.items():
                with dashboard({**env, **extra}, work / "streamlit.log",
                               split.work if split else None) as (server, url):
                    setup = Setup(url, server, data, runs, env, work / "streamlit.log", split)
                    if search is None:  # one search for both arms, outliving the first server
                        run = new_run(setup, trials=100_000, epochs=3)
                        search = start_search(setup, run)
                        wait_training(run, search)
                    _warm_up(setup, browser, run)
                    hold_browsers(split, server.pid, search)
                    for _ in range(s["rounds"]):
                        for page in ARM_PAGES[arm]:
                            windows.append(_window(setup, browser, search, run, arm, page,
                                                   s["viewers"], s["window_s"]))
                            with (work / "windows.jsonl").open("a") as log:  # as it goes
                                log.write(json.dumps(asdict(windows[-1])) + "\n")
        finally:
            if search is not None:
                kill(search)
            browser.close()
    return _result(s, windows, split)


def _result(s: dict, windows: list[Window], split) -> FigureResult:
    pages = summarize(windows, len(split.work) if split else os.cpu_count() or 1)
    shipped = [p for p in pages if p.arm == "shipped"]
    worst = max(shipped, key=lambda p: p.server_share)
    slowest = max(shipped, key=lambda p: p.slowdown)
    costs = ", ".join(f"{PAGES[p.page]} {p.server_per_viewer_min:.2f}" for p in shipped)
    gc = {p.page: p for p in pages if p.arm != "shipped"}
    compared = ", ".join(
        f"{PAGES[p.page]} {gc[p.page].server_per_viewer_min:.2f} "
        f"({gc[p.page].server_per_viewer_min / p.server_per_viewer_min:.1f}x)"
        for p in shipped if p.page in gc and p.server_per_viewer_min > 0)
    value = (f"{s['viewers']} viewers, as shipped: server CPU s per viewer-minute {costs}; "
             f"server's share of the search's CPU at most {worst.server_share:.1%} "
             f"({PAGES[worst.page]}), search slowed at most {slowest.slowdown:.1%} "
             f"({PAGES[slowest.page]}); with "
             f"Streamlit's post-run GC: {compared}, search slowed up to "
             f"{max((p.slowdown for p in gc.values()), default=0):.1%}")
    rows = [{"table": "Per page (medians of rounds)", "arm": p.arm, "page": PAGES[p.page],
             "server CPU s / viewer-min": round(p.server_per_viewer_min, 2),
             "server share of the search's CPU": f"{p.server_share:.1%}",
             "search slowed (median, max)": f"{p.slowdown:.1%}, {p.slowdown_high:.1%}",
             "epochs / min vs none": round(p.epoch_ratio, 2)} for p in pages]
    rows += [{"table": "Every window, in run order", "arm": w.arm, "page": w.page,
              "viewers": w.viewers, "window s": round(w.seconds, 1),
              "server CPU s": round(w.server_cpu_s, 2),
              "search CPU s / s": round(w.search_rate, 3), "epochs": w.epochs,
              "server RSS MB": round(w.server_rss_mb)} for w in windows]
    notes = [
        f"one search (random tuner, 3 epochs per trial, digits at 16 px, as figure 9's) runs "
        f"through both arms; per arm {s['rounds']} round(s) of windows of {s['window_s']:.0f} s, "
        f"each with {s['viewers']} headless Chromium contexts (one Streamlit session each) on "
        f"one page, opened and drawn before the window opens ({SETTLE_S:.0f} s settle), "
        "closed after it; 'none' windows have no page open.",
        "server CPU per viewer-minute: the server's process tree (/proc/<pid>/stat) over the "
        "window less its median rate in the arm's 'none' windows, over viewers x minutes; "
        "its share: that extra CPU s per s over the CPUs the server and the search share. "
        "search slowed: 1 - the search tree's CPU seconds per second in the window / the "
        "arm's 'none' windows' median (the search is CPU-bound on the CPUs it shares with the "
        "server). epochs / min: epoch_end lines logged in the window, against 'none'.",
        "arms: 'shipped' is `streamlit run serve_app.py` with .streamlit/config.toml as "
        "`make run` uses it (runner.postScriptGC = false); 'postScriptGC on' is the same "
        "server restarted with STREAMLIT_RUNNER_POST_SCRIPT_GC=true, Streamlit's default: a "
        "full gc.collect() after every script run, fragment runs included.",
        ("server and search on CPU(s) " + cpu_list(split.work) + ", Chromium on "
         + cpu_list(split.browsers) + "." if split else "nothing pinned (fewer than 2 CPUs).")]
    met = all(p.server_share <= MAX_SHARE for p in shipped)
    return FigureResult(11, "Every live page's cost", GOAL, value, met=met, rows=rows,
                        notes=notes)
