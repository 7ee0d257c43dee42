"""The Best model page's data health check: flagged files with a reason and a thumbnail, and
the dataset's exclusion list (what the next search leaves out), visible and undoable. The
check itself runs in the background (:mod:`tuning_core.model.health`); explanations are
``pages/views/best_insight.py``, whose task and thumbnail helpers this shares. The Search
page shows :func:`excluded_note` too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import auth, state
from pages.views import best_insight as insight
from tuning_core.lab.permissions import Action
from tuning_core.model.health import HEALTH_TASK as HEALTH
from tuning_core.model.health import FlagKind, load_health, start_health
from tuning_core.runs import exclusions


def data_health(run_dir: Path, data_dir: str) -> None:
    """The health check's flags by kind, each with a thumbnail, its reason and 'Exclude'."""
    st.subheader("Data health")
    running = insight.task_status(HEALTH, run_dir, "Checking the data (short cross-validated fits)")
    report = load_health(run_dir)
    refused = auth.refused(Action.EXPLAIN)
    if not running:
        label = "Check the data" if report is None else "Check the data again"
        if st.button(label, disabled=bool(refused), help=refused, key="health_start"):
            insight.start(start_health, run_dir)
    if report is None:
        st.caption("Looks for suspected label errors (a few short cross-validated fits of the "
                   "best architecture, then cleanlab's confident learning), near-duplicates "
                   "and duplicates across the split (leaks), and outliers.")
    else:
        _flags(run_dir, report, Path(data_dir))
    excluded_list(run_dir, Path(data_dir))


def _flags(run_dir: Path, report, root: Path) -> None:
    counts = {k: len(report.of_kind(k)) for k in FlagKind}
    st.caption(f"{report.images} images checked in {report.seconds:.0f} s ({report.folds} "
               f"folds of {report.epochs} epochs, right on {report.oos_accuracy:.0%} of the "
               "images they never saw): " +
               ", ".join(f"{n} {k.title.lower()}" for k, n in counts.items()))
    if report.note:
        st.warning(report.note)
    listed = exclusions.for_run(run_dir)[1].paths
    for kind in FlagKind:
        flags = report.of_kind(kind)
        if not flags:
            continue
        with st.expander(f"{kind.title} ({len(flags)})", expanded=kind is FlagKind.LABEL):
            for n, flag in enumerate(flags[:insight.SHOWN]):
                _flag_row(run_dir, flag, root, listed, f"{kind.value}_{n}")
            fresh = [f for f in flags if f.path not in listed]
            if fresh and st.button(f"Exclude all {len(fresh)} from the next search",
                                   key=f"exclude_all_{kind.value}",
                                   disabled=bool(auth.refused(Action.EXCLUDE))):
                _exclude(run_dir, fresh)


def _flag_row(run_dir: Path, flag, root: Path, listed: set[str], key: str) -> None:
    left, middle, right = st.columns([1, 4, 1])
    picture = insight.showable(root, flag.path)
    if picture:
        left.image(picture, width=72)
    other = insight.showable(root, flag.other) if flag.other else None
    if other:
        left.image(other, width=72, caption="its twin")
    middle.markdown(f"**{flag.path}**  \n{flag.reason}")
    if flag.path in listed:
        right.caption("excluded")
    elif right.button("Exclude", key=f"exclude_{key}",
                      disabled=bool(auth.refused(Action.EXCLUDE))):
        _exclude(run_dir, [flag])


def _exclude(run_dir: Path, flags: list) -> None:
    with state.engine_errors():
        exclusions.exclude(run_dir, [exclusions.Exclusion(f.path, f.reason, f.kind.value)
                                     for f in flags], actor=auth.actor())
        st.rerun()


def excluded_note(data_dir: str) -> None:
    """On the Search page: how many files of the dataset the new run will leave out."""
    from tuning_core.core import workspace

    listed = exclusions.load(workspace.runs_dir(), data_dir)
    if listed.entries:
        st.caption(f"{len(listed.entries)} file(s) of this dataset are left out of new runs "
                   "(excluded after a data health check; the Best model page of a run on "
                   "this dataset lists them and restores them).")


def excluded_list(run_dir: Path, root: Path) -> None:
    """The dataset's exclusion list, visible and undoable."""
    _, listed = exclusions.for_run(run_dir)
    if not listed.entries:
        return
    with st.expander(f"Excluded from the next search of this dataset ({len(listed.entries)})"):
        st.caption("The files stay in their folder; a new run's split leaves them out "
                   "(runs made before keep theirs).")
        st.dataframe(pd.DataFrame([{"file": e.path, "why": e.kind or "by hand", "by": e.by,
                                    "reason": e.reason} for e in listed.entries]),
                     hide_index=True)
        back = st.multiselect("Files to restore", [e.path for e in listed.entries],
                              key="exclusions_restore")
        refused = auth.refused(Action.EXCLUDE)
        if st.button("Restore", disabled=not back or bool(refused), help=refused,
                     key="exclusions_restore_button"):
            with state.engine_errors():
                exclusions.restore(run_dir, set(back), actor=auth.actor())
                st.rerun()
