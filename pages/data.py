"""Data page: choose an image folder (or the digits sample), see what it holds, set the split."""

from __future__ import annotations

import streamlit as st

from pages.common import auth, state
from pages.views import data_folder as view
from pages.views import data_upload as upload
from tuning_core.core import workspace
from tuning_core.core.errors import TuningError
from tuning_core.data.dataset import DatasetSummary, ImageConfig, SplitConfig, split_files
from tuning_core.data.sample import write_digits
from tuning_core.lab.permissions import Action

FOLDER_KEY = state.widget("data.folder", state.data_folder())
SCANNED = "data.scanned"  # the folder whose suggested settings were applied


def use_folder(folder: str) -> None:
    """Make ``folder`` the dataset (it is scanned below)."""
    state.set_data_folder(folder.strip())
    st.session_state[FOLDER_KEY] = folder.strip()


def on_sample() -> None:
    """Write the digits sample into the workspace and use it."""
    with st.spinner("Writing the digits sample (1,797 images)…"):
        use_folder(str(write_digits(workspace.data_dir() / "digits")))


def on_scan() -> None:
    """Use the folder typed in the text input."""
    use_folder(st.session_state[FOLDER_KEY])


def on_browse() -> None:
    """Use the folder picked in the workspace browser."""
    picked = st.session_state.get("data_browse")
    if picked:
        use_folder(picked)


def folder_picker() -> None:
    """The folder input, its buttons, and the workspace browser."""
    left, mid, right = st.columns([5, 2, 2], vertical_alignment="bottom")
    left.text_input("Image folder", key=FOLDER_KEY,
                    placeholder="/path/to/images (one subfolder per class)")
    mid.button("Scan folder", on_click=on_scan, type="primary")
    refused = auth.refused(Action.SCAN_DATA)
    right.button("Use sample dataset", on_click=on_sample, disabled=bool(refused),
                 help=refused or "Writes scikit-learn's handwritten digits (10 classes) into "
                                 "the workspace.")
    roots = auth.actor().roots
    options = [f for root in roots or [workspace.data_dir()]
               for f in view.browse_folders(root, confine=roots is not None)]
    if options:
        st.selectbox("Or pick a folder in the workspace", options, index=None,
                     key="data_browse", on_change=on_browse, placeholder="Browse…")


def apply_suggestions(summary: DatasetSummary) -> None:
    """On a newly scanned folder, default the image settings from its statistics."""
    if st.session_state.get(SCANNED) == summary.root:
        return
    st.session_state[SCANNED] = summary.root
    state.set_image_config(ImageConfig(summary.suggested_image_size(),
                                       summary.suggested_color_mode()))
    state.reset_widgets("data.image")


def image_settings(summary: DatasetSummary) -> ImageConfig:
    """Image size and colour mode widgets; returns the chosen config."""
    image = state.image_config()
    left, right = st.columns(2)
    size = left.number_input(
        "Image size (pixels, square)", min_value=8, max_value=1024, step=8,
        key=state.widget("data.image_size", image.image_size),
        help=f"Suggested from the median image size: {summary.suggested_image_size()}.")
    mode = right.radio("Colour mode", ["rgb", "grayscale"], horizontal=True,
                       key=state.widget("data.image_mode", image.color_mode))
    return ImageConfig(int(size), mode)


def split_settings() -> SplitConfig:
    """Split fractions, search subset and seed widgets."""
    split = state.split_config()
    cols = st.columns(5)
    fractions = {}
    for col, name in zip(cols[:3], ("train", "val", "test"), strict=True):
        fractions[name] = col.number_input(
            f"{name.capitalize()} fraction", 0.0, 1.0, step=0.05, format="%.2f",
            key=state.widget(f"data.split_{name}", getattr(split, name)))
    subset = cols[3].number_input(
        "Search subset", 0.05, 1.0, step=0.05, format="%.2f",
        key=state.widget("data.subset", split.subset),
        help="Fraction of the training images each search trial trains on; the final "
             "retrain uses all of them.")
    seed = cols[4].number_input("Seed", 0, 2**31 - 1, step=1,
                                key=state.widget("data.seed", split.seed))
    return SplitConfig(train=round(fractions["train"], 4), val=round(fractions["val"], 4),
                       test=round(fractions["test"], 4), seed=int(seed), subset=float(subset))


def settings(summary: DatasetSummary) -> None:
    """Every setting for the search, checked, with the split's sizes."""
    st.subheader("Settings for the search")
    image = image_settings(summary)
    split = split_settings()
    state.set_image_config(image)
    state.set_split_config(split)
    try:
        image.validate()
        split.validate()
        parts = split_files(summary, split)
    except TuningError as error:
        st.error(str(error))
        return
    subset = len(parts.search_train(split.subset, split.seed))
    st.caption(f"Split: {len(parts.train)} training images ({subset} used by each trial), "
               f"{len(parts.val)} validation, {len(parts.test)} test. No image is in two splits.")


st.title("Data")
st.caption("A folder with one subfolder per class (jpg, png, bmp or gif images).")
uploaded = upload.take_uploaded()
if uploaded:
    use_folder(uploaded[0])
    st.success(uploaded[1])
folder_picker()
upload.upload_form()
upload.datasets_table()
folder = state.data_folder()
if not folder:
    st.info("Type a folder and press **Scan folder**, or press **Use sample dataset**.")
else:
    with state.engine_errors():
        auth.actor().check(Action.SCAN_DATA)
        summary = view.scan_folder(str(auth.actor().data_folder(folder)), auth.actor().roots)
        apply_suggestions(summary)
        view.show_summary(summary)
        settings(summary)
