"""Typed accessors of one browser session's form state, and the pages' one import point.

What the pages design before a launch (the data folder, image and split settings, the search
space, the tuner settings) lives in the session under the keys below, read and written only
through these functions; ``widget`` keeps a widget's value across page changes. The run
being followed, the job registry and the engine-error display live in
:mod:`pages.common.run_state` and are re-exported here, so a page imports one module.
"""

from __future__ import annotations

from typing import Any, TypeVar

import streamlit as st

from pages.common.run_state import (  # noqa: F401  (the pages reach these through state)
    RUN,
    RUN_PARAM,
    current_run,
    engine_errors,
    registry,
    run_owner,
    run_path,
    select_run,
    sync_run_with_url,
)
from tuning_core.data.dataset import ImageConfig, SplitConfig
from tuning_core.runs.schema import TunerSettings
from tuning_core.space.presets import DEFAULT_PRESET, get_preset
from tuning_core.space.schema import SearchSpace

T = TypeVar("T")

DATA_FOLDER = "data.folder"
IMAGE = "data.image"
SPLIT = "data.split"
SPACE = "space.space"
TUNER = "search.tuner"
RUN_NAME = "search.run_name"
WIDGET_PREFIX = "w:"


def _get(key: str, default: T) -> T:
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


def data_folder() -> str:
    """The image folder chosen on the Data page ("" before one is chosen)."""
    return _get(DATA_FOLDER, "")


def set_data_folder(folder: str) -> None:
    """Remember the chosen image folder."""
    st.session_state[DATA_FOLDER] = folder


def image_config() -> ImageConfig:
    """Image size and colour mode for the next search."""
    return _get(IMAGE, ImageConfig())


def set_image_config(config: ImageConfig) -> None:
    """Remember the image settings."""
    st.session_state[IMAGE] = config


def split_config() -> SplitConfig:
    """Split fractions, search subset and seed for the next search."""
    return _get(SPLIT, SplitConfig())


def set_split_config(config: SplitConfig) -> None:
    """Remember the split settings."""
    st.session_state[SPLIT] = config


def space() -> SearchSpace:
    """The search space being designed (the default preset until changed)."""
    if SPACE not in st.session_state:
        st.session_state[SPACE] = get_preset(DEFAULT_PRESET)
    return st.session_state[SPACE]


def set_space(value: SearchSpace) -> None:
    """Remember the designed search space."""
    st.session_state[SPACE] = value


def tuner_settings() -> TunerSettings:
    """Tuner settings for the next search."""
    return _get(TUNER, TunerSettings())


def set_tuner_settings(settings: TunerSettings) -> None:
    """Remember the tuner settings."""
    st.session_state[TUNER] = settings


def run_name() -> str:
    """The name typed for the next run ("" for none)."""
    return _get(RUN_NAME, "")


def set_run_name(name: str) -> None:
    """Remember the name typed for the next run (Streamlit forgets the widget's own value
    when its page is left)."""
    st.session_state[RUN_NAME] = name


def widget(name: str, value: Any) -> str:
    """The key of a widget whose value survives page changes, seeded with ``value`` once.

    Streamlit forgets a widget's state when its page is left; our own copy (passed in as
    ``value``) seeds it again on return.
    """
    key = WIDGET_PREFIX + name
    if key not in st.session_state:
        st.session_state[key] = value
    return key


def reset_widgets(prefix: str) -> None:
    """Forget the state of the widgets whose names start with ``prefix`` (re-seeded next run)."""
    for key in [k for k in st.session_state if str(k).startswith(WIDGET_PREFIX + prefix)]:
        del st.session_state[key]
