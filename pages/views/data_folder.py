"""Presentation helpers of the Data page: cached scan, folder browser, warnings, views.

The Search page's time budget (``search_budget``) scans through :func:`scan_folder` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from tuning_core.analysis import charts
from tuning_core.data.dataset import DatasetSummary, SizeStats, class_warnings, scan

THUMBNAILS_PER_CLASS = 6
MAX_THUMBNAIL_CLASSES = 20
MAX_BROWSE = 300


def folder_signature(folder: str) -> tuple[float, ...]:
    """Modification times of the folder and its class subfolders: changes when files do."""
    root = Path(folder).expanduser()
    try:
        subfolders = sorted(p for p in root.iterdir() if p.is_dir())
        return (root.stat().st_mtime, *(p.lstat().st_mtime for p in subfolders))
    except OSError:
        return ()


@st.cache_data(show_spinner="Scanning the folder…", max_entries=16)
def _cached_scan(folder: str, signature: tuple[float, ...],
                 roots: tuple[str, ...] | None) -> DatasetSummary:
    return scan(folder, [Path(r) for r in roots] if roots else None)


def scan_folder(folder: str, roots: Sequence[Path] | None = None) -> DatasetSummary:
    """The scan of ``folder``, cached until a file in it changes; DatasetError when unusable.

    ``roots`` (lab mode): files and class folders that links lead out of them are skipped.
    """
    return _cached_scan(str(Path(folder).expanduser()), folder_signature(folder),
                        tuple(str(r) for r in roots) if roots else None)


def browse_folders(root: Path, depth: int = 2, confine: bool = False) -> list[str]:
    """Folders below ``root`` (up to ``depth`` levels) that hold subfolders: dataset candidates.

    ``confine`` (lab mode): a folder that a link leads out of ``root`` is not listed.
    """
    found: list[str] = []
    level, real = [root], root.resolve()
    for _ in range(depth):
        level = [c for p in level for c in _subfolders(p)
                 if not confine or c.resolve().is_relative_to(real)]
        found += [str(p) for p in level if _subfolders(p)]
        if len(found) > MAX_BROWSE:
            break
    return sorted(found)[:MAX_BROWSE]


def _subfolders(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


def size_table(stats: SizeStats) -> pd.DataFrame:
    """Min, median and max of image width and height."""
    return pd.DataFrame({"min": [stats.min_width, stats.min_height],
                         "median": [stats.median_width, stats.median_height],
                         "max": [stats.max_width, stats.max_height]},
                        index=["width (px)", "height (px)"])


def show_summary(summary: DatasetSummary) -> None:
    """Counts chart, warnings, skipped files, size statistics and thumbnails."""
    cols = st.columns(3)
    cols[0].metric("Classes", len(summary.classes))
    cols[1].metric("Images", summary.num_images)
    cols[2].metric("Skipped files", len(summary.skipped))
    for warning in class_warnings(summary.counts):
        st.warning(warning)
    st.plotly_chart(charts.class_counts_figure(summary.counts), key="data_counts",
                    width="stretch")
    left, right = st.columns(2)
    with left:
        st.subheader("Image sizes")
        st.dataframe(size_table(summary.size_stats))
        modes = ", ".join(f"{m}: {n}" for m, n in sorted(summary.color_modes.items()))
        st.caption(f"Colour modes: {modes}")
    with right:
        st.subheader("Skipped files")
        if summary.skipped:
            st.dataframe(pd.DataFrame([vars(s) for s in summary.skipped]), hide_index=True)
        else:
            st.caption("None: every file is a usable image.")
    with st.expander("A few images per class", expanded=True):
        show_thumbnails(summary)


def show_thumbnails(summary: DatasetSummary, per_class: int = THUMBNAILS_PER_CLASS) -> None:
    """A row of the first few images of each class."""
    root = Path(summary.root)
    for name in summary.classes[:MAX_THUMBNAIL_CLASSES]:
        paths = [str(root / p) for p in summary.files[name][:per_class]]
        st.caption(f"{name} ({len(summary.files[name])} images)")
        st.image(paths, width=72)
    if len(summary.classes) > MAX_THUMBNAIL_CLASSES:
        st.caption(f"… and {len(summary.classes) - MAX_THUMBNAIL_CLASSES} more classes.")
