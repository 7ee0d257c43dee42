"""Figure 16 (figure 10 grown, issue 28): lab agents across network namespaces: trials per
hour with 1, 2 and 3 agents, the chief's CPU per trial, the seconds from a search's launch
to every agent training, and the seconds to notice a dropped link.

Each agent runs in a network namespace of its own and the chief in one more, joined by veth
pairs (:class:`bench.harness.netns.Lab`, the lab of tests/distributed/test_netns.py), so the
oracle's traffic crosses real interfaces, not loopback. Figure 10 measures local workers on
one loopback interface; this one what a lab adds. It needs root (``ip netns``); the machine's
cores are shared by every agent, so the ratios say what the chief and the network cost, not
what 3 machines would give. The arithmetic is :mod:`bench.workers.agent_stats`
(tests/bench/test_fig16.py); the processes :mod:`bench.workers.agent_runs`.
"""

from __future__ import annotations

import os

from bench.harness.common import FigureResult
from bench.workers.agent_stats import ratios_to_one, summarise
from bench.workers.events import spread

GOAL = ("measure: trials per hour with 1, 2 and 3 agents in network namespaces of their own "
        "(ratio to 1 agent, same repeat), the chief's CPU per trial, launch to every agent "
        "training; a link cut mid-trial is noticed (trial_lost) and the trial ends once")
FULL = {"repeats": 3, "max_trials": 6, "epochs": 1, "order": (1, 2, 3), "cut_trials": 4,
        "cut_epochs": 3, "cut_after_s": 2.0}
QUICK = {"repeats": 1, "max_trials": 3, "epochs": 1, "order": (1, 2, 3), "cut_trials": 3,
         "cut_epochs": 2, "cut_after_s": 1.0}
SEED = 16


def measure(quick: bool) -> FigureResult:
    from bench.workers.agent_runs import measure_agents

    s = QUICK if quick else FULL
    runs, cut = measure_agents(s, SEED)
    ratios = ratios_to_one(runs)
    per_trial = [r["chief_cpu_per_trial"] for r in runs if r["chief_cpu_per_trial"]]
    after = [r["chief_cpu_after_start"] for r in runs if r["chief_cpu_after_start"] is not None]
    ok = (not cut["problems"] and cut.get("notice_s") is not None
          and cut.get("trials_lost") == 0 and cut.get("duplicates") == 0
          and cut.get("ended") == cut.get("trials") and cut.get("status") == "finished")
    value = (f"vs 1 agent: 2 agents {spread(ratios[2], 2)}, 3 agents {spread(ratios[3], 2)} "
             f"trials per hour (2 cores shared); chief CPU {spread(per_trial, 3)} s per trial "
             f"({spread(after, 3)} after its start-up); "
             f"launch to all training {_to_all(runs)}; link cut noticed in "
             f"{cut.get('notice_s') or float('nan'):.1f} s, {cut.get('ended')}/"
             f"{cut.get('trials')} trials ended once")
    rows = [*summarise(runs), *_run_rows(runs)]
    return FigureResult(16, "Agents across namespaces", GOAL, value,
                        met=None if ok else False, rows=rows, notes=_notes(s, runs, cut))


def _to_all(runs: list[dict]) -> str:
    by = {n: [r["to_all_s"] for r in runs if r["agents"] == n and r["to_all_s"] is not None]
          for n in (1, 2, 3)}
    return ", ".join(f"{n}: {spread(values, 1)} s" for n, values in by.items())


def _run_rows(runs: list[dict]) -> list[dict]:
    return [{"agents": r["agents"], "repeats": f"repeat {r['repeat']}",
             "trials/h": round(r["per_hour"]), "steady trials/h": round(r["steady_per_hour"]),
             "vs 1 agent": "",
             "chief CPU s/trial": round(r["chief_cpu_per_trial"] or 0, 3),
             "after start-up": _round(r["chief_cpu_after_start"], 3),
             "chief start-up CPU s": _round(r["chief_startup_cpu_s"], 2),
             "launch -> all training s": _round(r["to_all_s"]),
             "(worker locks) s": _round(r["to_all_locks_s"]),
             "trial s": _round(r["trial_median_s"], 2)} for r in runs]


def _round(value: float | None, digits: int = 1) -> float | str:
    return "-" if value is None else round(value, digits)


def _notes(s: dict, runs: list[dict], cut: dict) -> list[str]:
    load = [r["load"] for r in runs]
    notes = [f"settings: {s}, seed {SEED}; digits, 'small' preset, 16 px, random tuner; one "
             "lab of 4 namespaces (chief + 3 agents, veth pairs, 10.228.<i>.0/24), the 3 "
             "agents (`agent --max-workers 1 --gpus none`) started once; each search is "
             "`search --agents N` in the chief's namespace (oracle_public, oracle_address "
             "the hub's), 1, 2, 3 agents in an order rotating each repeat.",
             f"machine: {os.cpu_count()} cores shared by every agent's worker and the chief: "
             "3 agents do not get 3x the CPU; the ratios say what the chief and the network "
             "cost as agents are added, not a 3-machine lab's speed. 1-min load "
             f"{spread(load, 2)}.",
             "trials/h: completed trials / (search_start -> last trial_end), worker start-up "
             "included; steady: (n-1) / (first -> last trial_end), after every start-up. "
             "chief CPU: utime+stime of the chief's own process from "
             "/proc/<pid>/stat, read after it exited and before it was reaped (waitid "
             "WNOWAIT), over completed trials; its reaped children's: "
             f"{spread([r['chief_children_cpu_s'] for r in runs], 2)} s a search. 'after "
             "start-up': its CPU from the first poll with a worker lock naming a trial to its "
             "exit, over completed trials; 'start-up CPU': up to that poll (imports, data "
             f"scan, oracle). Chief process: {sorted({r['chief'] for r in runs})} (ip netns "
             "exec execs it, so the pid measured is the chief's).",
             "launch -> all training: time.time() before the chief's Popen to the N-th "
             "agent's first trial_start in its worker's log; '(worker locks)': the same to "
             "the first 0.1 s poll of the run's worker locks naming a trial on all N agents.",
             f"link cut: a {s['cut_trials']}-trial x {s['cut_epochs']}-epoch search on 2 "
             f"agents; {s['cut_after_s']} s after worker {cut.get('cut_worker')} took trial "
             f"{cut.get('cut_trial')}, its agent's veth (hub end) set down; the chief logged "
             f"trial_lost {_round(cut.get('notice_s'), 2)} s later (the worker's "
             f"LINK_TIMEOUT_S is {cut.get('link_timeout_s')} s); the link was up again "
             f"{_round(cut.get('down_s'), 1)} s after the cut; the trial ran again on "
             f"{cut.get('rerun_by')}; {cut.get('trials_lost')} trials lost, "
             f"{cut.get('duplicates')} ended twice, search {cut.get('status')}; agents "
             f"exited {cut.get('agent_exit_codes')}."]
    return notes + [f"problem: {p}" for p in cut.get("problems", [])]
