"""Figure 2: seconds per trial through the job runner against a plain ``model.fit``.

The same fixed model, the same cached tensors and epochs. A runner trial is the time between
consecutive trial ends (oracle, build, fit, checkpoint, log, pruning: everything a trial
costs); a plain trial is build + compile + fit. Plain fits run before and after the search,
so drift on a shared machine falls on both sides.
"""

from __future__ import annotations

from bench.harness.common import OUT, FigureResult, fresh_dir, median
from bench.workloads import fixed_model as fm

GOAL = "runner / plain seconds per trial <= 1.10"
FULL = {"trials": 7, "epochs": 5, "fits": 3}
QUICK = {"trials": 3, "epochs": 2, "fits": 2}


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    work = fresh_dir(OUT / "fig2")
    prepared = fm.prepare(fm.fixed_config(s["trials"], s["epochs"]), work / "plain")
    fm.plain_fit(prepared, 1)  # warm-up: first graph tracing
    plain = [fm.plain_fit(prepared, s["epochs"]) for _ in range(s["fits"])]
    _, run_dir = fm.job_search(work / "runs", s["trials"], s["epochs"])
    plain += [fm.plain_fit(prepared, s["epochs"]) for _ in range(s["fits"])]
    cycles = fm.trial_cycle_seconds(run_dir)
    runner, fit = median(cycles), median(plain)
    ratio = runner / fit
    rows = [{"way": "job runner (s per trial)", "median s": round(runner, 3),
             "samples": ", ".join(f"{c:.2f}" for c in cycles)},
            {"way": "plain model.fit (s per fit)", "median s": round(fit, 3),
             "samples": ", ".join(f"{p:.2f}" for p in plain)}]
    notes = [f"fixed model (2 conv blocks x 32 filters, dense 64), 32 px grayscale digits, "
             f"{s['epochs']} epochs per trial; {len(cycles)} runner trial cycles, "
             f"{len(plain)} plain fits."]
    return FigureResult(2, "Trial overhead", GOAL, f"ratio {ratio:.2f} ({runner:.2f} s vs "
                        f"{fit:.2f} s per trial)", met=ratio <= 1.10, rows=rows, notes=notes)
