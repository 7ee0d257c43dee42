"""Figure 3: a search through the job registry (trial log, callbacks) against a bare one.

Both sides search the same fixed model on the same cache with KerasTuner's RandomSearch.
The bare side calls ``tuner.search`` with no hooks; ours runs the registry's search and is
timed from its ``search_start`` to its ``search_end`` (decode left out, like the bare side).
Runs alternate, and the figure is the median of the per-pair ratios.
"""

from __future__ import annotations

from bench.harness.common import OUT, FigureResult, fresh_dir, median
from bench.workloads import fixed_model as fm
from tuning_core.runs.rundir import RunDir

GOAL = "registry search / bare search <= 1.03"
FULL = {"trials": 3, "epochs": 3, "pairs": 5}
QUICK = {"trials": 2, "epochs": 1, "pairs": 1}


def _ours(work, trials: int, epochs: int) -> float:
    _, run_dir = fm.job_search(work, trials, epochs)
    events = RunDir(run_dir).reader().events()
    start = next(e["time"] for e in events if e["event"] == "search_start")
    end = next(e["time"] for e in reversed(events) if e["event"] == "search_end")
    return end - start


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    work = fresh_dir(OUT / "fig3")
    prepared = fm.prepare(fm.fixed_config(s["trials"], s["epochs"]), work / "bare")
    fm.plain_search(prepared, work / "warm", 1, 1)  # warm-up: first graph tracing
    bare, ours = [], []
    for i in range(s["pairs"]):
        bare.append(fm.plain_search(prepared, work / f"bare{i}", s["trials"], s["epochs"]))
        ours.append(_ours(fresh_dir(work / f"runs{i}"), s["trials"], s["epochs"]))
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    ratio = median(ratios)
    rows = [{"pair": i + 1, "bare s": round(b, 2), "registry s": round(o, 2),
             "ratio": round(r, 3)}
            for i, (b, o, r) in enumerate(zip(bare, ours, ratios, strict=True))]
    notes = [f"{s['trials']} trials x {s['epochs']} epochs of the fixed model per search, "
             f"{s['pairs']} alternating pairs; median of per-pair ratios."]
    return FigureResult(3, "Monitoring overhead", GOAL, f"ratio {ratio:.3f} (median of "
                        f"{len(ratios)} pairs)", met=ratio <= 1.03, rows=rows, notes=notes)
