"""The search script's download button, shared by the Search space, Runs and Best pages.

The text is made when the button is clicked (``tuning_core.model.script.download_script``, which
records the download in lab mode's audit log), not on every rerun.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import auth
from tuning_core.model.script import download_script
from tuning_core.runs.rundir import SCRIPT_FILE, RunDir


def script_download(run_dir: Path, key: str) -> None:
    """A button that downloads the run's standalone search script (once its search began)."""
    run = RunDir(run_dir)
    if run.load_split() is None:
        st.caption("The search script can be downloaded once the run's search has started.")
        return
    actor = auth.actor()
    st.download_button("Download search script (.py)", key=key, on_click="ignore",
                       data=lambda: download_script(run_dir, actor=actor),
                       file_name=f"{run.name}-{SCRIPT_FILE}", mime="text/x-python",
                       help="One Python file that reruns this run's search (same "
                            "hyperparameters, tuner, settings and split) and its retrain with "
                            "keras, keras_tuner and tensorflow alone.")
