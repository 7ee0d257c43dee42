"""Figure 14: a lab's year of runs (issue 29): every page at 1,000 runs and 10,000+ trials.

A workspace made by the project's own writers (:mod:`bench.workloads.labyear`: 1,000 small
runs and sweeps of 1,000, 10,000 and 50,000 trials of 10 epochs), served as ``make run``
serves it. Each page is opened in headless Chromium, cold (a new browser context: its first
visit on this server) and then ``WARM_VISITS`` times warm (the row: their median, with the
spread; the machine is shared): seconds to first content (the Runs table; the Monitor's
counts; the Best page's trial picker; Compare's chart) and to complete (the script done and
every chart drawn), bytes the page received (HTTP bodies and websocket frames), the server's
and the browser's CPU seconds, the server's memory after. Pages: Runs, then Monitor and Best
model of each sweep, then Compare with 20 runs picked (the two smaller sweeps and 18 small
runs; the 20th pick is timed, cold, then removed and picked again, warm), then Runs again,
and the server's memory once it sat idle a minute; then the server is restarted, as a lab's
is, and the Monitor of each sweep past 1,000 trials opened again, cold and warm (its log read
by the first server: the reader starts from the checkpoint that one left). Optuna Dashboard
shows the same completed trials of the sweeps up to 10,000 (:mod:`bench.figures.fig14_optuna`),
opened the same way; the ratios set its complete time against the Monitor's. The visits
themselves: :mod:`bench.figures.fig14_visits`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.figures.fig14_optuna import optuna_rows
from bench.figures.fig14_visits import (
    PAGE_TIMEOUT_S,
    WARM_VISITS,
    logged,
    median_row,
    rss_mb,
    shaped,
    timed_visit,
    visits,
    watched,
)
from bench.harness.common import OUT, FigureResult, fresh_dir
from bench.viewers.browser import launch_chromium
from bench.viewers.server import dashboard, server_env
from bench.workloads.labyear import Shape, make_workspace

GOAL = ("at 10,000 trials and 1,000 runs every page's first content within 1 s warm and "
        "complete within 2 s warm (3 s cold); at 50,000 complete within 5 s; Optuna Dashboard "
        "at least 10x slower at 3,000 trials or more; server RSS under 600 MB")
RSS_GOAL_MB = 600
IDLE_S = 150.0  # the server left alone before its memory is read a last time (readers go
# after 120 s unasked: tuning_core.runs.readers.READER_IDLE_S)


@dataclass(frozen=True)
class Scale:
    runs: int
    sweeps: tuple[int, ...]
    epochs: int
    optuna: tuple[int, ...]  # the sweeps Optuna Dashboard is shown too
    compare: int  # runs picked on Compare
    idle_s: float = IDLE_S


FULL = Scale(runs=1000, sweeps=(1000, 10_000, 50_000), epochs=10, optuna=(1000, 10_000),
             compare=20)
QUICK = Scale(runs=40, sweeps=(300, 3000), epochs=4, optuna=(300, 3000), compare=5, idle_s=5)

RUNS_FIRST = "[data-testid='stDataFrame']"
MONITOR_FIRST = "[data-live-part='status'] .live-metric"
BEST_FIRST = ".st-key-best_rank"
COMPARE_PICK = ".st-key-compare_pick input[role='combobox']"
COMPARE_TAGS = ".st-key-compare_pick [data-tag]"
COMPARE_TRACES = ".st-key-compare_objective .scatterlayer .trace"
DONE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def compare_visits(browser: Any, url: str, picks: list[str],
                   server_pid: int) -> list[dict[str, Any]]:
    """Compare with ``picks`` picked: all but the last picked one by one (typed into the
    picker, as a person would; not timed), then the last one timed, cold; removed, and
    picked again, warm. First content: the objective chart holds every picked run's line."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page, received = watched(context)
    timeout = PAGE_TIMEOUT_S * 1000
    tags = page.locator(COMPARE_TAGS)

    def lines(count: int) -> None:
        page.wait_for_function(f"document.querySelectorAll({COMPARE_TRACES!r}).length "
                               f"== {count}", timeout=timeout)

    def tagged(count: int) -> None:
        page.wait_for_function(f"document.querySelectorAll({COMPARE_TAGS!r}).length "
                               f"== {count}", timeout=timeout)

    def pick(name: str) -> None:
        box = page.locator(COMPARE_PICK)
        box.click()
        box.fill(name)
        page.locator("[role='option']", has_text=name).first.click(timeout=timeout)
        page.keyboard.press("Escape")

    try:
        page.goto(url + "/compare", wait_until="commit", timeout=timeout)
        tags.first.wait_for(timeout=timeout)
        _script_done(page)
        have = tags.all_inner_texts()
        for name in picks[:-1]:
            if not any(name in text for text in have):
                pick(name)
                have.append(name)
                tagged(len(have))
        lines(len(have))
        _script_done(page)
    except Exception as error:  # the picks could not be made: said in both rows
        context.close()
        said = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
        return [shaped({"first_s": None, "complete_s": None, "error": said})] * 2
    rows = []
    for visit in range(1 + WARM_VISITS):
        if visit:  # warm: remove the last pick again, to pick it once more
            page.locator(f"{COMPARE_TAGS} button[aria-label$={picks[-1]!r}]").click()
            lines(len(picks) - 1)
            _script_done(page)
        rows.append(timed_visit(page, received, server_pid, lambda: pick(picks[-1]),
                           lambda: lines(len(picks)), lambda: _script_done(page)))
    context.close()
    return [shaped(rows[0]), shaped(median_row(rows[1:]))]


def _charts_drawn(count: int) -> Any:
    def wait(page: Any) -> None:
        page.wait_for_selector(DONE, timeout=PAGE_TIMEOUT_S * 1000)
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {count}",
            timeout=PAGE_TIMEOUT_S * 1000)
    return wait


def _script_done(page: Any) -> None:
    page.wait_for_selector(DONE, timeout=PAGE_TIMEOUT_S * 1000)


def _picks(runs_dir: Path, sweeps: dict[str, Path], count: int) -> list[str]:
    """The runs Compare is given: the sweeps up to 10,000 trials (the page's first two picks
    are the newest runs: the two smallest sweeps) and the newest small runs with a scored
    trial, ``count`` in all."""
    from tuning_core.runs.catalogue import list_runs

    big = [p.name for n, p in sweeps.items() if int(n.split("-")[1]) <= 10_000][:2]
    names = {p.name for p in sweeps.values()}
    small = [i.run.name for i in list_runs(runs_dir, wait_for_size=False)
             if i.run.name not in names and i.best_score is not None]
    return big + small[:count - len(big)]


def ours(root: Path, sweeps: dict[str, Path], scale: Scale) -> list[dict[str, Any]]:
    """Every page of ours, cold then warm, on one server; its memory after a rest."""
    from playwright.sync_api import sync_playwright

    env = server_env(root, root / "slot")
    picks = _picks(root / "runs", sweeps, scale.compare)
    rows = []
    with dashboard(env, root / "server.log") as (server, url), sync_playwright() as p:
        browser = launch_chromium(p)
        runs = ("Runs", "/runs", RUNS_FIRST, _script_done, 0)
        pages = [runs]
        for name, path in sweeps.items():
            n = int(name.split("-")[1])
            pages += [(f"Monitor {n}", f"/monitor?run={path.name}", MONITOR_FIRST,
                       _charts_drawn(6), n),
                      (f"Best model {n}", f"/best?run={path.name}", BEST_FIRST, _script_done, n)]
        pages += [("Compare", "", "", None, 0), ("Runs after", *runs[1:])]
        for name, path, first, complete, trials in pages:
            if name == "Compare":
                found = compare_visits(browser, url, picks, server.pid)
                name = f"Compare {len(picks)} runs"
                trials = max(int(n.split("-")[1]) for n, p in sweeps.items()
                             if p.name in picks)
            else:
                found = visits(browser, url + path, first, complete, server.pid)
            for visit_kind, row in zip(("cold", "warm"), found, strict=True):
                rows.append(logged(root, {"dashboard": "ours", "page": name,
                                           "trials": trials, "visit": visit_kind, **row}))
        browser.close()
        time.sleep(scale.idle_s)  # the pages closed: what the server keeps
        rows.append(logged(root, {"dashboard": "ours", "page": "idle", "trials": 0,
                                   "visit": f"{scale.idle_s:.0f} s later",
                                   "server_rss_mb": round(rss_mb(server.pid))}))
    return rows + restarted(root, env, sweeps)


def restarted(root: Path, env: dict[str, str], sweeps: dict[str, Path]) -> list[dict[str, Any]]:
    """A lab's everyday cold start: the server restarted (a reboot, an update), its runs
    read before by the last one. The Monitor of each sweep past 1,000 trials, cold (a new
    browser context) then warm, on a fresh server: its reader starts from the checkpoint the
    first server left (``tuning_core.runs.logcheckpoint``) instead of replaying the log."""
    from playwright.sync_api import sync_playwright

    rows = []
    with dashboard(env, root / "server.log") as (server, url), sync_playwright() as p:
        browser = launch_chromium(p)
        for name, path in sweeps.items():
            n = int(name.split("-")[1])
            if n <= 1000:
                continue
            found = visits(browser, f"{url}/monitor?run={path.name}", MONITOR_FIRST,
                           _charts_drawn(6), server.pid)
            for visit_kind, row in zip(("cold", "warm"), found, strict=True):
                rows.append(logged(root, {"dashboard": "ours",
                                           "page": f"Monitor {n} after restart", "trials": n,
                                           "visit": visit_kind, **row}))
        browser.close()
    return rows


def _limits(row: dict[str, Any]) -> tuple[float | None, float]:
    """The goal's seconds to first content (None: none set) and to complete for a row."""
    if row["trials"] > 10_000:
        return None, 5.0
    return (1.0, 2.0) if row["visit"] == "warm" else (None, 3.0)


def summary(rows: list[dict[str, Any]]) -> tuple[str, bool | None, list[str]]:
    """The headline, whether the goal is met, and the ratios against Optuna Dashboard, the
    pages that missed their time, and the server's largest memory."""
    def complete(dash: str, page: str, trials: int, kind: str) -> float | None:
        found = [r["complete_s"] for r in rows if r["dashboard"] == dash and r["page"] == page
                 and r["trials"] == trials and r["visit"] == kind]
        return found[0] if found else None
    notes, met, missed = [], True, []
    pages = [r for r in rows if r["dashboard"] == "ours" and "complete_s" in r]
    for row in pages:
        first, limit = _limits(row)
        late = row["complete_s"] is None or row["complete_s"] > limit or (
            first is not None and (row["first_s"] is None or row["first_s"] > first))
        if late:
            met = False
            missed.append(f"{row['page']} {row['visit']} ({row['first_s']} / "
                          f"{row['complete_s']} s)")
    if missed:
        notes.append("missed their time (first / complete): " + ", ".join(missed))
    for trials in sorted({r["trials"] for r in rows if r["dashboard"] != "ours"}):
        mine = complete("ours", f"Monitor {trials}", trials, "warm")
        theirs = complete("Optuna Dashboard", "overview", trials, "warm")
        if mine and theirs:
            notes.append(f"{trials:,} trials: Optuna Dashboard's overview {theirs:.1f} s warm, "
                         f"our Monitor {mine:.1f} s: {theirs / mine:.1f}x")
            met = met and (trials < 3000 or theirs / mine >= 10)
        elif mine:  # theirs never completed: at least the time it was given
            notes.append(f"{trials:,} trials: Optuna Dashboard's overview not complete in "
                         f"{PAGE_TIMEOUT_S:.0f} s cold, our Monitor {mine:.1f} s warm: more "
                         f"than {PAGE_TIMEOUT_S / mine:.0f}x")
            met = met and (trials < 3000 or PAGE_TIMEOUT_S / mine >= 10)
    rss = max((r.get("server_rss_mb") or 0 for r in rows if r["dashboard"] == "ours"),
              default=0)
    if rss:
        notes.append(f"server RSS at most {rss:.0f} MB (goal < {RSS_GOAL_MB})")
        met = met and rss < RSS_GOAL_MB
    worst = max((r["complete_s"] or PAGE_TIMEOUT_S for r in pages), default=0.0)
    return f"slowest page of ours complete in {worst:.1f} s", met, notes


def measure(quick: bool) -> FigureResult:
    scale = QUICK if quick else FULL
    root = fresh_dir(OUT / "fig14")
    started = time.perf_counter()
    sweeps = make_workspace(root, Shape(runs=scale.runs, sweeps=scale.sweeps,
                                        epochs=scale.epochs))
    made = time.perf_counter() - started
    rows = ours(root, sweeps, scale)
    theirs, why = optuna_rows(root, {n: p for n, p in sweeps.items()
                                     if int(n.split("-")[1]) in scale.optuna})
    value, met, notes = summary(rows + theirs)
    left_out = [n for n in scale.sweeps if n not in scale.optuna]
    notes = [f"workspace of {scale.runs:,} runs and sweeps of {scale.sweeps} trials x "
             f"{scale.epochs} epochs written in {made:.0f} s", *notes,
             *([f"Optuna Dashboard not run at {left_out} trials (too long for the figure)"]
               if left_out else []),
             f"load average at the end {os.getloadavg()[0]:.2f} (1 min)",
             *([why] if why else [])]
    return FigureResult(14, "A lab's year of runs: every page at scale", GOAL, value, met,
                        rows + theirs, notes)
