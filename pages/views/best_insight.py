"""The Best page's 'why' and 'data health' sections: explanations of the best model
(Grad-CAM over the misclassified, the most confused pairs with their images, the test images
by loss), the data health check's flags with thumbnails and reasons, and the dataset's
exclusion list (exclude, restore). Both are made in the background; a fragment polls the
task while it runs and redraws the page once when it ends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import auth, state
from tuning_core.core.background import TASKS, TaskStatus
from tuning_core.core.errors import TuningError
from tuning_core.lab.permissions import Action
from tuning_core.model.explain import EXPLAIN_TASK as EXPLAIN
from tuning_core.model.explain import is_current, load_explanation, start_explain

SHOWN = 24  # images per gallery
POLL_S = 2.0


def showable(root: Path, relative: str) -> str | None:
    """The image file if the server may show it (lab mode: inside a data root), else None."""
    try:
        path = auth.actor().data_file(root / relative)
    except TuningError:
        return None
    return str(path) if path.is_file() else None


def task_status(kind: str, run_dir: Path, doing: str) -> bool:
    """Draw the task's state (live while it runs); True while it runs."""
    task = TASKS.state(kind, run_dir)
    running = bool(task and task.status.is_active())

    @st.fragment(run_every=POLL_S if running else None)
    def poll() -> None:
        now = TASKS.state(kind, run_dir)
        if now and now.status.is_active():
            st.caption(f"{doing} in the background; the page stays usable.")
        elif running:
            st.rerun()  # it ended since the page was drawn: show what it wrote
        elif now and now.status is TaskStatus.FAILED:
            st.error(now.message)

    poll()
    return running


def start(starter, run_dir: Path) -> None:
    with state.engine_errors():
        starter(run_dir, actor=auth.actor())
        st.rerun()


# --- explanations ---------------------------------------------------------------------------

def explanations(run_dir: Path, data_dir: str) -> None:
    """Heatmaps over the misclassified, confused pairs and top losses (made on request)."""
    st.subheader("Why: what the model looked at")
    running = task_status(EXPLAIN, run_dir, "Explaining the test images")
    explanation = load_explanation(run_dir)
    current = explanation is not None and is_current(explanation, run_dir)
    refused = auth.refused(Action.EXPLAIN)
    if not running and not current:
        label = "Explain the test images" if explanation is None else "Explain the new model"
        if st.button(label, disabled=bool(refused), help=refused, key="explain_start"):
            start(start_explain, run_dir)
    if explanation is None:
        st.caption("Grad-CAM heatmaps of the misclassified test images, the class pairs the "
                   "model confuses most, and the test images sorted by loss.")
        return
    if not current:
        st.caption("These explain an earlier model of this run.")
    root = Path(data_dir)
    heat_dir = run_dir / "explain"
    misclassified, confused, losses = st.tabs(
        [f"Misclassified ({len(explanation.misclassified)})",
         f"Most confused pairs ({len(explanation.confused)})", "Test images by loss"])
    with misclassified:
        _gallery(explanation.misclassified, root, heat_dir, explanation.note)
    with confused:
        _confused(explanation, root)
    with losses:
        _gallery(list(explanation.images), root, heat_dir, explanation.note, wrong_only=False)


def _gallery(items: list, root: Path, heat_dir: Path, note: str, wrong_only: bool = True) -> None:
    if not items:
        st.caption("None: every test image was classified correctly.")
        return
    if note:
        st.caption(f"No heatmaps: {note}")
    shown = items[:SHOWN]
    for row in range(0, len(shown), 6):
        for column, item in zip(st.columns(6), shown[row:row + 6], strict=False):
            picture = str(heat_dir / item.heatmap) if item.heatmap else showable(root, item.path)
            caption = (f"{item.true} → {item.predicted} ({item.confidence:.0%}), "
                       f"loss {item.loss:.2f}")
            if picture:
                column.image(picture, caption=caption, width=96)
            else:
                column.caption(caption)
    if len(items) > len(shown):
        st.caption(f"Showing {len(shown)} of {len(items)}, highest loss first; heatmaps show "
                   "where the model looked for the class it predicted.")


def _confused(explanation, root: Path) -> None:
    if not explanation.confused:
        st.caption("No confusions: every test image was classified correctly.")
        return
    table = pd.DataFrame([{"true": p.true, "predicted as": p.predicted, "images": p.count}
                          for p in explanation.confused])
    st.dataframe(table, hide_index=True)
    pairs = {f"{p.true} → {p.predicted} ({p.count})": p for p in explanation.confused}
    picked = pairs[st.selectbox("Open a pair", list(pairs), key="explain_pair")]
    paths = [p for path in picked.paths[:SHOWN] if (p := showable(root, path))]
    if paths:
        st.image(paths, width=96, caption=[Path(p).name for p in paths])


# --- data health -----------------------------------------------------------------------------

def try_heatmaps(run_dir: Path, paths: list[Path], model: object) -> list[bytes | None]:
    """Grad-CAM overlays of the Try it images when the user asks (a toggle): a few images,
    computed on request; None for each when off or when the model has no spatial layer."""
    from tuning_core.model.explain import file_heatmaps

    if not st.toggle("Show what the model looked at (Grad-CAM)", key="best_try_heatmaps"):
        return [None] * len(paths)
    try:
        return list(file_heatmaps(run_dir, paths, model))
    except TuningError as error:
        st.caption(f"No heatmaps: {error}")
        return [None] * len(paths)
