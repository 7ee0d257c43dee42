"""Presentation helpers of the Monitor page: log snapshot, table, counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from tuning_core import charts
from tuning_core.diagnose import ChanceReport, run_chance_report
from tuning_core.importance import Importance, hp_columns, hp_importance, hp_name
from tuning_core.rundir import RunDir
from tuning_core.states import TrialStatus

STATES = tuple(s.value for s in TrialStatus)


def snapshot(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials and epochs tables of a run, from the process's one reader of its log."""
    reader = RunDir(run_dir).reader()
    return reader.trials(), reader.epochs()


def show_notes(run_dir: Path) -> None:
    """The run's name, tags and notes, under the page title (edited on the Runs page)."""
    run = RunDir(run_dir)
    notes = run.notes()
    st.subheader(run.display_name(notes))
    if notes.tags:
        st.caption("Tags: " + ", ".join(notes.tags))
    if notes.notes:
        st.markdown(notes.notes)


def completed_count(trials: pd.DataFrame) -> int:
    """How many trials completed."""
    return 0 if trials.empty else int((trials["status"] == "completed").sum())


@st.cache_data(max_entries=32, show_spinner=False)
def _importance(run: str, completed: int, _trials: pd.DataFrame) -> Importance:
    return hp_importance(_trials)


def importance(run_dir: Path, trials: pd.DataFrame) -> Importance:
    """Importance of the hyperparameters, recomputed only when another trial completes."""
    return _importance(str(run_dir), completed_count(trials), trials)


@st.cache_data(max_entries=32, show_spinner=False)
def _chance(run: str, completed: int) -> ChanceReport | None:
    return run_chance_report(RunDir(run))


def show_chance(run_dir: Path, trials: pd.DataFrame) -> None:
    """A warning when the completed trials sit at chance, with this run's likely causes.

    Checked again only when another trial completes.
    """
    report = _chance(str(run_dir), completed_count(trials))
    if report is not None:
        st.warning(report.describe(), icon="⚠️")


@st.cache_resource(max_entries=16, show_spinner=False)
def _figures(run: str, version: tuple, objective: str, _trials: pd.DataFrame,
             _epochs: pd.DataFrame) -> dict[str, go.Figure]:
    figures = charts.monitor_figures(_trials, _epochs, objective)
    figures["importance"] = charts.importance_figure(importance(Path(run), _trials))
    return figures


def figures(run_dir: Path, objective: str) -> tuple[pd.DataFrame, dict[str, go.Figure]]:
    """The run's trials and Monitor figures, built once per new log line for every viewer.

    Ten browsers on one run share one build (``cache_resource``: the same objects, no copy;
    ``st.plotly_chart`` only reads a figure), so a viewer costs the server its own redraw.
    """
    reader = RunDir(run_dir).reader()
    trials, epochs = reader.trials(), reader.epochs()
    return trials, _figures(str(run_dir), reader.version, objective, trials, epochs)


def state_counts(trials: pd.DataFrame) -> dict[str, int]:
    """Trials by state, every state listed (0 when none)."""
    counts = trials["status"].value_counts() if not trials.empty else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATES}


def show_counts(trials: pd.DataFrame, best: float | None, objective: str) -> None:
    """Counts of trials by state and the best score, as metrics."""
    cols = st.columns(len(STATES) + 1)
    for col, (state, count) in zip(cols, state_counts(trials).items()):
        col.metric(state.capitalize(), count)
    cols[-1].metric(f"Best {objective}", "–" if best is None else f"{best:.4f}")


def trial_table(trials: pd.DataFrame) -> pd.DataFrame:
    """The trial table for people: number, id, status, score, duration, epochs, error, the
    worker that ran it (distributed searches only), hps."""
    if trials.empty:
        return trials
    base = ["number", "trial_id", "status", "score", "seconds", "epochs", "error"]
    if "worker" in trials and trials["worker"].notna().any():
        base.insert(3, "worker")
    table = trials[base + hp_columns(trials)].rename(columns={c: hp_name(c)
                                                              for c in hp_columns(trials)})
    return table.sort_values("number", kind="stable")


def show_table(trials: pd.DataFrame) -> None:
    """A sortable trial table (click a column header to sort)."""
    st.dataframe(trial_table(trials), hide_index=True, width="stretch", column_config={
        "seconds": st.column_config.NumberColumn("duration (s)", format="%.1f"),
        "score": st.column_config.NumberColumn(format="%.4f"),
        "error": st.column_config.TextColumn(width="large"),
    }, key="monitor_table")
