"""Widgets of the Search space page that are not tables: block counts, training, presets, JSON."""

from __future__ import annotations

import streamlit as st

from pages.common import state
from pages.views import space_tables as tables
from tuning_core.core.errors import TuningError
from tuning_core.space.presets import PRESETS
from tuning_core.space.schema import (
    MAX_BLOCKS,
    OPTIMIZERS,
    IntRange,
    SearchSpace,
    Toggle,
    TrainingSpace,
)

CONV_TABLE = "space_conv_table"
DENSE_TABLE = "space_dense_table"
UPLOAD = "space_upload"
UPLOAD_ERROR = "space.upload_error"
LR_GRID = [m * 10.0 ** e for e in range(-6, 0) for m in (1, 2, 5)] + [1.0]
BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512]


def reset_editors() -> None:
    """Forget widget and table edits, so they are drawn again from the stored space."""
    state.reset_widgets("space.")
    for key in (CONV_TABLE, DENSE_TABLE):
        st.session_state.pop(key, None)


def apply_preset() -> None:
    """Replace the designed space with the chosen preset."""
    name = st.session_state[state.WIDGET_PREFIX + "space.preset"]
    state.set_space(PRESETS[name].build())
    reset_editors()


def load_upload() -> None:
    """Replace the designed space with an uploaded JSON one."""
    upload = st.session_state.get(UPLOAD)
    st.session_state[UPLOAD_ERROR] = None
    if upload is None:
        return
    try:
        state.set_space(SearchSpace.from_json(upload.getvalue().decode("utf-8", "replace")))
        reset_editors()
    except TuningError as error:
        st.session_state[UPLOAD_ERROR] = f"{upload.name}: {error}"


def preset_picker() -> None:
    """Preset choice, its description, and the button that applies it."""
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    name = left.selectbox("Preset", list(PRESETS), format_func=lambda n: PRESETS[n].title,
                          key=state.widget("space.preset", "small"))
    right.button("Apply preset", on_click=apply_preset)
    st.caption(PRESETS[name].description)


def block_range(label: str, name: str, current: IntRange, low: int) -> IntRange:
    """A two-handle slider for a block count; changing the maximum resets that table."""
    lo, hi = st.slider(label, low, MAX_BLOCKS, key=state.widget(name, (current.min, current.max)))
    return IntRange(lo, hi)


def table(frame, key: str, columns: dict) -> object:
    """An editable block table with a fixed number of rows."""
    return st.data_editor(frame, key=key, column_config=columns, num_rows="fixed",
                          width="stretch")


SMOOTHING_GRID = (0.0, 0.05, 0.1, 0.2)


def _lr_options(t: TrainingSpace) -> list[float]:
    return sorted(set(LR_GRID) | {t.learning_rate_min, t.learning_rate_max})


def training(t: TrainingSpace) -> TrainingSpace:
    """Optimizers, learning-rate range (log grid), batch sizes and augmentation switches."""
    optimizers = st.multiselect("Optimizers", list(OPTIMIZERS),
                                key=state.widget("space.optimizers", list(t.optimizers)))
    # value= rather than a seeded key: a select_slider is a range only when value is a tuple
    lr = st.select_slider("Learning rate (log scale)", _lr_options(t),
                          value=(t.learning_rate_min, t.learning_rate_max),
                          format_func=lambda v: f"{v:.0e}",
                          key=state.WIDGET_PREFIX + "space.lr")
    sizes = sorted(set(BATCH_SIZES) | set(t.batch_sizes))
    batch = st.multiselect("Batch sizes", sizes,
                           key=state.widget("space.batch", list(t.batch_sizes)))
    cols = st.columns(3)
    toggles = {name: cols[i].radio(f"Augment: {name}", [x.value for x in Toggle], horizontal=True,
                                   key=state.widget(f"space.{name}", getattr(t, name).value))
               for i, name in enumerate(("flip", "rotation", "zoom"))}
    left, right = st.columns(2)
    options = sorted(set(SMOOTHING_GRID) | set(t.label_smoothing))
    smoothing = left.multiselect(
        "Label smoothing", options, key=state.widget("space.smoothing", list(t.label_smoothing)),
        help="For folders with some wrong labels: the loss trusts each label a little less "
             "(0: plain cross-entropy). Several values: the search tunes it.")
    weights = right.radio(
        "Class weights (balanced)", [x.value for x in Toggle], horizontal=True,
        key=state.widget("space.class_weights", t.class_weights.value),
        help="For rare classes: each class weighs the same in the loss, however few images "
             "it has.")
    return TrainingSpace(list(optimizers), float(lr[0]), float(lr[1]), list(batch),
                         **{k: Toggle(v) for k, v in toggles.items()},
                         label_smoothing=[float(v) for v in smoothing] or [0.0],
                         class_weights=Toggle(weights))


def share(space: SearchSpace) -> None:
    """Download the space as JSON, or upload one shared by a colleague."""
    left, right = st.columns(2)
    left.download_button("Download space (JSON)", space.to_json(), "search_space.json",
                         mime="application/json", on_click="ignore")
    right.file_uploader("Upload a space (JSON)", type=["json"], key=UPLOAD,
                        on_change=load_upload)
    if st.session_state.get(UPLOAD_ERROR):
        st.error(st.session_state[UPLOAD_ERROR])


def show_issues(issues: list[tables.Issue], prefixes: tuple[str, ...]) -> None:
    """The problems of one section, right below it."""
    for message in tables.issues_under(issues, prefixes):
        st.error(message)
