"""Figure 5: peak resident memory after trial 20 against after trial 2 of one search."""

from __future__ import annotations

from bench.common import FigureResult
from bench.growth import sampled_search

GOAL = "peak RSS after the last trial / after trial 2 <= 1.10"


def measure(quick: bool) -> FigureResult:
    samples = sampled_search(quick)
    rss, n = samples.peak_rss_mb, samples.trials
    ratio = rss[n] / rss[2]
    rows = [{"after trial": k, "peak RSS MiB": round(v, 1)} for k, v in sorted(rss.items())
            if k in (1, 2, 5, 10, 15, n)]
    notes = [f"the search of figure 4 ({samples.settings}), in one process; VmHWM read as "
             "each trial ends."]
    return FigureResult(5, "Memory", GOAL, f"ratio {ratio:.3f} ({rss[n]:.0f} vs "
                        f"{rss[2]:.0f} MiB)", met=ratio <= 1.10, rows=rows, notes=notes)
