"""Presentation helpers of the Best model page: trial choice, evaluation, gallery, try-it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from pages.common import auth
from pages.views.best_insight import try_heatmaps
from tuning_core.analysis import charts
from tuning_core.analysis.margin import evaluation_accuracy, per_class_table, weakest_class_text
from tuning_core.core.errors import TuningError
from tuning_core.data.dataset import IMAGE_EXTENSIONS
from tuning_core.model.best import load_evaluation, load_history, load_hyperparameters
from tuning_core.model.predict import load_best_model, predict
from tuning_core.runs.ranking import RankedTrial
from tuning_core.runs.rundir import HYPERPARAMETERS_FILE, RunDir

GALLERY_LIMIT = 24
RANK_CHOICES = 10


def rank_label(ranked: list[RankedTrial], objective: str) -> Any:
    """Formats rank k as "#k: trial 4 (val_accuracy 0.9312)", as Monitor numbers trials."""
    def label(rank: int) -> str:
        trial = ranked[rank - 1]
        stopped = ", stopped early" if trial.status.value == "stopped" else ""
        return f"#{rank}: trial {trial.number} ({objective} {trial.score:.4f}{stopped})"
    return label


def retrained_from(run_dir: Path) -> str | None:
    """"trial 4 (rank #1 when retrained)" for the saved best model, or None."""
    hps = load_hyperparameters(run_dir)
    if not hps:
        return None
    number = hps.get('number', hps.get('trial_id'))
    return f"trial {number} (rank #{hps.get('rank')} when retrained)"


def show_evaluation(run_dir: Path, data_dir: str) -> None:
    """Test metrics, learning curves, confusion matrix, per-class table, misclassified images."""
    evaluation = load_evaluation(run_dir)
    if evaluation is None:
        st.info("No retrained model yet: pick a trial above and press **Retrain best model**.")
        return
    cols = st.columns(3)
    accuracy = evaluation_accuracy(evaluation)
    cols[0].metric("Test accuracy", f"{evaluation['test_accuracy']:.4f}",
                   help="95% Wilson interval from the number of test images" if accuracy else None)
    cols[1].metric("Test loss", f"{evaluation['test_loss']:.4f}")
    cols[2].metric("Test images", evaluation.get("test_images", "?"))
    if accuracy is not None:
        low, high = accuracy.interval
        st.caption(f"Test accuracy {accuracy.value:.3f}, 95% interval {low:.3f}–{high:.3f} "
                   f"({accuracy.total} test images): another model within it is not "
                   f"measurably better or worse on these images.")
    st.plotly_chart(charts.history_figure(load_history(run_dir) or {}), key="best_history",
                    width="stretch")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.confusion_figure(evaluation["confusion_matrix"],
                                                evaluation["classes"]), key="best_confusion",
                        width="stretch")
    with right:
        st.subheader("Per class")
        table = per_class_table(evaluation["per_class"])
        st.dataframe(table, hide_index=True, column_config={
            k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")})
        weakest = weakest_class_text(table)
        if weakest:
            st.caption(weakest)
    show_misclassified(evaluation["misclassified"], Path(data_dir))


def show_misclassified(items: list[dict], root: Path) -> None:
    """A gallery of misclassified test images with true and predicted labels."""
    st.subheader(f"Misclassified test images ({len(items)})")
    if not items:
        st.caption("None: every test image was classified correctly.")
        return
    shown = [(i, path) for i in items if (path := _showable(root / i["path"]))][:GALLERY_LIMIT]
    st.image([str(path) for _, path in shown], width=96, caption=[
        f"true {i['true']} → {i['predicted']} ({i['confidence']:.0%})" for i, _ in shown])
    if len(items) > len(shown):
        st.caption(f"Showing {len(shown)} of {len(items)}.")


def _showable(path: Path) -> Path | None:
    """The image file if the server may show it (lab mode: inside a data root), else None."""
    try:
        path = auth.actor().data_file(path)
    except TuningError:
        return None
    return path if path.is_file() else None


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _model(path: str, mtime: float) -> Any:
    return load_best_model(Path(path).parent.parent)


def try_it(run_dir: Path) -> None:
    """Upload images and see the predicted class and probabilities."""
    st.subheader("Try it")
    files = st.file_uploader("Images to classify", accept_multiple_files=True,
                             type=[e.lstrip(".") for e in IMAGE_EXTENSIONS], key="best_try")
    if not files:
        return
    model_path = RunDir(run_dir).model_path
    model = _model(str(model_path), model_path.stat().st_mtime)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, upload in enumerate(files):
            paths.append(Path(tmp) / f"{i}_{Path(upload.name).name}")
            paths[-1].write_bytes(upload.getvalue())
        predictions = predict(run_dir, paths, model=model)
        heatmaps = try_heatmaps(run_dir, paths, model)
        for upload, path, p, heat in zip(files, paths, predictions, heatmaps, strict=True):
            left, right = st.columns([1, 3])
            left.image(str(path), width=96, caption=upload.name)
            if heat is not None:
                left.image(heat, width=96, caption=f"where it saw {p.label}")
            right.markdown(f"**{p.label}** ({p.probability:.1%})")
            right.bar_chart(pd.Series(p.probabilities, name="probability"), height=160)


def downloads(run_dir: Path, trials: pd.DataFrame) -> None:
    """The .keras model, the hyperparameters as JSON, and all trials as CSV."""
    run = RunDir(run_dir)
    cols = st.columns(3)
    model, hps = run.model_path, run.best_dir / HYPERPARAMETERS_FILE
    if model.is_file():
        cols[0].download_button("Download model (.keras)", data=model.read_bytes,
                                file_name=f"{run_dir.name}.keras", on_click="ignore")
    if hps.is_file():
        text = json.dumps(json.loads(hps.read_text()), indent=2)
        cols[1].download_button("Download hyperparameters (JSON)", data=text,
                                file_name=f"{run_dir.name}-hyperparameters.json",
                                mime="application/json", on_click="ignore")
    cols[2].download_button("Download trials (CSV)", data=lambda: trials.to_csv(index=False),
                            file_name=f"{run_dir.name}-trials.csv", mime="text/csv",
                            on_click="ignore", disabled=trials.empty)
