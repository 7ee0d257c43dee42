"""Presentation helpers of the Compare page: the default pick, scores, settings, charts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common.live_chart import live_chart
from tuning_core.analysis import charts
from tuning_core.analysis.compare import Comparison
from tuning_core.core.states import Direction


def default_pick(names: list[str], current: Path | None) -> list[str]:
    """The current run and the newest other one (``names`` newest first)."""
    first = current.name if current is not None and current.name in names else names[0]
    others = [n for n in names if n != first]
    return [first, *others[:1]]


def show_scores(result: Comparison) -> None:
    """Each run's best score and objective; a warning when objectives differ."""
    if result.mixed_objectives:
        others = ", ".join(r.label for r in result.runs if not r.comparable)
        st.warning(f"These runs optimised different objectives. The comparison uses "
                   f"{result.objective} (the first run's); {others} optimised another one, "
                   f"so their scores are not comparable and the objective chart leaves them "
                   f"out.")
    st.table(pd.DataFrame([{
        "run": r.label, "folder": r.run, "objective": r.objective,
        "better": Direction.of(r.direction).word,
        "best score": r.best_score, "best trial": r.best_number,
        "comparable": "yes" if r.comparable else f"no ({r.objective})",
        "test accuracy": r.test.value if r.test else None,
        "95% interval": _interval(r.test),
    } for r in result.runs]).style.format({"best score": "{:.4f}", "test accuracy": "{:.3f}"},
                                          na_rep="–"), hide_index=True)
    for run, reference, difference in result.test_differences():
        st.caption("Test accuracy: " + difference.describe((run.label, reference.label)))


def _interval(accuracy) -> str:
    if accuracy is None:
        return "–"
    low, high = accuracy.interval
    return f"{low:.3f}–{high:.3f} ({accuracy.total} images)"


def show_settings(result: Comparison) -> None:
    """The settings that differ, one column per run."""
    st.caption(f"{result.same_count} settings are the same in every run.")
    if not result.differing:
        st.info("Every setting is the same in these runs.")
        return
    st.table(pd.DataFrame(result.settings_rows()), hide_index=True)


def show_charts(result: Comparison) -> None:
    """Best-so-far per trial and the best trials' learning curves, every run on one chart
    (as live charts: a zoom stays while runs are picked, and each is drawn once a load)."""
    live_chart(charts.compare_objective_figure(result.runs, result.objective),
               "compare_objective")
    live_chart(charts.compare_curves_figure(result.runs, result.objective), "compare_curves")
