"""Where everything of a workspace lives: the one place that names its files and folders.

One folder (``$TUNING_WORKSPACE``, else ``workspace/`` in a checkout or a per-user data folder
when installed: ``core.install``) holds the runs, the datasets, the job queue and, in lab mode,
the accounts and the audit log. Every module asks here for a location (a path given explicitly,
as tests and the CLI do, or the default workspace), so the layout is written down once.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuning_core.core.install import default_workspace

ENV_VAR = "TUNING_WORKSPACE"


def workspace_dir() -> Path:
    """The workspace folder: ``$TUNING_WORKSPACE``, else ``install.default_workspace()``."""
    path = Path(os.environ.get(ENV_VAR) or default_workspace()).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """The folder that holds one sub-folder per search run."""
    path = workspace_dir() / RUNS
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The folder for datasets kept in the workspace (the digits sample goes here)."""
    path = workspace_dir() / DATA
    path.mkdir(parents=True, exist_ok=True)
    return path


RUNS, DATA, LAB = "runs", "data", "lab"
QUEUE_FILE, AUDIT_FILE = "queue.sqlite3", "audit.jsonl"


def root_of(workspace: str | Path | None) -> Path:
    """``workspace`` as a path, or the default workspace when None."""
    return Path(workspace) if workspace is not None else workspace_dir()


def workspace_of_runs(runs: str | Path) -> Path:
    """The workspace that holds the runs folder ``runs`` (its parent)."""
    return Path(runs).resolve().parent


def queue_path(workspace: str | Path | None = None) -> Path:
    """The job queue's database: ``<workspace>/queue.sqlite3``."""
    return root_of(workspace) / QUEUE_FILE


def audit_path(workspace: str | Path | None = None) -> Path:
    """The audit log: ``<workspace>/audit.jsonl``."""
    return root_of(workspace) / AUDIT_FILE


def lab_path(workspace: str | Path | None = None) -> Path:
    """Lab mode's folder of accounts, secret and config: ``<workspace>/lab`` (not created)."""
    return root_of(workspace) / LAB


def data_path(workspace: str | Path | None = None) -> Path:
    """The datasets kept in the workspace: ``<workspace>/data`` (not created)."""
    return root_of(workspace) / DATA
