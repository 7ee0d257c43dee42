"""Where runs and sample data live: one workspace folder, overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TUNING_WORKSPACE"
_DEFAULT = Path(__file__).resolve().parent.parent / "workspace"


def workspace_dir() -> Path:
    """The workspace folder: ``$TUNING_WORKSPACE`` or ``workspace/`` in the checkout."""
    path = Path(os.environ.get(ENV_VAR) or _DEFAULT).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """The folder that holds one sub-folder per search run."""
    path = workspace_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The folder for datasets kept in the workspace (the digits sample goes here)."""
    path = workspace_dir() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path
