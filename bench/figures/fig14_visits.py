"""Figure 14's browser visits: one page opened and timed, and the rows a visit makes.

A visit (:func:`timed_visit`) navigates or picks, then times first content and complete (as
the page saw them, at the frame that painted them: :mod:`bench.viewers.painted`), the
bytes the page received (HTTP bodies and websocket frames), the server's and the browser's CPU
seconds over it and the server's memory after. :func:`visits` opens a page in a new browser
context: its first visit ever (nothing cached) then ``WARM_VISITS`` warm ones, the warm row
their median with the spread (:func:`median_row`; the machine is shared).
:func:`returning_visits` opens it in a browser that visited the origin before (a persistent
profile, Chromium started anew): the cold visit. Every row is also appended
to ``rows.jsonl`` (:func:`logged`: a long figure shows how far it got).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.viewers import painted
from bench.viewers.browser import launch_returning
from bench.viewers.painted import Sight

PAGE_TIMEOUT_S = 240.0  # Optuna Dashboard took 52 s at 3,000 trials here
WARM_VISITS = 3  # warm visits a page (the row: their median and spread; the machine is shared)
VIEWPORT = {"width": 1400, "height": 1000}
# a returning browser's address is opened this long after Chromium starts, as a person opens
# a page once the browser is up: its own start-up work (0.8-0.9 s of CPU in its first second
# here, little after) is not the page's
LAUNCH_SETTLE_S = 2.0
# what a row's visit was (the module docstring of fig14_scale says what each means)
FIRST_EVER, COLD, WARM = "first visit ever", "cold", "warm"


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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def watched(context: Any) -> tuple[Any, list[int]]:
    """A new page of ``context`` (the painted recorder in each of its documents) and the
    byte count it received (bodies and frames)."""
    painted.install(context)
    page = context.new_page()
    received = [0]
    page.on("response", lambda r: received.__setitem__(0, received[0] + _body_size(r)))
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda data: received.__setitem__(0, received[0] + len(data))))
    return page, received


def timed_visit(page: Any, received: list[int], server_pid: int, go: Callable[[], None],
                sight: Sight) -> dict[str, Any]:
    """One timed visit: ``go`` (navigate, or pick), then seconds until the page showed
    ``sight``'s first content and was complete (the recorder must check ``sight`` in this
    document: :func:`painted.expect` before a navigation, :func:`painted.rearm` before an
    action); bytes received, server and browser CPU seconds, server memory."""
    received[0] = 0
    server_cpu, browser_cpu = _tree_cpu(server_pid), _tree_cpu(os.getpid())
    started_ms = time.time() * 1000  # the page's clock (Date.now()) is this one
    row: dict[str, Any] = {"first_s": None, "complete_s": None}
    try:
        go()
        row["first_s"], row["complete_s"] = painted.wait(page, sight, PAGE_TIMEOUT_S * 1000,
                                                         started_ms)
    except Exception as error:  # a page that never completes is a result, said in its row
        row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    row.update(bytes_mb=round(received[0] / 1e6, 2),
               server_cpu_s=round(_tree_cpu(server_pid) - server_cpu, 2),
               browser_cpu_s=round(_tree_cpu(os.getpid()) - browser_cpu, 2),
               server_rss_mb=round(rss_mb(server_pid)))
    return row


def visits(browser: Any, url: str, sight: Sight, server_pid: int) -> list[dict[str, Any]]:
    """A page opened in a new context of ``browser``, its first visit ever (nothing cached)
    then ``WARM_VISITS`` times warm (the browser's cache and the server's as a second look
    finds them): seconds to ``sight``'s first content and to complete, bytes received, server and
    browser CPU seconds over each visit; the warm row is the median of its visits, with their
    spread. A first visit that did not complete in ``PAGE_TIMEOUT_S`` is not tried warm."""
    context = browser.new_context(viewport=VIEWPORT)
    rows = _opened(context, url, sight, server_pid, WARM_VISITS)
    context.close()
    return [shaped(rows[0]), shaped(median_row(rows[1:]))]


def returning_visits(playwright: Any, profile: Path, url: str, sight: Sight, server_pid: int,
                     warm: int = 0) -> list[dict[str, Any]]:
    """A page opened by a returning browser: Chromium started anew (as after a reboot) on
    the persistent ``profile`` an earlier visit of the same origin filled (HTTP cache, V8 code
    cache), one visit (the cold row) ``LAUNCH_SETTLE_S`` after it started, then ``warm`` more
    (a warm row, their median, when ``warm``); the browser is closed after."""
    browser = launch_returning(playwright, profile, viewport=VIEWPORT)
    try:
        time.sleep(LAUNCH_SETTLE_S)  # the browser up before the address is opened
        rows = _opened(browser, url, sight, server_pid, warm)
    finally:
        browser.close()
    return [shaped(rows[0]), *([shaped(median_row(rows[1:]))] if warm else [])]


def _opened(context: Any, url: str, sight: Sight, server_pid: int,
            warm: int) -> list[dict[str, Any]]:
    """``url`` visited 1 + ``warm`` times in a new page of ``context``: a row a visit."""
    page, received = watched(context)
    painted.expect(context, sight)
    rows: list[dict[str, Any]] = []
    for _ in range(1 + warm):
        if rows and rows[0]["complete_s"] is None:
            rows.append({"first_s": None, "complete_s": None,
                         "error": "not tried: the first visit did not complete"})
            break
        rows.append(timed_visit(
            page, received, server_pid,
            lambda: page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_S * 1000), sight))
    return rows


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


def logged(root: Path, row: dict[str, Any]) -> dict[str, Any]:
    """``row``, also appended to ``rows.jsonl`` (a long figure shows how far it got)."""
    with (root / "rows.jsonl").open("a") as out:
        out.write(json.dumps(row) + "\n")
    return row


def _body_size(response: Any) -> int:
    try:
        return int(response.request.sizes()["responseBodySize"])
    except Exception:  # a response without a body (redirect, 304) or gone
        return 0
