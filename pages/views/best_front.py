"""Choose by cost on the Best model and Compare pages: the Pareto chart, 'Retrain this
trial' for any completed trial (a point clicked on the chart, or picked from the list), and
the limits rule ('the best trial under M ms and N parameters'). Named for its main page,
Best model; Compare draws :func:`compare_fronts`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from pages.common import auth, live, state
from tuning_core.analysis.compare import Comparison
from tuning_core.analysis.pareto import (
    AXES,
    Limits,
    combined_trials,
    front_frame,
    listed_trials,
    pick_within,
)
from tuning_core.analysis.pareto_chart import frame_figure
from tuning_core.lab.permissions import Action
from tuning_core.runs.rundir import RunDir

AXIS_LABELS = {"latency": "CPU latency", "params": "Parameters"}
_PICK = "front.trial"


def axis_choice(key: str) -> str:
    """The cost axis the user chose (latency or parameters)."""
    return st.radio("Cost", list(AXIS_LABELS), format_func=AXIS_LABELS.get, horizontal=True,
                    key=key)


def clicked_trial(event: object) -> tuple[str, str] | None:
    """(run, trial id) of the point selected on a Pareto chart, or None."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    data = points[0].get("customdata") if points else None
    return (str(data[0]), str(data[1])) if data else None


def front_chart(frame: pd.DataFrame, objective: str, axis: str, key: str) -> tuple | None:
    """Draw the chart (points selectable); returns the clicked (run, trial id), if any."""
    event = st.plotly_chart(frame_figure(frame, objective, axis), key=key, width="stretch",
                            on_select="rerun", selection_mode="points")
    return clicked_trial(event)


def choose_by_cost(run_dir: Path, trials: pd.DataFrame, objective: str, direction: str) -> None:
    """The Best page's section: the run's front, retrain a chosen trial, or the best within
    limits. Nothing here while no trial has a measured cost."""
    st.subheader("Choose by cost")
    if "latency_ms" not in trials or trials["latency_ms"].isna().all():
        st.caption("No trial has a measured cost yet (each completed trial is measured "
                   "after it ends; `python -m tuning_core cost RUN_DIR` measures older runs).")
        return
    axis = axis_choice("best_front_axis")
    frame = front_frame(trials, direction, AXES[axis])
    clicked = front_chart(frame, objective, axis, "best_front")
    if clicked and st.session_state.get(_PICK + ".clicked") != clicked[1]:
        st.session_state[_PICK + ".clicked"] = st.session_state[_PICK] = clicked[1]
    _retrain_picked(run_dir, frame, objective, direction)
    _retrain_within(run_dir, trials, objective, direction)


def _retrain_picked(run_dir: Path, frame: pd.DataFrame, objective: str,
                    direction: str) -> None:
    ids = listed_trials(frame, direction, st.session_state.get(_PICK))
    rows = frame.assign(trial_id=frame["trial_id"].astype(str)).set_index("trial_id")
    listed = rows.loc[[i for i in ids if i in rows.index]].to_dict("index")  # one pass
    labels = {t: _label(row, objective) for t, row in listed.items()}
    if st.session_state.get(_PICK) not in ids:
        st.session_state[_PICK] = ids[0]
    left, right = st.columns([3, 1])
    trial = left.selectbox("Trial to retrain (click a point, or pick)", ids, key=_PICK,
                           format_func=lambda t: labels.get(t, f"trial {t}"))
    if len(frame) > len(ids):
        left.caption(f"The list holds the front and the best by {objective} "
                     f"({len(ids):,} of {len(frame):,} trials); click a point for another.")
    refused = _refused(run_dir)
    if right.button("Retrain this trial", disabled=bool(refused), help=refused,
                    key="front_retrain"):
        _start(run_dir, trial)


def _retrain_within(run_dir: Path, trials: pd.DataFrame, objective: str, direction: str) -> None:
    left, middle, right = st.columns([2, 2, 2])
    max_ms = left.number_input("At most ms per image (0: no limit)", 0.0, 1e6, step=1.0,
                               key=state.widget("front.max_ms", 0.0))
    max_params = middle.number_input("At most parameters (0: no limit)", 0, 10**10,
                                     step=10_000, key=state.widget("front.max_params", 0))
    limits = Limits(max_ms=max_ms or None, max_params=int(max_params) or None)
    refused = _refused(run_dir)
    if right.button("Retrain the best within limits", disabled=not limits.any or bool(refused),
                    help=refused or "Set a limit first." if not limits.any or refused else None):
        with state.engine_errors():
            choice = pick_within(trials, direction, objective, limits)
            st.session_state["front.choice"] = choice.describe()
            _start(run_dir, choice.chosen.trial_id)
    if st.session_state.get("front.choice"):
        st.info(st.session_state["front.choice"])


def _label(row: dict[str, Any], objective: str) -> str:
    star = " · on the front" if row["on_front"] else ""
    column = next(c for c in row if c not in ("run", "number", "score", "on_front"))
    value = row[column]
    shown = f"{value:.2f} ms" if column == "latency_ms" else f"{int(value):,} parameters"
    return f"trial {row['number']} ({objective} {row['score']:.4f}, {shown}){star}"


def _refused(run_dir: Path) -> str | None:
    return auth.refused(Action.RETRAIN, state.run_owner(run_dir))


def _start(run_dir: Path, trial_id: str) -> None:
    busy = live.slot_holder() is not None
    with state.engine_errors():
        epochs = int(st.session_state.get(state.widget("best.epochs", 30)) or 30)
        state.registry().start_retrain(run_dir, epochs=epochs, trial_id=trial_id,
                                       actor=auth.actor())
        st.toast("Queued: starts when the machine is free." if busy else
                 f"Retraining trial {trial_id}.")
        st.rerun()


def compare_fronts(result: Comparison, runs: list[RunDir]) -> None:
    """Compare's section: one front over the trials of the runs that share the first run's
    objective; a clicked point can be retrained in its run."""
    comparable = [(s, run) for s, run in zip(result.runs, runs, strict=False) if s.comparable]
    tables = {s.label: run.reader().trials() for s, run in comparable}
    st.subheader("Objective against cost")
    axis = axis_choice("compare_front_axis")
    frame = front_frame(combined_trials(tables), result.runs[0].direction, AXES[axis])
    clicked = front_chart(frame, result.objective, axis, "compare_front")
    if frame.empty:
        return
    st.caption("The front over all these runs' trials: no trial of any run is both better "
               "and cheaper. Click a point to retrain that trial in its run.")
    run = {s.label: run for s, run in comparable}.get(clicked[0]) if clicked else None
    if run is not None:
        refused = _refused(run.path)
        if st.button(f"Retrain trial {clicked[1]} of {clicked[0]}", disabled=bool(refused),
                     help=refused, key="compare_retrain"):
            _start(run.path, clicked[1])
