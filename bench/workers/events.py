"""Figure 10's arithmetic on a run's logs: trials per hour, seconds per trial, the gap between
trials, the chief's overhead and what a killed worker cost. Pure (tests/bench/test_fig10.py); the
figure is :mod:`bench.figures.fig10_workers`, its processes :mod:`bench.workers.runs`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness.common import median
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.triallog import TrialLogReader

WAYS = ("plain", "1 worker", "2 workers")


# --- reading the logs ---------------------------------------------------------------------
def read_events(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every event of the run's logs, each tagged with the worker whose log it came from
    (None for the run's own log: the chief's, or a plain search's), sorted by time.

    Each log is read alone (a reader of its own, the files RunDir names): a worker's
    trial_end does not name its worker, so only the file says whose it is; the merged
    ``RunDir.reader()`` would lose that. A torn last line is left out by the reader.
    """
    run = RunDir(run_dir)
    logs = {None: run.log_path, **run.worker_logs()}
    events = []
    # in file-name order, as the folder lists them: events at the same time keep one order
    for worker, path in sorted(logs.items(), key=lambda item: item[1].name):
        reader = TrialLogReader(path)
        reader.poll()
        for record in reader.events():
            record.setdefault("worker", worker)
            events.append(record)
    return sorted(events, key=lambda e: e.get("time") or 0.0)


def _completed_ends(events: list[dict]) -> list[dict]:
    return [e for e in events if e["event"] == "trial_end" and e.get("status") == "completed"]


# --- the arithmetic -------------------------------------------------------------------------
def throughput(events: list[dict]) -> dict[str, float]:
    """Completed trials, the span from the first search_start to the last trial_end, trials
    per hour over it, and the steady rate (between the first and the last trial_end)."""
    ends = _completed_ends(events)
    starts = [e["time"] for e in events if e["event"] == "search_start"]
    if not ends or not starts:
        return {"trials": len(ends), "span_s": 0.0, "startup_s": 0.0, "per_hour": 0.0,
                "steady_per_hour": 0.0}
    first, last = ends[0]["time"], ends[-1]["time"]
    span = last - starts[0]
    begun = [e["time"] for e in events if e["event"] == "trial_start"]
    steady = (len(ends) - 1) * 3600 / (last - first) if len(ends) > 1 and last > first else 0.0
    return {"trials": len(ends), "span_s": span, "startup_s": begun[0] - starts[0],
            "per_hour": len(ends) * 3600 / span, "steady_per_hour": steady}


def trial_seconds(events: list[dict]) -> list[float]:
    """Each completed trial's own seconds (its trial_end's ``seconds``: build + fit)."""
    return [float(e["seconds"]) for e in _completed_ends(events) if e.get("seconds") is not None]


def between_trials(events: list[dict]) -> list[float]:
    """Seconds from a trial's end to the next trial_start by the same worker (a plain
    search's own trials count as one worker): the cost between two trials."""
    gaps, last_end = [], {}
    for e in events:
        who = e.get("worker")
        if e["event"] == "trial_end" and e.get("status") == "completed":
            last_end[who] = e["time"]
        elif e["event"] == "trial_start" and who in last_end:
            gaps.append(e["time"] - last_end.pop(who))
    return gaps


def chief_overhead(one_worker: list[dict], plain: list[dict]) -> dict[str, float]:
    """The chief's cost against the plain search: the extra start-up (search_start to the
    first trial_start), the extra seconds per trial after it (span less start-up, per
    trial), the whole span per trial, and the 1-worker median gap between trials less the
    plain one's."""
    a, b = throughput(one_worker), throughput(plain)
    per = lambda t, key=None: ((t["span_s"] - (t[key] if key else 0.0)) / t["trials"]  # noqa: E731
                               if t["trials"] else 0.0)
    gap_a, gap_b = between_trials(one_worker), between_trials(plain)
    return {"gap_s": (median(gap_a) if gap_a else 0.0) - (median(gap_b) if gap_b else 0.0),
            "startup_s": a["startup_s"] - b["startup_s"],
            "per_trial_s": per(a, "startup_s") - per(b, "startup_s"),
            "span_per_trial_s": per(a) - per(b)}


def fault_outcome(events: list[dict], completed_ids: list[str], kill_time: float,
                  killed_worker: str, killed_trial: str) -> dict[str, Any]:
    """What a worker killed at ``kill_time`` cost: how long until the chief logged
    ``trial_lost`` for it, whether its trial ran again to completion, and the trials lost
    (KerasTuner completed them but the log has no completed end) or doubled (ended twice)."""
    lost = [e for e in events if e["event"] == "trial_lost" and e["time"] >= kill_time
            and str(e.get("trial_id")) == killed_trial]
    ends = Counter(str(e["trial_id"]) for e in _completed_ends(events))
    rerun = [e for e in _completed_ends(events) if str(e["trial_id"]) == killed_trial]
    return {"notice_s": lost[0]["time"] - kill_time if lost else None,
            "noticed_worker": lost[0].get("worker") if lost else None,
            "killed_worker": killed_worker,
            "rerun_by": rerun[0].get("worker") if rerun else None,
            "trials_lost": sum(1 for t in completed_ids if ends[str(t)] == 0),
            "duplicates": sum(1 for n in ends.values() if n > 1),
            "ended": len(ends)}


def spread(values: list[float], digits: int = 1) -> str:
    """'median (min-max)' of the values."""
    if not values:
        return "-"
    return (f"{median(values):.{digits}f} ({min(values):.{digits}f}-"
            f"{max(values):.{digits}f})")
