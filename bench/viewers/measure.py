"""Figure 9's measuring helpers, pure apart from reading /proc (tested in tests/bench/test_fig9.py).

Holds ``/proc/<pid>/stat`` parsing (``parse_stat``, ``read_stats``, ``tree``, ``tree_cpu``: CPU
seconds of a process tree), the CPU sets the two sides are pinned to (``split_cpus``,
``cpu_list``, ``parse_cpu_list``, ``allowed_cpus``), the trial-log times a page should show
(``log_events``, from the run's events as ``RunDir.reader()`` reads them) and their matching
to what a page showed (``latencies``), the per-pair ratio summary and run order, and
``Condition`` (one search and what it cost) with ``per_viewer_minute``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.common import median

TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat(text: str) -> tuple[int, float]:
    """(parent pid, CPU seconds: utime + stime + cutime + cstime) from a /proc/<pid>/stat line.

    The command name may hold spaces and parentheses, so fields are counted after the last ')'.
    """
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / TICKS


def tree(root: int, stats: dict[int, str], skip: Iterable[int] = ()) -> list[int]:
    """``root`` and its live descendants, not descending into the pids in ``skip``;
    ``stats``: pid -> stat text."""
    parents = {pid: parse_stat(text)[0] for pid, text in stats.items()}
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo, skip = [], [root], set(skip)
    while todo:
        pid = todo.pop()
        if pid in skip or pid not in parents:
            continue
        found.append(pid)
        todo += children.get(pid, [])
    return found


def tree_cpu(root: int, stats: dict[int, str], skip: Iterable[int] = ()) -> float:
    """CPU seconds of ``root`` and its live descendants (reaped ones are in their parent's
    cutime/cstime), not descending into the pids in ``skip``; ``stats``: pid -> stat text."""
    return sum(parse_stat(stats[pid])[1] for pid in tree(root, stats, skip))


@dataclass(frozen=True)
class CpuSplit:
    """Disjoint CPU sets: ``work`` for the dashboard server and the searches (the machine a
    lab deploys on), ``browsers`` for Chromium (standing in for the lab members' machines)."""

    work: frozenset[int]
    browsers: frozenset[int]

    def describe(self) -> str:
        return f"server and searches on CPU {cpu_list(self.work)}, " \
               f"Chromium on CPU {cpu_list(self.browsers)}"


def split_cpus(cpus: Iterable[int]) -> CpuSplit | None:
    """The usable CPUs split in two: the lower half (the larger, when odd) for the server and
    the searches, the rest for the browsers; None when fewer than 2 (nothing to split).

    The server side gets the larger half because a search alone keeps about 1.4 cores busy.
    """
    ordered = sorted(set(cpus))
    if len(ordered) < 2:
        return None
    half = (len(ordered) + 1) // 2
    return CpuSplit(frozenset(ordered[:half]), frozenset(ordered[half:]))


def cpu_list(cpus: Iterable[int]) -> str:
    """CPUs in the kernel's list form (``Cpus_allowed_list``, taskset -c): "0", "0-3,6"."""
    ranges: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def parse_cpu_list(text: str) -> frozenset[int]:
    """The CPUs of a kernel CPU list such as "0-3,6" (empty text: none)."""
    cpus: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return frozenset(cpus)


def allowed_cpus(pid: int, proc: Path = Path("/proc")) -> dict[int, frozenset[int]]:
    """Thread id -> the CPUs it may run on, for every thread of ``pid`` (affinity is per
    thread: a thread started before its process was pinned keeps its own); empty when the
    process has ended."""
    found = {}
    for status in (proc / str(pid) / "task").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue  # the thread ended while we looked
        for line in text.splitlines():
            if line.startswith("Cpus_allowed_list:"):
                found[int(status.parent.name)] = parse_cpu_list(line.split(":", 1)[1])
    return found


def read_stats(proc: Path = Path("/proc")) -> dict[int, str]:
    """pid -> /proc/<pid>/stat text of every process readable now."""
    stats = {}
    for path in proc.glob("[0-9]*/stat"):
        try:
            stats[int(path.parent.name)] = path.read_text()
        except (OSError, ValueError):
            continue  # the process ended while we looked
    return stats


def log_events(records: Iterable[dict[str, Any]]) -> dict[str, list[float]]:
    """The times of the k-th ``epoch_end`` ("points") and completed ``trial_end``
    ("completed") events of a trial log, in order. ``records``: the run's events as
    ``RunDir.reader()`` read them (a torn last line is not one of them)."""
    events: dict[str, list[float]] = {"completed": [], "points": []}
    for record in records:
        if record.get("event") == "epoch_end":
            events["points"].append(float(record["time"]))
        elif record.get("event") == "trial_end" and record.get("status") == "completed":
            events["completed"].append(float(record["time"]))
    return events


def latencies(events: dict[str, list[float]],
              seen: list[tuple[float, int, int]]) -> tuple[list[float], int]:
    """Seconds from each logged event to the page's first showing of it, and how many it never
    showed. ``seen``: (Date.now() ms, completed, points) rows, growing. Events logged before
    the page first showed the Monitor's counts are not the page's to show late, so skipped."""
    shown = [(t / 1000, c, p) for t, c, p in seen if c >= 0 and p >= 0]
    if not shown:
        return [], sum(len(times) for times in events.values())
    first = shown[0][0]
    found, missed = [], 0
    for key, column in (("completed", 1), ("points", 2)):
        for k, logged in enumerate(events[key], start=1):
            if logged < first:
                continue
            when = next((row[0] for row in shown if row[column] >= k), None)
            if when is None:
                missed += 1
            else:
                found.append(max(0.0, when - logged))
    return found, missed


COMPLETED = re.compile(r'data-metric="Completed">.*?<div class="live-value">(\d+)<')


def payload_counts(body: bytes | str) -> tuple[int, int]:
    """(completed trials, learning-curve points) a Monitor feed payload carries: the
    "Completed" metric of its status part and the finite x values of the curves' first trace,
    as the page would show them (-1: not there)."""
    data = json.loads(body)
    found = COMPLETED.search(data.get("parts", {}).get("status", ["", ""])[1])
    figure = data.get("figures", {}).get("monitor_learning_curves", ["", {}])[1]
    traces = figure.get("data") or []
    x = traces[0].get("x") if traces else None
    points = sum(1 for v in x if isinstance(v, (int, float)) and math.isfinite(v)) \
        if isinstance(x, list) else -1
    return (int(found.group(1)) if found else -1), points


def ratio_summary(alone: list[float], watched: list[float]) -> tuple[list[float], float, float,
                                                                     float]:
    """Per-pair ratios watched / alone, their median, min and max."""
    if len(alone) != len(watched) or not alone:
        raise ValueError(f"expected as many watched as unwatched searches (at least one); "
                         f"got {len(watched)} and {len(alone)}")
    ratios = [w / a for a, w in zip(alone, watched, strict=True)]
    return ratios, median(ratios), min(ratios), max(ratios)


def order(pairs: int) -> list[tuple[int, bool]]:
    """(pair, with viewers?) in run order: none first in even pairs, viewers first in odd."""
    return [(i, v) for i in range(pairs) for v in ((False, True) if i % 2 == 0 else (True, False))]


@dataclass
class Condition:
    """One search, watched by ``viewers`` pages (0: none), and what it cost whom."""

    pair: int
    viewers: int
    span_s: float = 0.0  # search_start -> search_end in its log
    wall_s: float = 0.0  # the search process, start to exit
    search_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    browser_cpu_s: float = 0.0
    window_s: float = 0.0  # the CPU readings' interval
    viewing_s: float = 0.0  # pages open, first opened to last closed
    latencies: list[float] = field(default_factory=list)  # until the page showed it
    missed: int = 0
    arrivals: list[float] = field(default_factory=list)  # until its payload reached the browser
    unarrived: int = 0
    checked: int = 0  # processes whose threads' CPU lists were read and matched their side's
    renderers: int = 0  # of which Chromium renderers (--type=renderer), the most at one check
    moved: int = 0  # browser-side threads found off the browsers' CPUs and moved back


def per_viewer_minute(watched: Condition, alone: Condition, kind: str) -> float:
    """Extra CPU seconds (``kind``: "server" or "browser") per viewer-minute of a pair: the
    watched search's CPU less the unwatched one's rate over the same interval."""
    rate = getattr(alone, f"{kind}_cpu_s") / alone.window_s
    extra = getattr(watched, f"{kind}_cpu_s") - rate * watched.window_s
    return extra / (watched.viewers * watched.viewing_s / 60)
