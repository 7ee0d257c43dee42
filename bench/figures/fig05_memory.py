"""Figure 5: peak resident memory after trial 20 against after trial 2 of one search.

The search trains the fixed model of figure 2 in every trial, so any growth is what the
runner (or KerasTuner, or TensorFlow) keeps from trial to trial, not a bigger model.
"""

from __future__ import annotations

from bench.harness.common import FigureResult
from bench.workloads import fixed_model as fm
from bench.workloads.growth import sampled_search

GOAL = "peak RSS after the last trial / after trial 2 <= 1.10"
FULL = {"trials": 20, "epochs": 1, "subset": 0.3}
QUICK = {"trials": 5, "epochs": 1, "subset": 0.2}


def measure(quick: bool) -> FigureResult:
    s = QUICK if quick else FULL
    samples = sampled_search(fm.fixed_config(s["trials"], s["epochs"], s["subset"]), "fig5")
    peak, now, n = samples.peak_rss_mb, samples.rss_mb, samples.trials
    ratio = peak[n] / peak[2]
    rows = [{"after trial": k, "peak RSS MiB": round(peak[k], 1), "RSS now MiB": round(now[k], 1)}
            for k in sorted(peak) if k in (1, 2, 3, 5, 10, 15, n)]
    notes = [f"fixed-model search {samples.settings} in one process; VmHWM and VmRSS read as "
             "each trial ends."]
    return FigureResult(5, "Memory", GOAL, f"ratio {ratio:.3f} ({peak[n]:.0f} vs "
                        f"{peak[2]:.0f} MiB)", met=ratio <= 1.10, rows=rows, notes=notes)
