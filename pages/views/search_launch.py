"""Presentation helpers of the Search page: tuner settings form, launch summary, run panel."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import live, state
from pages.views import search_workers
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import (
    AGENTS_ALL,
    DISTRIBUTIONS,
    OBJECTIVES,
    TUNER_HELP,
    TUNER_NAMES,
    RunConfig,
    TunerSettings,
)
from tuning_core.space.size import space_size

OBJECTIVE_HELP = {"val_accuracy": "validation accuracy (higher is better)",
                  "val_loss": "validation loss (lower is better)"}


def _number(label: str, name: str, value: int, low: int, high: int, help: str = "") -> int:
    return int(st.number_input(label, low, high, step=1, help=help or None,
                               key=state.widget(f"search.{name}", value)))


def tuner_form(current: TunerSettings) -> TunerSettings:
    """Every tuner setting as a widget; returns the settings as chosen."""
    tuner = st.radio("Tuner", list(TUNER_NAMES), horizontal=True,
                     format_func=lambda n: n.capitalize(),
                     key=state.widget("search.tuner", current.tuner))
    st.caption(TUNER_HELP[tuner])
    objective = st.selectbox("Objective", list(OBJECTIVES), format_func=OBJECTIVE_HELP.get,
                             key=state.widget("search.objective", current.objective))
    c = st.columns(4)
    with c[0]:
        trials = _number("Max trials", "max_trials", current.max_trials, 1, 10_000,
                         "Hyperband plans its own schedule; this caps it." if tuner == "hyperband"
                         else "")
    with c[1]:
        label = "Max epochs per trial" if tuner == "hyperband" else "Epochs per trial"
        epochs = _number(label, "epochs", current.epochs, 1, 1000)
    with c[2]:
        executions = _number("Executions per trial", "executions", current.executions_per_trial,
                             1, 10, "Trains each trial's model this many times and averages.")
    with c[3]:
        patience = _number("Early-stopping patience", "patience", current.patience, 0, 100,
                           "Epochs without improvement before a trial stops (0: never).")
    c = st.columns(4)
    with c[0]:
        keep = _number("Checkpoints to keep", "keep_top", current.keep_top, 1, 100,
                       "Only the best k trials keep their weights on disk.")
    with c[1]:
        seed = _number("Seed", "seed", current.seed, 0, 2**31 - 1)
    with c[2]:
        budget = st.checkbox("Time limit", key=state.widget("search.use_budget",
                                                            current.max_minutes is not None))
    with c[3]:
        minutes = st.number_input("Minutes", 1.0, 10_000.0, step=5.0, disabled=not budget,
                                  key=state.widget("search.minutes", current.max_minutes or 30.0))
    workers, distribution, mixed = _hardware_form(current)
    agents = search_workers.agents_form(current.agents)
    return TunerSettings(tuner=tuner, objective=objective, max_trials=trials, epochs=epochs,
                         executions_per_trial=executions, patience=patience, seed=seed,
                         keep_top=keep, max_minutes=float(minutes) if budget else None,
                         workers=workers, agents=agents, distribution=distribution,
                         mixed_precision=mixed)


def _hardware_form(current: TunerSettings) -> tuple[int, str, bool]:
    """Workers, one trial's distribution strategy and mixed precision."""
    c = st.columns(3)
    with c[0]:
        workers = _number("Workers", "workers", current.workers, 0, 64,
                          "0: one process trains every trial. N: this dashboard serves the "
                          "search and starts N worker processes, one per visible GPU or per "
                          "group of CPU cores (as `search --workers N`); Stop stops them all.")
    with c[1]:
        distribution = st.selectbox("One trial on", list(DISTRIBUTIONS),
                                    format_func=DISTRIBUTIONS.get,
                                    key=state.widget("search.distribution",
                                                     current.distribution))
    with c[2]:
        mixed = st.checkbox("Mixed precision", help="mixed_float16 on a GPU of compute "
                            "capability 7.0 or higher; float32 elsewhere (the log says so).",
                            key=state.widget("search.mixed_precision", current.mixed_precision))
    st.caption("Tested here: MirroredStrategy with one CPU device only; mixed precision was "
               "not tested on a GPU (on a CPU it trains in float32).")
    return workers, distribution, bool(mixed)


def build_config(name: str, settings: TunerSettings) -> RunConfig:
    """The run to launch, from the session's data, space and these tuner settings."""
    return RunConfig(data_dir=state.data_folder(), space=state.space(),
                     split=state.split_config(), image=state.image_config(), tuner=settings,
                     name=name.strip())


def launch_summary(config: RunConfig) -> None:
    """What will run, in one short table."""
    rows = {
        "Images": config.data_dir or "(none: choose a folder on the Data page)",
        "Image size": f"{config.image.image_size} px, {config.image.color_mode}",
        "Split": f"train {config.split.train:g} / val {config.split.val:g} / test "
                 f"{config.split.test:g}; trials use {config.split.subset:.0%} of train",
        "Search space": space_size(config.space).describe(),
        "Tuner": f"{config.tuner.tuner}, {config.tuner.max_trials} trials max, "
                 f"{config.tuner.epochs} epochs",
    }
    if config.tuner.max_minutes:
        rows["Time limit"] = f"the search ends after {config.tuner.max_minutes:g} min"
    if config.tuner.workers:
        rows["Workers"] = f"{config.tuner.workers} local worker process(es), this dashboard " \
                          "the chief"
    if config.tuner.agents:
        asked = "every free slot" if config.tuner.agents == AGENTS_ALL else \
            f"{config.tuner.agents} worker(s)"
        rows["Agents"] = f"{asked} of the lab's agents, this dashboard the chief"
    st.markdown("\n".join(f"- **{k}**: {v}" for k, v in rows.items()))


def trial_time(run_dir: Path) -> str | None:
    """"about 12 s per trial (median of 3)" once a trial of the run has ended."""
    trials = RunDir(run_dir).reader().trials()
    seconds = trials["seconds"].dropna() if not trials.empty else pd.Series(dtype=float)
    if seconds.empty:
        return None
    return f"about {live.duration(float(seconds.median()))} per trial " \
           f"(median of {len(seconds)})"
