"""Compare page: two or more runs side by side (settings that differ, best scores, charts)."""

from __future__ import annotations

import streamlit as st

from pages.common import state
from pages.views import best_front as fronts
from pages.views import compare as view
from pages.views.runs import labels
from tuning_core.analysis.compare import compare_runs
from tuning_core.core import workspace
from tuning_core.runs.catalogue import list_runs
from tuning_core.runs.rundir import RunDir

st.title("Compare")
infos = list_runs(workspace.runs_dir(), wait_for_size=False)  # Compare shows no sizes
if len(infos) < 2:
    st.info("Comparing needs at least two runs. Launch searches on the Search page.")
    st.stop()
names = [i.run.name for i in infos]
shown = labels(infos)
picked = st.multiselect("Runs to compare (the first is the reference)", names,
                        default=view.default_pick(names, state.current_run()),
                        format_func=shown.get, key="compare_pick")
if len(picked) < 2:
    st.info("Pick at least two runs.")
    st.stop()
with state.engine_errors():
    result = compare_runs([RunDir(workspace.runs_dir() / name) for name in picked])
    st.subheader("Best scores")
    view.show_scores(result)
    st.subheader("Settings that differ")
    view.show_settings(result)
    view.show_charts(result)
    fronts.compare_fronts(result, [RunDir(workspace.runs_dir() / name) for name in picked])
