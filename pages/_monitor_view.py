"""Presentation helpers of the Monitor page: shared incremental log readers, table, counts."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import streamlit as st

from tuning_core.importance import Importance, hp_columns, hp_importance, hp_name
from tuning_core.triallog import LOG_NAME, TrialLogReader

STATES = ("completed", "running", "failed", "stopped")


class SharedLog:
    """One incremental reader per trial log, shared by every browser session (hence the lock)."""

    def __init__(self, path: Path) -> None:
        self._reader = TrialLogReader(path)
        self._lock = threading.Lock()

    def snapshot(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Read what was appended since the last poll; the trials and epochs tables."""
        with self._lock:
            self._reader.poll()
            return self._reader.trials(), self._reader.epochs()


@st.cache_resource(max_entries=16, show_spinner=False)
def _shared_log(path: str) -> SharedLog:
    return SharedLog(Path(path))


def shared_log(run_dir: Path) -> SharedLog:
    """The process-wide reader of ``run_dir``'s trial log."""
    return _shared_log(str(run_dir / LOG_NAME))


def completed_count(trials: pd.DataFrame) -> int:
    """How many trials completed."""
    return 0 if trials.empty else int((trials["status"] == "completed").sum())


@st.cache_data(max_entries=32, show_spinner=False)
def _importance(run: str, completed: int, _trials: pd.DataFrame) -> Importance:
    return hp_importance(_trials)


def importance(run_dir: Path, trials: pd.DataFrame) -> Importance:
    """Importance of the hyperparameters, recomputed only when another trial completes."""
    return _importance(str(run_dir), completed_count(trials), trials)


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
    """The trial table for people: number, id, status, score, duration, epochs, error, hps."""
    if trials.empty:
        return trials
    base = ["number", "trial_id", "status", "score", "seconds", "epochs", "error"]
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
