"""Figure 10: distributed workers: trials per hour with 1 and 2 local workers, the chief's
overhead per trial, and a worker killed mid-search.

Each search is a real ``python -m tuning_core search`` process (random tuner, the 'small'
preset, digits at 16 px, a private workspace and slot folder), alternating the plain search,
``--workers 1`` and ``--workers 2``; its numbers come from the run's logs (``trials.jsonl``
and each worker's ``trials-<id>.jsonl``). The arithmetic is in :mod:`bench.workers.events`
(tests/bench/test_fig10.py); the processes are in :mod:`bench.workers.runs`.
"""

from __future__ import annotations

from bench.harness.common import FigureResult, median
from bench.workers.events import WAYS, chief_overhead, spread

GOAL = ("measure: trials per hour with 1 and 2 local workers (same-run ratio), the chief's "
        "overhead per trial; a worker killed mid-trial loses no trial and is noticed in seconds")
FULL = {"repeats": 3, "max_trials": 16, "epochs": 2, "fault_trials": 8, "fault_epochs": 6}
QUICK = {"repeats": 1, "max_trials": 6, "epochs": 2, "fault_trials": 6, "fault_epochs": 6}
SEED = 10


# --- the figure -------------------------------------------------------------------------------
def measure(quick: bool) -> FigureResult:
    from bench.workers.runs import measure_runs

    s = QUICK if quick else FULL
    runs, fault, load = measure_runs(s, SEED)
    by_way = {w: [r for r in runs if r["way"] == w] for w in WAYS}
    rates = {w: [r["per_hour"] for r in by_way[w]] for w in WAYS}
    pairs = list(zip(by_way["1 worker"], by_way["2 workers"], strict=False))
    ratios = [two["per_hour"] / one["per_hour"] for one, two in pairs
              if one["per_hour"] and two["per_hour"]]
    steady = [two["steady_per_hour"] / one["steady_per_hour"] for one, two in pairs
              if one["steady_per_hour"] and two["steady_per_hour"]]
    vs_plain = [one["per_hour"] / plain["per_hour"]
                for one, plain in zip(by_way["1 worker"], by_way["plain"], strict=False)
                if plain["per_hour"]]
    overhead = [chief_overhead(one["events"], plain["events"])
                for one, plain in zip(by_way["1 worker"], by_way["plain"], strict=False)]
    gap_over = [o["gap_s"] for o in overhead]
    span_over = [o["span_per_trial_s"] for o in overhead]
    start_over = [o["startup_s"] for o in overhead]
    trial_over = [o["per_trial_s"] for o in overhead]
    rows = [{"repeat": r["repeat"], "way": r["way"], "trials": r["trials"],
             "span s": round(r["span_s"], 1), "process s": round(r["process_s"], 1),
             "start-up s": round(r["startup_s"], 1), "trials/h": round(r["per_hour"]),
             "steady trials/h": round(r["steady_per_hour"]),
             "trial s (median)": round(median(r["trial_s"]), 2) if r["trial_s"] else "-",
             "between trials s (median)": round(median(r["gaps"]), 2) if r["gaps"] else "-",
             "load 1-min": r["load"]} for r in runs]
    ok = fault.get("trials_lost") == 0 and fault.get("duplicates") == 0 \
        and fault.get("finished") and fault.get("notice_s") is not None
    value = (f"2 workers / 1 worker {spread(ratios, 2)} trials per hour "
             f"({spread(rates['2 workers'], 0)} vs {spread(rates['1 worker'], 0)}; plain "
             f"{spread(rates['plain'], 0)}), steady (after start-up) {spread(steady, 2)}; "
             f"1 worker / plain {spread(vs_plain, 2)}; chief overhead {spread(start_over, 1)} s "
             f"start-up + {spread(trial_over, 2)} s per trial (between-trials gap "
             f"{spread(gap_over, 3)} s); kill -9 of a worker: noticed "
             f"in {fault.get('notice_s') or float('nan'):.1f} s, {fault.get('trials_lost')} "
             f"trials lost, {fault.get('duplicates')} duplicates, "
             f"{fault.get('ended')}/{fault.get('max_trials')} trials")
    notes = [f"settings: {s}, seed {SEED}; digits, 'small' preset, 16 px, random tuner; each "
             "search a `python -m tuning_core search` process with a private TUNING_WORKSPACE "
             "and TUNING_SLOT_DIR, chief on 127.0.0.1; plain, 1 worker and 2 workers "
             "alternated (the order rotates each repeat).",
             "trials/h: completed trials / (first search_start -> last trial_end), so the "
             "chief's and the workers' start-up count; steady: (n-1) / (first -> last "
             "trial_end). trial s: trial_end's own seconds (build + fit). between trials: a "
             "worker's trial_end to its next trial_start.",
             "chief overhead, 1-worker search against the plain one of the same repeat: "
             "start-up = the difference in search_start -> first trial_start (the chief's "
             "oracle, then a worker process importing TensorFlow and connecting); per trial = "
             "the difference in (span - start-up) / trials; gap = the difference in median "
             "trial_end -> next trial_start of one worker. Whole span per trial, start-up "
             f"included: {spread(span_over, 2)} s.",
             f"2 local workers on this 2-core machine each get one core (--cpus); 1 worker "
             f"gets both; load average (1 min) during the figure: {spread(load, 2)}.",
             f"fault: 2 workers, {s['fault_trials']} trials x {s['fault_epochs']} epochs; "
             f"{fault.get('killed_worker')} killed (kill -9, its process only) "
             f"{fault.get('moment', '?')}, on trial {fault.get('killed_trial')}; the chief "
             f"logged trial_lost for {fault.get('noticed_worker')} "
             f"{round(fault.get('notice_s') or -1, 2)} s "
             f"later; the trial ran again on {fault.get('rerun_by')}; search "
             f"{fault.get('status')}; KerasTuner completed {fault.get('kt_completed')} trials, "
             "each checked for exactly one completed trial_end in the merged log "
             "(RunDir(run).reader()).",
             "no GPU machine was lent to this task: no 1-GPU figure."]
    notes += [f"problem: {p}" for p in fault.get("problems", [])]
    return FigureResult(10, "Distributed workers", GOAL, value, met=None if ok else False,
                        rows=rows, notes=notes)
