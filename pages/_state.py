"""Typed session state and shared resources of the dashboard pages.

Every page reads and writes the session through these accessors, never through bare string
keys. The session holds small values (paths, settings dataclasses, the search space); the job
registry is one per process (``st.cache_resource``), so a search outlives its browser tab.
The selected run lives in the URL (``?run=<folder name>``) so a reload returns to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from tuning_core import workspace
from tuning_core.dataset import ImageConfig, SplitConfig
from tuning_core.errors import TuningError
from tuning_core.jobs import JobRegistry, get_registry
from tuning_core.runs import RUN_FILE
from tuning_core.settings import TunerSettings
from tuning_core.space import DEFAULT_PRESET, SearchSpace, get_preset

T = TypeVar("T")

RUN_PARAM = "run"
DATA_FOLDER = "data.folder"
IMAGE = "data.image"
SPLIT = "data.split"
SPACE = "space.space"
TUNER = "search.tuner"
RUN = "run.current"
WIDGET_PREFIX = "w:"


@st.cache_resource(show_spinner=False)
def _registry(runs_dir: str) -> JobRegistry:
    return get_registry(Path(runs_dir))


def registry() -> JobRegistry:
    """The process-wide job registry of the workspace's runs folder."""
    return _registry(str(workspace.runs_dir()))


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


def _is_run(path: Path) -> bool:
    return (path / RUN_FILE).is_file()


def run_path(name: str | None) -> Path | None:
    """The run folder called ``name`` in the workspace, or None when there is none."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    path = workspace.runs_dir() / name
    return path if _is_run(path) else None


def select_run(run_dir: Path | None) -> None:
    """Make ``run_dir`` the run every page follows, and put it in the URL."""
    st.session_state[RUN] = run_dir.name if run_dir else None
    if run_dir:
        st.query_params[RUN_PARAM] = run_dir.name
    elif RUN_PARAM in st.query_params:
        del st.query_params[RUN_PARAM]


def _newest_run() -> Path | None:
    runs = sorted(p.parent for p in workspace.runs_dir().glob(f"*/{RUN_FILE}"))
    return runs[-1] if runs else None


def sync_run_with_url() -> Path | None:
    """The current run: from the URL, else the session, else the active one, else the newest.

    Called once per script run by ``app.py``; writes the answer back to both places, so a
    reload (URL only) and a page change (session only) both keep it.
    """
    chosen = run_path(st.query_params.get(RUN_PARAM)) or run_path(st.session_state.get(RUN))
    chosen = chosen or registry().active_run() or _newest_run()
    if chosen is not None and (st.session_state.get(RUN) != chosen.name
                               or st.query_params.get(RUN_PARAM) != chosen.name):
        select_run(chosen)
    return chosen


def current_run() -> Path | None:
    """The run the pages follow (set by :func:`sync_run_with_url` or :func:`select_run`)."""
    return run_path(st.session_state.get(RUN))


@contextmanager
def engine_errors() -> Iterator[None]:
    """Show an engine error as a message (never a traceback); the page goes on below."""
    try:
        yield
    except TuningError as error:
        st.error(str(error))
