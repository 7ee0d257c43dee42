"""Best model page: retrain a top trial in the background, then evaluate, inspect and use it."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import auth, live, state
from pages.common.search_script import script_download
from pages.views import best_classify as classify
from pages.views import best_exports as exports
from pages.views import best_front as fronts
from pages.views import best_health as health
from pages.views import best_insight as insight
from pages.views import best_model as view
from pages.views import monitor
from tuning_core.core.states import JobKind
from tuning_core.lab.permissions import Action
from tuning_core.model.best import retrain_progress
from tuning_core.runs.ranking import RankedTrial
from tuning_core.runs.rundir import RunDir
from tuning_core.search.lifecycle import folder_notice


def retrain_form(run_dir: Path, ranked: list[RankedTrial], objective: str) -> None:
    """Choose a top trial and the epochs, and start the retrain."""
    registry = state.registry()
    busy = live.slot_holder() is not None
    refused = auth.refused(Action.RETRAIN, state.run_owner(run_dir))
    left, right = st.columns([3, 1])
    count = min(view.RANK_CHOICES, len(ranked))
    rank = left.selectbox("Trial to retrain", list(range(1, count + 1)),
                          format_func=view.rank_label(ranked, objective), key="best_rank")
    epochs = right.number_input("Epochs", 1, 1000, step=1,
                                key=state.widget("best.epochs", 30),
                                help="Early stopping ends it sooner when validation stalls.")
    st.caption("Retrains the chosen hyperparameters on all training images (early stopping, "
               "best-epoch weights, learning-rate reduction), then tests on the test split.")
    if st.button("Retrain best model", type="primary", disabled=bool(refused),
                 help=refused or ("Queued: starts when the machine is free." if busy else None)):
        with state.engine_errors():
            registry.start_retrain(run_dir, epochs=int(epochs), rank=int(rank),
                                   actor=auth.actor())
            st.rerun()


@st.fragment(run_every=live.poll_interval())
def retrain_status(run_dir: Path, drawn_with_best: bool) -> None:
    """The retrain's progress bar (live while it runs) or its error; the whole page again
    when the search's first trial completes (the retrain form appears)."""
    progress = state.registry().progress(run_dir)
    if not drawn_with_best and RunDir(run_dir).best_trials():
        st.rerun()
    done, planned, status = retrain_progress(run_dir)
    if progress.kind is JobKind.RETRAIN:
        st.progress(min(1.0, done / planned) if planned else 0.0,
                    text=f"Retraining: epoch {done} of at most {planned or '?'}")
    elif status == "failed" and progress.message:
        st.error(progress.message)
    live.rerun_once_when_idle()


st.title("Best model")
run = state.current_run()
if run is None:
    st.info("No run yet. Launch one on the Search page, or open one on the Runs page.")
    st.stop()
with state.engine_errors():
    run_dir = RunDir(run)
    config = run_dir.config()
    trials, _ = monitor.snapshot(run)
    ranked = run_dir.best_trials()
    st.caption(f"Run {run.name}")
    if notice := folder_notice(run_dir):  # the data folder edited since the search (issue 27)
        st.warning(notice, icon=":material/folder_off:")
    if not ranked:
        st.info("No completed trial yet: the best model can be retrained once one completes.")
    else:
        retrain_form(run, ranked, config.tuner.objective)
    retrain_status(run, bool(ranked))
    if ranked:
        fronts.choose_by_cost(run, trials, config.tuner.objective, run_dir.direction)
    retraining = state.registry().progress(run).kind is JobKind.RETRAIN
    source = view.retrained_from(run)
    if not retraining and source:
        st.caption(f"The model below was retrained from {source}.")
    if not retraining:
        view.show_evaluation(run, (run_dir.load_split() or {}).get("root", config.data_dir))
    if not retraining and run_dir.model_path.is_file():
        with state.engine_errors():  # a bad upload must not hide the downloads below
            view.try_it(run)
        with state.engine_errors():
            classify.classify_section(run)
    if not retraining and run_dir.model_path.is_file():
        data_root = (run_dir.load_split() or {}).get("root", config.data_dir)
        with state.engine_errors():
            insight.explanations(run, data_root)
        with state.engine_errors():
            health.data_health(run, data_root)
    st.subheader("Downloads")
    view.downloads(run, trials)
    left, right = st.columns(2)
    with left:
        script_download(run, key="best_script")
    with right:
        exports.report_download(run)
    if not retraining and run_dir.model_path.is_file():
        st.subheader("Exports")
        with state.engine_errors():
            exports.export_form(run)
            exports.export_table(run)
