"""Figure 16's arithmetic: a process's CPU seconds from its ``/proc/<pid>/stat`` line, the
seconds from a search's launch until every agent's worker trains, and the summary of repeats
(trials per hour and its ratio to 1 agent, the chief's CPU per trial) as medians and spread.

Pure, so tests/bench/test_fig16.py checks it without namespaces; the processes are in
:mod:`bench.workers.agent_runs`, the figure in :mod:`bench.figures.fig16_agents`.
"""

from __future__ import annotations

import os
from typing import Any

from bench.workers.events import spread

AGENT_COUNTS = (1, 2, 3)


def cpu_seconds(stat_line: str, ticks: int | None = None) -> dict[str, float]:
    """User + system seconds of a process (``own``) and of its reaped children
    (``children``) from its ``/proc/<pid>/stat`` line.

    The command name (field 2) may hold spaces and parentheses, so fields are counted from
    its last ``)``: utime, stime, cutime, cstime are fields 14 to 17 (proc(5)).
    """
    ticks = ticks or os.sysconf("SC_CLK_TCK")
    fields = stat_line[stat_line.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return {"own": (utime + stime) / ticks, "children": (cutime + cstime) / ticks}


def agent_of(worker: str | None) -> str | None:
    """The agent a worker belongs to: an agent names its workers ``<agent>-<slot>``."""
    return worker.rsplit("-", 1)[0] if worker and "-" in worker else None


def first_starts(events: list[dict]) -> dict[str, float]:
    """Each agent's first ``trial_start`` time (events tagged with their worker, as
    :func:`bench.workers.events.read_events` tags them)."""
    first: dict[str, float] = {}
    for e in events:
        agent = agent_of(e.get("worker"))
        if e["event"] == "trial_start" and agent and agent not in first:
            first[agent] = e["time"]
    return first


def to_all_training(events: list[dict], launch: float, agents: int) -> float | None:
    """Seconds from ``launch`` until ``agents`` distinct agents had each started a trial;
    None when fewer ever did."""
    starts = sorted(first_starts(events).values())
    return starts[agents - 1] - launch if len(starts) >= agents else None


def first_all_busy(samples: list[tuple[float, int]], launch: float, agents: int) -> float | None:
    """From polled (time, agents whose worker lock names a trial) samples: seconds from
    ``launch`` to the first sample with all ``agents`` busy; None when none had."""
    return next((t - launch for t, busy in samples if busy >= agents), None)


def ratios_to_one(runs: list[dict]) -> dict[int, list[float]]:
    """Trials per hour with N agents over 1 agent's of the same repeat (the load of the
    moment is shared within a repeat, not across repeats)."""
    one = {r["repeat"]: r["per_hour"] for r in runs if r["agents"] == 1 and r["per_hour"]}
    return {n: [r["per_hour"] / one[r["repeat"]] for r in runs
                if r["agents"] == n and r["repeat"] in one] for n in AGENT_COUNTS}


def summarise(runs: list[dict]) -> list[dict[str, Any]]:
    """One row per agent count: medians (min-max) over the repeats."""
    ratios, rows = ratios_to_one(runs), []
    for n in AGENT_COUNTS:
        mine = [r for r in runs if r["agents"] == n]
        if not mine:
            continue
        rows.append({"agents": n, "repeats": len(mine),
                     "trials/h": spread(_pick(mine, "per_hour"), 0),
                     "steady trials/h": spread(_pick(mine, "steady_per_hour"), 0),
                     "vs 1 agent": spread(ratios[n], 2),
                     "chief CPU s/trial": spread(_pick(mine, "chief_cpu_per_trial"), 3),
                     "after start-up": spread(_pick(mine, "chief_cpu_after_start"), 3),
                     "chief start-up CPU s": spread(_pick(mine, "chief_startup_cpu_s"), 2),
                     "launch -> all training s": spread(_pick(mine, "to_all_s"), 1),
                     "(worker locks) s": spread(_pick(mine, "to_all_locks_s"), 1),
                     "trial s": spread(_pick(mine, "trial_median_s"), 2)})
    return rows


def _pick(runs: list[dict], key: str) -> list[float]:
    return [r[key] for r in runs if r.get(key) is not None]
