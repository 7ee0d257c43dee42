"""The runs folder: list, summarise, delete and prune runs (one run is a :class:`RunDir`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .actor import Actor
from .errors import RunError
from .ownership import OwnerInfo
from .permissions import Action
from .pruning import PruneResult, folder_bytes, prune_checkpoints
from .ranking import best_score
from .rundir import RUN_FILE, RunDir, RunSummary, ended_count
from .settings import RunConfig
from .states import RunStatus

__all__ = ["RunStatus", "RunSummary", "active_runs", "create_run", "delete_run", "list_runs",
           "load_config", "prune_run", "summarize"]


def create_run(runs_dir: str | Path, config: RunConfig) -> Path:
    """Make a new run folder for ``config``; returns its path."""
    return RunDir.create(runs_dir, config).path


def load_config(run_dir: str | Path) -> RunConfig:
    """A run's settings; RunError when the folder is not a readable run."""
    return RunDir(run_dir).config()


def summarize(run: RunDir | str | Path) -> RunSummary:
    """A run's state and headline numbers, read from its folder (any process may own it)."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    config = run.config()
    owner = run.owner()
    reader = run.reader()
    return RunSummary(
        run=run, name=config.name or run.name, user=config.owner, status=run.status(owner),
        owner=owner,
        tuner=config.tuner.tuner, objective=config.tuner.objective,
        trials_done=ended_count(reader), max_trials=config.tuner.max_trials,
        best_score=best_score(reader.trials(), run.direction), created=config.created,
        bytes=folder_bytes(run.path), has_best=run.has_best())


def _run_dirs(runs_dir: str | Path) -> list[RunDir]:
    return [RunDir(p.parent) for p in Path(runs_dir).glob(f"*/{RUN_FILE}")]


def list_runs(runs_dir: str | Path) -> list[RunSummary]:
    """Every readable run under ``runs_dir``, newest first; unreadable folders are left out."""
    infos = []
    for run in _run_dirs(runs_dir):
        try:
            infos.append(summarize(run))
        except RunError:
            continue
    return sorted(infos, key=lambda info: info.created, reverse=True)


def active_runs(runs_dir: str | Path) -> list[tuple[RunDir, OwnerInfo]]:
    """The runs some process (here or on another machine) is training now, with their owner."""
    active = []
    for run in _run_dirs(runs_dir):
        owner = run.owner()
        if owner is not None:
            active.append((run, owner))
    return active


def delete_run(run_dir: str | Path, runs_dir: str | Path, actor: Actor | None = None) -> None:
    """Delete a run folder; refuses anything that is not an idle run folder inside ``runs_dir``."""
    actor = actor or Actor()
    run, runs_dir = RunDir(run_dir), Path(runs_dir).resolve()
    if run.path.parent != runs_dir or not run.is_run():
        raise RunError(f"{run.path} is not a run folder inside {runs_dir}; nothing was deleted.")
    actor.check(Action.DELETE, owner=_owner(run), target=run.name)
    lock = run.lock()
    lock.acquire(OwnerInfo.mine("delete", target=run.name))  # refuses while anyone trains it
    try:
        shutil.rmtree(run.path)
    finally:
        lock.release()
    actor.record(Action.DELETE, target=run.name)


def _owner(run: RunDir) -> str | None:
    try:
        return run.config().owner
    except RunError:
        return None  # an unreadable run counts as somebody else's


def prune_run(run_dir: str | Path, keep_top: int | None = None,
              actor: Actor | None = None) -> PruneResult:
    """Keep only the best ``keep_top`` trial checkpoints of a run (default: its own setting)."""
    actor = actor or Actor()
    run = RunDir(run_dir)
    config = run.config()
    actor.check(Action.PRUNE, owner=config.owner, target=run.name)
    keep = config.tuner.keep_top if keep_top is None else keep_top
    if keep < 1:
        raise RunError(f"keep at least 1 checkpoint; got {keep}.")
    lock = run.lock()
    lock.acquire(OwnerInfo.mine("prune", target=run.name))  # Hyperband reloads checkpoints
    try:
        result = prune_checkpoints(run.project_dir, keep, config.tuner.direction)
    finally:
        lock.release()
    actor.record(Action.PRUNE, target=run.name, detail=f"freed {result.bytes_freed} bytes")
    return result
