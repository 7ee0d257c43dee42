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
shows the same completed trials of the sweeps up to 10,000 (a study built with
``create_trial`` and ``add_trials``, in a venv of its own: :mod:`bench.workloads.optuna_study`;
50,000 is left out: building and opening it took longer than the whole figure may), opened
the same way; the ratios set its complete time against the Monitor's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.common import OUT, FigureResult, fresh_dir
from bench.viewers.browser import launch_chromium
from bench.viewers.server import dashboard, free_port, server_env
from bench.workloads.labyear import Shape, make_workspace

GOAL = ("at 10,000 trials and 1,000 runs every page's first content within 1 s warm and "
        "complete within 2 s warm (3 s cold); at 50,000 complete within 5 s; Optuna Dashboard "
        "at least 10x slower at 3,000 trials or more; server RSS under 600 MB")
RSS_GOAL_MB = 600
IDLE_S = 150.0  # the server left alone before its memory is read a last time (readers go
# after 120 s unasked: tuning_core.runs.readers.READER_IDLE_S)
PAGE_TIMEOUT_S = 240.0  # Optuna Dashboard took 52 s at 3,000 trials here
WARM_VISITS = 3  # warm visits a page (the row: their median and spread; the machine is shared)
# outside the checkout: its packages are no module of this project's (tests/test_layers.py)
OPTUNA_VENV = Path(tempfile.gettempdir()) / "tuning-bench-optuna-venv"


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


def _ticks(pid: int) -> float:
    """CPU seconds of a process (user and system), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def _tree_cpu(root: int) -> float:
    return sum(_ticks(p) for p in [root, *_descendants(root)])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _watched(context: Any) -> tuple[Any, list[int]]:
    """A new page of ``context`` and the byte count it received (bodies and frames)."""
    page = context.new_page()
    received = [0]
    page.on("response", lambda r: received.__setitem__(0, received[0] + _body_size(r)))
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda data: received.__setitem__(0, received[0] + len(data))))
    return page, received


def _visit(page: Any, received: list[int], server_pid: int, go: Callable[[], None],
           first: Callable[[], None], complete: Callable[[], None]) -> dict[str, Any]:
    """One timed visit: ``go`` (navigate, or pick), then seconds until ``first`` and
    ``complete`` return; bytes received, server and browser CPU seconds, server memory."""
    received[0] = 0
    server_cpu, browser_cpu = _tree_cpu(server_pid), _tree_cpu(os.getpid())
    started = time.perf_counter()
    row: dict[str, Any] = {"first_s": None, "complete_s": None}
    try:
        go()
        first()
        row["first_s"] = round(time.perf_counter() - started, 2)
        complete()
        row["complete_s"] = round(time.perf_counter() - started, 2)
    except Exception as error:  # a page that never completes is a result, said in its row
        row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    row.update(bytes_mb=round(received[0] / 1e6, 2),
               server_cpu_s=round(_tree_cpu(server_pid) - server_cpu, 2),
               browser_cpu_s=round(_tree_cpu(os.getpid()) - browser_cpu, 2),
               server_rss_mb=round(_rss_mb(server_pid)))
    return row


def visits(browser: Any, url: str, first: str, complete: Any,
           server_pid: int) -> list[dict[str, Any]]:
    """A page opened in one browser context, cold (nothing cached) then ``WARM_VISITS``
    times warm (the browser's cache and the server's as a second look finds them): seconds
    to ``first`` and to ``complete(page)``, bytes received, server and browser CPU seconds
    over each visit; the warm row is the median of its visits, with their spread. A cold
    visit that did not complete in ``PAGE_TIMEOUT_S`` is not tried warm."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page, received = _watched(context)
    rows: list[dict[str, Any]] = []
    for _ in range(1 + WARM_VISITS):
        if rows and rows[0]["complete_s"] is None:
            rows.append({"first_s": None, "complete_s": None,
                         "error": "not tried: the cold visit did not complete"})
            break
        rows.append(_visit(
            page, received, server_pid,
            lambda: page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_S * 1000),
            lambda: page.wait_for_selector(first, timeout=PAGE_TIMEOUT_S * 1000),
            lambda: complete(page)))
    context.close()
    return [shaped(rows[0]), shaped(median_row(rows[1:]))]


ROW_KEYS = ("first_s", "complete_s", "first_range", "complete_range", "visits", "bytes_mb",
            "server_cpu_s", "browser_cpu_s", "server_rss_mb")


def shaped(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every column of the figure's table, in its order (one visit: no range)."""
    out = {key: row.get(key, 1 if key == "visits" else "") for key in ROW_KEYS}
    return {**out, **{k: v for k, v in row.items() if k not in out}}


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for several visits of a page: the median of each number, the spread of the
    seconds to first content and to complete (``first_range``, ``complete_range``: min-max),
    and how many visits; a visit that failed makes the row say so (a median would hide it)."""
    failed = [r for r in rows if r.get("complete_s") is None]
    if failed or len(rows) == 1:
        return failed[0] if failed else rows[0]
    out: dict[str, Any] = {"visits": len(rows)}
    for key in ("first_s", "complete_s", "bytes_mb", "server_cpu_s", "browser_cpu_s",
                "server_rss_mb"):
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
        if key in ("first_s", "complete_s") and values:
            out[key.replace("_s", "_range")] = f"{min(values):.2f}-{max(values):.2f}"
    out["server_rss_mb"] = max(r["server_rss_mb"] for r in rows)  # memory: the most, not the median
    return out


def compare_visits(browser: Any, url: str, picks: list[str],
                   server_pid: int) -> list[dict[str, Any]]:
    """Compare with ``picks`` picked: all but the last picked one by one (typed into the
    picker, as a person would; not timed), then the last one timed, cold; removed, and
    picked again, warm. First content: the objective chart holds every picked run's line."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page, received = _watched(context)
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
        rows.append(_visit(page, received, server_pid, lambda: pick(picks[-1]),
                           lambda: lines(len(picks)), lambda: _script_done(page)))
    context.close()
    return [shaped(rows[0]), shaped(median_row(rows[1:]))]


def _logged(root: Path, row: dict[str, Any]) -> dict[str, Any]:
    """``row``, also appended to ``rows.jsonl`` (a long figure shows how far it got)."""
    with (root / "rows.jsonl").open("a") as out:
        out.write(json.dumps(row) + "\n")
    return row


def _body_size(response: Any) -> int:
    try:
        return int(response.request.sizes()["responseBodySize"])
    except Exception:  # a response without a body (redirect, 304) or gone
        return 0


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
                rows.append(_logged(root, {"dashboard": "ours", "page": name,
                                           "trials": trials, "visit": visit_kind, **row}))
        browser.close()
        time.sleep(scale.idle_s)  # the pages closed: what the server keeps
        rows.append(_logged(root, {"dashboard": "ours", "page": "idle", "trials": 0,
                                   "visit": f"{scale.idle_s:.0f} s later",
                                   "server_rss_mb": round(_rss_mb(server.pid))}))
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
                rows.append(_logged(root, {"dashboard": "ours",
                                           "page": f"Monitor {n} after restart", "trials": n,
                                           "visit": visit_kind, **row}))
        browser.close()
    return rows


def optuna_rows(root: Path, sweeps: dict[str, Path]) -> tuple[list[dict[str, Any]], str]:
    """Optuna Dashboard on each sweep's completed trials; rows, and a note when it could not
    run (no venv of its own could be made)."""
    from playwright.sync_api import sync_playwright

    from bench.workloads.optuna_study import export_trials

    python = OPTUNA_VENV / "bin" / "python"
    if not python.exists():
        made = subprocess.run(f"{sys.executable} -m venv {OPTUNA_VENV} && {python} -m pip "
                              "install -q optuna optuna-dashboard", shell=True, check=False)
        if made.returncode:
            return [], "Optuna Dashboard could not be installed in its own venv."
    rows: list[dict[str, Any]] = []
    for name, path in sweeps.items():
        exported = root / f"{name}.json"
        export_trials(path, exported)
        subprocess.run([str(python), str(Path(__file__).parents[1] / "workloads" /
                                         "optuna_study.py"),
                        str(exported), f"sqlite:///{root / 'optuna.db'}", name], check=True,
                       capture_output=True)
    port = free_port()
    log = (root / "optuna.log").open("ab")
    cli = "import sys; from optuna_dashboard._cli import main; sys.exit(main())"
    server = subprocess.Popen([str(python), "-c", cli,
                               f"sqlite:///{root / 'optuna.db'}", "--host", "127.0.0.1",
                               "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url)
        with sync_playwright() as p:
            browser = launch_chromium(p)
            for study_id, name in enumerate(sweeps, start=1):
                for page_name, tail, done in (("overview", "", _optuna_plot),):
                    found = visits(browser, f"{url}/dashboard/studies/{study_id}{tail}",
                                   ".js-plotly-plot", done, server.pid)
                    for visit_kind, row in zip(("cold", "warm"), found, strict=True):
                        rows.append(_logged(root, {
                            "dashboard": "Optuna Dashboard", "page": page_name,
                            "trials": int(name.split("-")[1]), "visit": visit_kind, **row}))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return rows, ""


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/meta", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"Optuna Dashboard did not answer at {url}")


def _optuna_plot(page: Any) -> None:
    """The overview complete: its history plot holds the trials' points (the axes come first,
    empty, while it reads the study). Its trial table drew no row for these studies within a
    minute (0.21.0), so it is not timed."""
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length > 0",
        timeout=PAGE_TIMEOUT_S * 1000)


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
