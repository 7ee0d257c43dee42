"""The workspace's layout is named in one module (tuning_core/core/workspace.py), and every
module that opens one of its files gets it from there."""

from __future__ import annotations

from pathlib import Path

from tuning_core.core import workspace
from tuning_core.jobs.dispatcher import queue_for
from tuning_core.jobs.queue import JobQueue
from tuning_core.lab.audit import audit_log
from tuning_core.lab.files import lab_dir
from tuning_core.lab.roots import data_roots


def test_every_file_of_a_workspace_comes_from_one_place(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "runs").mkdir(parents=True)
    assert queue_for(root / "runs").path == workspace.queue_path(root) == root / "queue.sqlite3"
    assert audit_log(root).path == workspace.audit_path(root) == root / "audit.jsonl"
    assert lab_dir(root) == workspace.lab_path(root) == root / "lab"
    assert data_roots(workspace=root)[0] == workspace.data_path(root).resolve()
    assert workspace.workspace_of_runs(root / "runs") == root.resolve()


def test_the_default_workspace_follows_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(workspace.ENV_VAR, str(tmp_path / "elsewhere"))
    assert workspace.runs_dir() == (tmp_path / "elsewhere" / "runs").resolve()
    assert JobQueue().path == workspace.queue_path() == workspace.workspace_dir() / "queue.sqlite3"
