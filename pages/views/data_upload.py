"""Datasets uploaded from the browser: a zip of class folders or loose images of one class.

The engine (:mod:`tuning_core.data.uploads`) unpacks into the workspace's data folder through a
staging folder and refuses traversal, links, bombs and overwrites; this module only draws
the form, checks the role through the engine's actor and reports progress.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from pages.common import auth, state
from tuning_core.core import workspace
from tuning_core.data.dataset import IMAGE_EXTENSIONS
from tuning_core.data.uploads import delete_dataset, extract_zip, list_datasets, save_images
from tuning_core.lab.permissions import Action

ZIP, LOOSE = "A .zip of class folders", "Images of one class"
UPLOADED = "upload.done"  # (folder, message) of an upload, applied on the next run


def take_uploaded() -> tuple[str, str] | None:
    """The folder and message of the upload that just finished, once (before the widgets)."""
    return st.session_state.pop(UPLOADED, None)


def upload_form() -> None:
    """The upload form; on success the new dataset becomes the chosen folder (next run)."""
    refused = auth.refused(Action.UPLOAD)
    with st.expander("Upload a dataset from this computer", expanded=False):
        if refused:
            st.caption(refused)
            return
        kind = st.radio("What to upload", [ZIP, LOOSE], horizontal=True, key="upload_kind")
        name = st.text_input("Dataset name", key="upload_name",
                             help="Letters, digits, '-', '_' and '.'; an existing name is "
                                  "never overwritten (loose images may add to your own).")
        if kind == ZIP:
            files = st.file_uploader("Zip file", type=["zip"], key="upload_zip")
            class_name = ""
        else:
            class_name = st.text_input("Class of these images", key="upload_class")
            files = st.file_uploader("Images", accept_multiple_files=True, key="upload_images",
                                     type=[e.lstrip(".") for e in IMAGE_EXTENSIONS])
        if st.button("Upload", disabled=not files or not name.strip()):
            _upload(kind, name.strip(), class_name.strip(), files)


def _upload(kind: str, name: str, class_name: str, files) -> None:
    actor = auth.actor()
    with state.engine_errors():
        actor.check(Action.UPLOAD, target=name)
        slot = st.empty()  # the bar goes when the upload is refused, not only when it is done
        bar = slot.progress(0.0, text="Unpacking…")
        owner = actor.record_name
        try:
            if kind == ZIP:
                dataset = extract_zip(files, workspace.data_dir(), name, owner,
                                      progress=lambda done, total: bar.progress(
                                          min(1.0, done / total) if total else 1.0,
                                          text=f"Unpacking… {done / 1e6:.1f} of "
                                               f"{total / 1e6:.1f} MB"))
            else:
                dataset = save_images([(f.name, f) for f in files], workspace.data_dir(), name,
                                      class_name, owner)
        except BaseException:
            slot.empty()
            raise
        bar.progress(1.0, text="Done")
        actor.record(Action.UPLOAD, target=name, detail=f"{dataset.files} files")
        note = f", {dataset.skipped} non-image entries skipped" if dataset.skipped else ""
        st.session_state[UPLOADED] = (dataset.path,
                                      f"Uploaded {dataset.files} images into {dataset.name}{note}.")
        st.rerun()


def datasets_table() -> None:
    """The workspace's datasets with owner, size and date; owners (or admins) delete theirs."""
    datasets = list_datasets(workspace.data_dir())
    if not datasets:
        return
    with st.expander(f"Datasets in the workspace ({len(datasets)})"):
        st.dataframe(pd.DataFrame([{
            "name": d.name, "owner": d.owner, "images": d.files, "MB": d.bytes / 1e6,
            "uploaded": datetime.fromtimestamp(d.created) if d.created else None}
            for d in datasets]), hide_index=True, width="stretch")
        actor = auth.actor()
        mine = [d.name for d in datasets if actor.may(Action.DELETE_DATASET, d.owner or None)]
        if not mine:
            return
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        picked = left.selectbox("Delete a dataset", mine, index=None, key="datasets_delete")
        if right.button("Delete dataset", disabled=picked is None):
            with state.engine_errors():
                delete_dataset(workspace.data_dir(), picked, actor)
                st.rerun()
