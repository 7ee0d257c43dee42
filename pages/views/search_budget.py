"""The time budget on the pages: the Search page's form and plan, and a fitted run's pace.

The planning itself is :mod:`tuning_core.analysis.planner`; this draws it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import auth, state
from pages.views.data_folder import scan_folder
from tuning_core.analysis.planner import SearchPlan, plan_for, run_pace
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig


def budget_form() -> float | None:
    """"Best model in about N minutes": the minutes, or None when not fitting to a budget."""
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    fit = left.checkbox("Fit to a time budget", key=state.widget("search.fit", False),
                        help="Chooses the image size (up to the data's own) and the number of "
                             "trials so that the search and the retrain of the best model take "
                             "about this long, from the data and the measured cost per image; "
                             "the search also ends on time. Overrides the image size, Max "
                             "trials and the time limit above (as `search --minutes N`).")
    minutes = right.number_input("Best model in about (minutes)", 1.0, 10_000.0, step=5.0,
                                 disabled=not fit, key=state.widget("search.fit_minutes", 15.0))
    return float(minutes) if fit else None


def fitted(config: RunConfig, minutes: float | None) -> RunConfig:
    """``config`` fitted to the budget (with the plan shown), or as it is."""
    if minutes is None or not config.data_dir:
        return config
    summary = scan_folder(config.data_dir, auth.actor().roots)
    plan = plan_for(config, minutes, summary)
    st.info(plan.describe())
    return plan.apply(config)


def plan_panel(run_dir: Path) -> None:
    """A run fitted to a time budget: its plan, and the measured pace against it."""
    run = RunDir(run_dir)
    plan = SearchPlan.from_dict(run.config().plan)
    if plan is None:
        return
    st.caption(f"Planned before launch: {plan.describe()}")
    report = run_pace(run)
    if report is not None:
        st.caption(f"Pace of this search: {report.describe()}")
