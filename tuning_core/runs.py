"""Run folders: create, read, list and delete them; a run's state as read from disk.

A run folder holds ``run.json`` (settings), ``split.json`` (the file split, fixed at
the first start so a resume trains on the same files), ``trials.jsonl``, the
KerasTuner project ``tuner/`` and, after a retrain, ``best/``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .errors import RunError, TuningError
from .pruning import PruneResult, folder_bytes, prune_checkpoints
from .settings import OBJECTIVES, RunConfig
from .triallog import LOG_NAME, TrialLogReader

RUN_FILE = "run.json"
SPLIT_FILE = "split.json"
BEST_DIR = "best"
PROJECT_NAME = "tuner"  # the KerasTuner project folder inside a run


class RunStatus(str, Enum):
    """Where a run stands. Only the job registry knows RUNNING and STOPPING for sure."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    STOPPED = "stopped"
    BUDGET = "budget spent"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def is_active(self) -> bool:
        """True while a thread is training for this run."""
        return self in (RunStatus.RUNNING, RunStatus.STOPPING)

    def is_resumable(self) -> bool:
        """True when resuming would run more trials (KerasTuner reloads the project)."""
        return self in (RunStatus.STOPPED, RunStatus.BUDGET, RunStatus.INTERRUPTED,
                        RunStatus.FAILED, RunStatus.NEW)


_LOG_TO_STATUS = {
    None: RunStatus.NEW, "running": RunStatus.INTERRUPTED, "finished": RunStatus.FINISHED,
    "stopped": RunStatus.STOPPED, "budget": RunStatus.BUDGET, "failed": RunStatus.FAILED,
}


def status_from_log(search_status: str | None) -> RunStatus:
    """A run's status from its log alone: a start without an end means interrupted."""
    return _LOG_TO_STATUS.get(search_status, RunStatus.FAILED)


def create_run(runs_dir: str | Path, config: RunConfig) -> Path:
    """Make a new run folder named after the time and the run's name; write run.json."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(config.created))
    slug = re.sub(r"[^a-z0-9]+", "-", (config.name or config.tuner.tuner).lower()).strip("-")
    base = Path(runs_dir) / f"{stamp}-{slug or 'run'}"
    run_dir, n = base, 1
    while run_dir.exists():
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    run_dir.mkdir(parents=True)
    (run_dir / RUN_FILE).write_text(json.dumps(config.to_dict(), indent=2))
    return run_dir


def load_config(run_dir: str | Path) -> RunConfig:
    """Read a run's settings; RunError when the folder is not a readable run."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder: expected a {RUN_FILE} in it.")
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, TuningError) as error:
        raise RunError(f"{path} cannot be read: {error}") from error


@dataclass
class RunInfo:
    """One line of the Runs page."""

    run_dir: Path
    name: str
    status: RunStatus
    tuner: str
    objective: str
    trials_done: int
    max_trials: int
    best_score: float | None
    created: float
    bytes: int
    has_best: bool


def best_score(reader: TrialLogReader, objective: str) -> float | None:
    """The best score among ended trials, or None before the first one."""
    trials = reader.trials()
    if trials.empty:
        return None
    scores = trials.loc[trials["status"].isin(["completed", "stopped"]), "score"].dropna()
    if scores.empty:
        return None
    return float(scores.max() if OBJECTIVES.get(objective, "max") == "max" else scores.min())


def ended_trials(reader: TrialLogReader) -> int:
    """How many trials have ended (whatever their status)."""
    trials = reader.trials()
    return 0 if trials.empty else int(trials["status"].isin(["completed", "failed", "stopped"]).sum())


def run_info(run_dir: str | Path, active: bool = False) -> RunInfo:
    """Summarise a run folder; ``active`` says a thread is training it now."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    reader = TrialLogReader(run_dir / LOG_NAME)
    reader.poll()
    status = RunStatus.RUNNING if active else status_from_log(reader.search_status)
    return RunInfo(
        run_dir=run_dir, name=config.name or run_dir.name, status=status,
        tuner=config.tuner.tuner, objective=config.tuner.objective,
        trials_done=ended_trials(reader), max_trials=config.tuner.max_trials,
        best_score=best_score(reader, config.tuner.objective), created=config.created,
        bytes=folder_bytes(run_dir), has_best=(run_dir / BEST_DIR / "evaluation.json").is_file(),
    )


def list_runs(runs_dir: str | Path, active: Path | None = None) -> list[RunInfo]:
    """Every readable run under ``runs_dir``, newest first; unreadable folders are left out."""
    infos = []
    for path in Path(runs_dir).glob(f"*/{RUN_FILE}"):
        try:
            infos.append(run_info(path.parent, active=active is not None
                                  and path.parent.resolve() == Path(active).resolve()))
        except RunError:
            continue
    return sorted(infos, key=lambda info: info.created, reverse=True)


def delete_run(run_dir: str | Path, runs_dir: str | Path) -> None:
    """Delete a run folder; refuses anything that is not a run folder inside ``runs_dir``."""
    run_dir, runs_dir = Path(run_dir).resolve(), Path(runs_dir).resolve()
    if run_dir.parent != runs_dir or not (run_dir / RUN_FILE).is_file():
        raise RunError(f"{run_dir} is not a run folder inside {runs_dir}; nothing was deleted.")
    shutil.rmtree(run_dir)


def prune_run(run_dir: str | Path, keep_top: int | None = None) -> PruneResult:
    """Keep only the best ``keep_top`` trial checkpoints of a run (default: its own setting)."""
    config = load_config(run_dir)
    keep = config.tuner.keep_top if keep_top is None else keep_top
    if keep < 1:
        raise RunError(f"keep at least 1 checkpoint; got {keep}.")
    return prune_checkpoints(Path(run_dir) / PROJECT_NAME, keep, config.tuner.direction)
