"""The Best model page's *Classify a folder*: new images classified in a background job.

The form queues a job (:mod:`tuning_core.jobs.classify`): a folder on the server (within
the data roots in lab mode) or uploaded images, the Keras model or a checked export, and
the confidence under which an image is flagged. The panel follows the newest job live
(progress bar, Stop, Resume) and, once rows are written, shows the counts per class, the
least confident images with thumbnails, the unreadable files with their reason, and the
CSV for download. Polls only while a job is queued or running.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import auth, state
from tuning_core.data.dataset import IMAGE_EXTENSIONS
from tuning_core.jobs.classify import ClassifyJob, ClassifyState, classify_queue
from tuning_core.lab.permissions import Action
from tuning_core.model.classify import DEFAULT_THRESHOLD, ClassifyFormat, read_results
from tuning_core.model.exports import current_exports

LEAST_CONFIDENT = 8
POLL_S = 1.0
_WAS_ACTIVE = "classify.was_active"
_LABELS = {"keras": "Keras model", "onnx": "ONNX export", "litert": "LiteRT export"}


def classify_section(run_dir: Path) -> None:
    """The form, then the newest job's panel (live while a job is active)."""
    st.subheader("Classify a folder")
    st.caption("Classifies every image of a folder in the background: one model load, "
               "batches, one CSV (path, class, probability, every class's probability, a flag "
               "under the threshold). Unreadable files are listed with their reason. A stopped "
               "job resumes where it stopped.")
    _form(run_dir)
    jobs = classify_queue().jobs(run_dir)
    active = any(j.state.is_active() for j in jobs)
    st.fragment(run_every=POLL_S if active else None)(_panel)(run_dir)


def _formats(run_dir: Path) -> list[str]:
    exported = {r.key for r in current_exports(run_dir) if r.passed}
    return [f.value for f in ClassifyFormat if f is ClassifyFormat.KERAS or f.value in exported]


def _form(run_dir: Path) -> None:
    refused = auth.refused(Action.CLASSIFY, state.run_owner(run_dir))
    source = st.radio("Images", ["A folder on the server", "Upload images"], horizontal=True,
                      key="classify_source")
    folder, uploads = "", []
    if source == "Upload images":
        uploads = st.file_uploader("Images to classify", accept_multiple_files=True,
                                   type=[e.lstrip(".") for e in IMAGE_EXTENSIONS],
                                   key="classify_uploads") or []
    else:
        folder = st.text_input("Folder", key="classify_folder",
                               help="Sub-folders too. In lab mode, within the data roots.")
    left, right = st.columns(2)
    fmt = left.selectbox("Model", _formats(run_dir), format_func=lambda key: _LABELS[key],
                         key="classify_format", help="An export appears here once it is "
                         "exported and checked (below).")
    threshold = right.slider("Flag under this probability", 0.0, 1.0, DEFAULT_THRESHOLD, 0.05,
                             key="classify_threshold")
    ready = bool(uploads) or bool(folder.strip())
    if st.button("Classify", disabled=bool(refused) or not ready, help=refused,
                 key="classify_start"):
        with state.engine_errors():
            files = [(u.name, u.getvalue()) for u in uploads]
            classify_queue().submit(run_dir, folder.strip() or None, fmt or "keras", threshold,
                                    actor=auth.actor(), uploads=files or None)
            st.rerun()


def _panel(run_dir: Path) -> None:
    jobs = classify_queue().jobs(run_dir)
    active = any(j.state.is_active() for j in jobs)
    was_active = st.session_state.get(_WAS_ACTIVE, False)
    st.session_state[_WAS_ACTIVE] = active
    if was_active and not active:
        st.rerun()  # once: the whole section again, without polling
    if not jobs:
        return
    job = _chosen(jobs)
    _status(job)
    rows = read_results(job.csv_path)
    if rows:
        _results(job, rows)


def _chosen(jobs: list[ClassifyJob]) -> ClassifyJob:
    if len(jobs) == 1:
        return jobs[0]
    names = {j.id: f"{j.id}: {Path(j.folder).name} ({j.state.value})" for j in jobs}
    chosen = st.selectbox("Job", list(names), format_func=lambda key: names[key],
                          key="classify_job")
    return next((j for j in jobs if j.id == chosen), jobs[0])


def _status(job: ClassifyJob) -> None:
    queue, actor = classify_queue(), auth.actor()
    if job.state is ClassifyState.RUNNING:
        st.progress(job.fraction, text=f"Classifying {Path(job.folder).name}: {job.done} of "
                                       f"{job.total} images, {job.images_per_second:.0f}/s")
    elif job.state is ClassifyState.QUEUED:
        st.info(f"Queued: {job.total} images of {Path(job.folder).name}; starts when the job "
                "before it ends.")
    elif job.state is ClassifyState.FINISHED:
        result = job.result or {}
        st.success(f"Classified {result.get('classified', 0)} images of "
                   f"{Path(job.folder).name} ({job.format}, "
                   f"{result.get('images_per_second', 0):.0f} images/s)")
    else:
        st.warning(f"Job {job.state.value} after {job.done} of {job.total} images"
                   + (f": {job.message}" if job.message else "."))
    if job.state.is_active() and st.button("Stop", key=f"classify_stop_{job.id}"):
        with state.engine_errors():
            queue.stop(job, actor=actor)
    if job.state.is_resumable() and st.button("Resume", key=f"classify_resume_{job.id}"):
        with state.engine_errors():
            queue.resume(job, actor=actor)
            st.rerun()


def _results(job: ClassifyJob, rows: list[dict[str, str]]) -> None:
    good = [r for r in rows if not r["error"]]
    bad = [r for r in rows if r["error"]]
    counts = pd.Series([r["class"] for r in good], dtype="object").value_counts()
    flagged = sum(1 for r in good if r["low_confidence"] == "1")
    st.caption(f"{len(good)} classified, {flagged} under {job.threshold:.2f}, "
               f"{len(bad)} unreadable.")
    if not counts.empty:
        st.bar_chart(counts.rename("images"), height=200)
    least = sorted(good, key=lambda r: float(r["probability"]))[:LEAST_CONFIDENT]
    if least:
        st.markdown("**Least confident**")
        for column, row in zip(st.columns(len(least)), least, strict=True):
            column.image(row["path"], width=80,
                         caption=f"{row['class']} {float(row['probability']):.0%}")
    if bad:
        with st.expander(f"Unreadable files ({len(bad)})"):
            st.dataframe(pd.DataFrame([{"file": r["path"], "reason": r["error"]} for r in bad]),
                         hide_index=True)
    st.download_button("Download results (CSV)", data=job.csv_path.read_bytes,
                       file_name=f"{Path(job.run_dir).name}-{Path(job.folder).name}.csv",
                       mime="text/csv", on_click="ignore", key=f"classify_csv_{job.id}")
