"""Figure 9: many browsers watching Monitor during a search.

One real dashboard (``streamlit run serve_app.py``, as ``make run`` starts it, on a free
127.0.0.1 port, its own workspace and training-slot folder) watches searches run as
separate processes: each run folder is made first, and ``python -m tuning_core resume``
trains it. Each pair runs the same search twice, once with no browser open and once with N
headless Chromium pages on ``/monitor?run=<run>``, opened and loaded before the search
starts (people watching a run they launched or queued; loading a page is a one-off cost,
not watching); the order alternates from pair to pair. After the N-viewer pairs,
pairs with one viewer give the update latency and cost with no other viewer. The viewers
are N contexts of one Chromium: each context is its own Streamlit session (its own
websocket, and its own copy of the live feed's polling script), as N people would be, while
the browser process itself is paid for once, so less of this 2-core machine goes to Chromium
and the server's share can be seen.

Two latencies per ``trial_end`` (``epoch_end``) line and page, each minus the line's ``time``
(one machine, one clock). Arrived: when the first feed answer carrying that many completed
trials (epochs) reached the page's browser, from Chromium's network layer (Playwright's
Resource Timing of the page's finished ``/_live/monitor`` requests; each new answer's body
read once). Shown: a script installed in every page records ``Date.now()`` whenever the
Monitor's "Completed" metric or the number of points of its learning curves grows. The
first is what the server and the feed deliver; the second adds drawing it, which here is N
pages on this machine's one browser CPU with software rendering, and in a lab each viewer's
own machine. Server and browser CPU come from ``/proc/<pid>/stat`` of their process trees.

In a lab the browsers run on the members' own machines, so here they must not take CPU from
the server or the search: on Linux with 2 or more usable CPUs the server and every search (the
unwatched ones too, so a pair compares like with like) run on one CPU set and Chromium on the
disjoint rest (``split_cpus``). Affinity is inherited across fork and exec, so each side gets
its set from the thread that starts it: the server and the searches are started with this
thread switched to the server's set for the ``Popen``, and Playwright's driver, which starts
Chromium and so every renderer Chromium starts later, is started with it on the browsers' set,
where this process then stays. Every condition reads back ``Cpus_allowed_list`` of every thread
of both trees, renderers included, and stops the figure if one is off its side.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness.common import FigureResult, median
from bench.viewers.browser import (
    SETTLE_S,
    START_S,
    collect_latencies,
    launch_chromium,
    open_viewers,
    wait_loaded,
)

# TICKS and latencies are not used here: imported so `fig09_viewers.<name>` keeps working.
from bench.viewers.measure import (  # noqa: F401
    TICKS,
    Condition,
    CpuSplit,
    allowed_cpus,
    cpu_list,
    latencies,
    log_events,
    order,
    parse_stat,
    per_viewer_minute,
    ratio_summary,
    read_stats,
    split_cpus,
    tree,
    tree_cpu,
)
from bench.viewers.pinning import check_pinning, hold_browsers, pinned, pinning_note, usable_split
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

GOAL = ("search with N viewers (or 1) on Monitor / with none <= 1.10 (median of alternating "
        "pairs); every live update reaches every viewer's browser within 2 s, and one viewer's "
        "page shows it within 2 s (N pages drawing on this machine's one browser CPU: how late "
        "they show it is reported)")
FULL = {"viewers": 10, "pairs": 9, "single_pairs": 2, "trials": 6, "epochs": 3}
QUICK = {"viewers": 2, "pairs": 1, "single_pairs": 1, "trials": 3, "epochs": 2}
MAX_RATIO, MAX_LATENCY_S = 1.10, 2.0
SEARCH_S = 600.0




def _wait_search(search: subprocess.Popen) -> float:
    """Reaps the search; returns its CPU seconds (wait4's rusage). RuntimeError if it failed."""
    deadline = time.monotonic() + SEARCH_S
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(search.pid, os.WNOHANG)
        if pid:
            search.returncode = os.waitstatus_to_exitcode(status)
            if search.returncode:
                raise RuntimeError(f"the search exited {search.returncode}; see searches.log")
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.05)  # waiting on a child process, not on the page
    kill(search)
    raise TimeoutError(f"the search took longer than {SEARCH_S:.0f} s")


def _cpu(setup: Setup) -> tuple[float, float]:
    """(server tree, browser tree) CPU seconds now; the browsers are this process's other
    descendants (Playwright's driver and Chromium), this process itself left out."""
    stats, me = read_stats(), os.getpid()
    own = parse_stat(stats[me])[1]
    return (tree_cpu(setup.server.pid, stats),
            tree_cpu(me, stats, skip=[setup.server.pid]) - own)


def _span(run: Path) -> tuple[dict[str, list[float]], float]:
    """The times each page should show, and search_start -> search_end (the last of each)."""
    events = RunDir(run).reader().events()
    times = {e["event"]: e["time"] for e in events
             if e.get("event") in ("search_start", "search_end")}
    return log_events(events), times["search_end"] - times["search_start"]


def run_condition(setup: Setup, browser, pair: int, viewers: int, trials: int,
                  epochs: int) -> Condition:
    """One search with ``viewers`` Monitor pages open on it, loaded before it starts training
    (people watching a run they launched, or one in the queue); the counting starts then."""
    result, contexts = Condition(pair, viewers), []
    run = new_run(setup, trials, epochs)
    search = None
    try:
        contexts = open_viewers(browser, setup.url, run.name, viewers)
        wait_loaded(contexts, START_S)
        result.moved = hold_browsers(setup.split, setup.server.pid)  # before the search competes
        server0, browser0 = _cpu(setup)
        started = opened = time.monotonic()
        search = start_search(setup, run)
        wait_training(run, search)
        # the search's tree, training
        result.checked, _, moved = check_pinning(setup.split, setup.server.pid, search)
        result.moved += moved + hold_browsers(setup.split, setup.server.pid, search)
        result.search_cpu_s = _wait_search(search)
        result.wall_s = time.monotonic() - started
        events, result.span_s = _span(run)
        if contexts:
            result.latencies, result.missed, result.arrivals, result.unarrived = \
                collect_latencies(contexts, events)
        # the pages' renderers
        checked, result.renderers, moved = check_pinning(setup.split, setup.server.pid, None)
        result.checked, result.moved = result.checked + checked, result.moved + moved
    finally:
        if search is not None and search.returncode is None:  # a reaped one has no group
            kill(search)
        for context in contexts:
            context.close()
    result.viewing_s = time.monotonic() - opened if viewers else 0.0
    result.window_s = time.monotonic() - started
    server1, browser1 = _cpu(setup)
    result.server_cpu_s, result.browser_cpu_s = server1 - server0, browser1 - browser0
    return result


def _row(c: Condition, position: int) -> dict:
    return {"pair": c.pair + 1, "viewers": c.viewers, "ran": "first" if position == 0 else
            "second", "search s (log)": round(c.span_s, 2), "process s": round(c.wall_s, 2),
            "search CPU s": round(c.search_cpu_s, 1), "server CPU s": round(c.server_cpu_s, 2),
            "browsers CPU s": round(c.browser_cpu_s, 1),
            "arrived median / max s": (f"{median(c.arrivals):.2f} / {max(c.arrivals):.2f}"
                                       if c.arrivals else "-"),
            "shown median / max s": (f"{median(c.latencies):.2f} / {max(c.latencies):.2f}"
                                     if c.latencies else "-"),
            "updates seen / missed": f"{len(c.latencies)} / {c.missed}" if c.viewers else "-"}


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    work, env, runs, data = fresh_setup("fig9")
    from playwright.sync_api import sync_playwright

    split = usable_split()
    conditions: list[tuple[int, Condition]] = []
    # this thread stays on the browsers' CPUs from Playwright's start to its end: its driver
    # (and so Chromium and every renderer) inherits them; the searches switch it back per Popen
    with dashboard(env, work / "streamlit.log", split.work if split else None) as (server, url), \
            pinned(split.browsers if split else None), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        moved = hold_browsers(split, server.pid)
        setup = Setup(url, server, data, runs, env, work / "streamlit.log", split)
        # warm-up (imports, caches), its page the server's first: a deep link, not the root
        moved += run_condition(setup, browser, -1, 1, 2, 1).moved
        plan = [(pair, s["viewers"] if watched else 0) for pair, watched in order(s["pairs"])]
        plan += [(s["pairs"] + pair, 1 if watched else 0)
                 for pair, watched in order(s["single_pairs"])]
        for position, (pair, viewers) in enumerate(plan):
            conditions.append((position % 2, run_condition(
                setup, browser, pair, viewers, s["trials"], s["epochs"])))
        browser.close()
    return _result(s, conditions, split, moved)


@dataclass
class Group:
    """The pairs whose watched search had ``viewers`` pages open, summed up."""

    viewers: int
    ratio: float
    low: float
    high: float
    wall_ratio: float
    seen: list[float]
    missed: int
    came: list[float]
    lost: int
    server: float  # extra server CPU s per viewer-minute, median of pairs
    browsers: float

    @property
    def late(self) -> float:
        return max(self.seen) if self.seen else float("inf")

    @property
    def late_arrival(self) -> float:
        return max(self.came) if self.came else float("inf")

    def latency(self) -> str:
        def spread(values: list[float], lost: int, what: str) -> str:
            middle = median(values) if values else float("nan")
            worst = max(values) if values else float("inf")
            return f"{what} median {middle:.2f} s, max {worst:.2f} s, {lost} missed"
        return (f"{spread(self.came, self.lost, 'arrived')}; "
                f"{spread(self.seen, self.missed, 'shown')}")


def _group(conditions: list[Condition], viewers: int) -> Group:
    pairs: dict[int, dict[int, Condition]] = {}
    for c in conditions:
        pairs.setdefault(c.pair, {})[c.viewers] = c
    both = [(p[0], p[viewers]) for p in pairs.values() if 0 in p and viewers in p]
    alone, watched = [a for a, _ in both], [w for _, w in both]
    _, ratio, low, high = ratio_summary([c.span_s for c in alone], [c.span_s for c in watched])
    wall = ratio_summary([c.wall_s for c in alone], [c.wall_s for c in watched])[1]
    return Group(viewers, ratio, low, high, wall, [x for c in watched for x in c.latencies],
                 sum(c.missed for c in watched), [x for c in watched for x in c.arrivals],
                 sum(c.unarrived for c in watched),
                 median([per_viewer_minute(w, a, "server") for a, w in both]),
                 median([per_viewer_minute(w, a, "browser") for a, w in both]))


def _result(s: dict, conditions: list[tuple[int, Condition]],
            split: CpuSplit | None = None, moved: int = 0) -> FigureResult:
    many = _group([c for _, c in conditions], s["viewers"])
    one = _group([c for _, c in conditions], 1)
    cores = len(split.work) if split else os.cpu_count() or 1
    server_cores = many.server * many.viewers / 60  # CPU s per s: cores busy on the server
    value = (f"ratio {many.ratio:.3f} (pairs {many.low:.3f}-{many.high:.3f}); "
             f"{many.latency()}; server {many.server:.2f} CPU s per viewer-minute "
             f"(browsers {many.browsers:.2f}); 1 viewer: ratio {one.ratio:.3f}, "
             f"{one.latency()}")
    notes = [pinning_note(split, [c for _, c in conditions], moved),
             f"{s['viewers']} viewers, {s['pairs']} alternating pairs, then 1 viewer, "
             f"{s['single_pairs']} alternating pairs; each search: random "
             f"tuner, {s['trials']} trials x {s['epochs']} epochs, digits at 16 px, as a "
             "run folder made first, then trained by a `python -m tuning_core resume` process "
             "(both arms); the ratio is of search_start -> "
             f"search_end in its log (process wall time: median ratio {many.wall_ratio:.3f} "
             f"with {s['viewers']} viewers, {one.wall_ratio:.3f} with 1).",
             "viewers: one headless Chromium, one context (one Streamlit session) per viewer, "
             "opened on /monitor?run=<run> of the new run and loaded (the live feed running) "
             "before its search starts, as people watch a run they launched or queued; the "
             "CPU and time counting starts then, so loading the pages is not counted; the "
             "dashboard is `streamlit run serve_app.py` as `make run` starts it, and its first "
             "page is such a deep link (a warm-up search with one viewer, not counted).",
             "shown: Date.now() in the page when its 'Completed' metric (trial_end) or its "
             "learning-curve point count (epoch_end) first reached the k-th event, minus the "
             "line's time. arrived: when the first feed answer carrying the k-th event had "
             "reached that page's browser (the request's responseEnd in Playwright's Resource "
             "Timing, taken by Chromium's network layer), minus the line's time; events logged "
             "before a page first drew its counts are not counted for it. "
             f"{s['viewers']} viewers: {len(many.seen)} shown, {many.missed} never shown within "
             f"{SETTLE_S:.0f} s of the search's end, {len(many.came)} arrived, {many.lost} never; "
             f"1 viewer: {len(one.seen)} shown, {one.missed} not, {len(one.came)} arrived, "
             f"{one.lost} not.",
             "CPU per viewer-minute: the watched search's CPU less the unwatched one's rate "
             "over the same interval, divided by viewers x minutes the pages were open; "
             "from /proc/<pid>/stat (utime+stime+cutime+cstime) of each process tree; "
             f"1 viewer: server {one.server:.2f}, browser {one.browsers:.2f}.",
             f"the server's own share with {many.viewers} viewers: {server_cores:.2f} of a core "
             f"({server_cores / cores:.0%} of the {cores} CPU(s) it "
             + (f"and the searches had: {cpu_list(split.work)}), the browsers on "
                f"{cpu_list(split.browsers)}." if split else
                "shared with the browsers and the searches).")]
    rows = [_row(c, position) for position, c in conditions]
    met = all(g.ratio <= MAX_RATIO and g.late_arrival <= MAX_LATENCY_S and not g.lost
              and not g.missed for g in (many, one)) and one.late <= MAX_LATENCY_S
    return FigureResult(9, "Many viewers", GOAL, value, met=met, rows=rows, notes=notes)
