"""The runs folder: list, summarise, delete and prune runs (one run is a :class:`RunDir`)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tuning_core.core.errors import RunError, TuningError
from tuning_core.core.states import RunStatus
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action
from tuning_core.runs import trialtable
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.notes import RunNotes, parse_tags
from tuning_core.runs.pruning import PruneResult, folder_bytes, prune_checkpoints
from tuning_core.runs.ranking import best_score
from tuning_core.runs.rundir import RUN_FILE, RunDir, file_stamp
from tuning_core.runs.schema import RunConfig

__all__ = ["RunStatus", "RunSummary", "active_runs", "create_run", "delete_run", "edit_notes",
           "filter_runs", "list_runs", "load_config", "prune_run", "summarize"]


@dataclass
class RunSummary:
    """A run's headline numbers for the Runs page, the sidebar and the CLI."""

    run: RunDir
    name: str  # what people call it: notes name, else run.json's name, else the folder
    user: str  # who launched it (lab mode), "" otherwise
    status: RunStatus
    holder: LockHolder | None  # the process training it now, if any
    tuner: str
    objective: str
    trials_done: int
    max_trials: int
    best_score: float | None
    created: float
    bytes: int
    has_best: bool
    tags: tuple[str, ...] = ()
    notes: str = ""
    dataset: str = ""  # the data folder's name


def create_run(runs_dir: str | Path, config: RunConfig) -> Path:
    """Make a new run folder for ``config``; returns its path."""
    return RunDir.create(runs_dir, config).path


def load_config(run_dir: str | Path) -> RunConfig:
    """A run's settings; RunError when the folder is not a readable run."""
    return RunDir(run_dir).config()


class DiskSizes:
    """Disk use per run folder, shared by every page and viewer of this process.

    Walking a run of 680 trials (1,100 files) takes ~56 ms, and every viewer's Runs table
    asked for every run on each live redraw (benchmark figure 11). A size is walked again
    when it is older than ``ttl`` for its state (a training run grows all the time, an idle
    one only changes by a prune or a retrain, which end its training state), when the run's
    log changed while idle, or when this process pruned it (:meth:`forget`); a prune by
    another process shows within the idle ``ttl``.
    """

    TTL_S: ClassVar[dict[bool, float]] = {True: 10.0, False: 60.0}  # seconds kept: training, idle

    def __init__(self, walk: Callable[[Path], int] = folder_bytes,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._walk, self._clock = walk, clock
        self._items: dict[Path, tuple[float, tuple, int]] = {}
        self._lock = threading.Lock()

    def get(self, run: RunDir, training: bool) -> int:
        key = (training, None if training else file_stamp(run.log_path))
        now = self._clock()
        with self._lock:
            hit = self._items.get(run.path)
        if hit and hit[1] == key and now - hit[0] < self.TTL_S[training]:
            return hit[2]
        size = self._walk(run.path)
        with self._lock:
            self._items[run.path] = (now, key, size)
        return size

    def forget(self, path: str | Path) -> None:
        with self._lock:
            self._items.pop(Path(path).resolve(), None)


DISK_SIZES = DiskSizes()


def summarize(run: RunDir | str | Path) -> RunSummary:
    """A run's state and headline numbers, read from its folder (any process may own it)."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    config = run.config()
    holder = run.holder()
    reader = run.reader()
    notes = _notes_or_none(run)
    return RunSummary(
        run=run, name=run.display_name(notes), user=config.owner, status=run.status(holder),
        holder=holder,
        tuner=config.tuner.tuner, objective=config.tuner.objective,
        trials_done=trialtable.ended_count(reader.trials()), max_trials=config.tuner.max_trials,
        best_score=best_score(reader.trials(), run.direction), created=config.created,
        bytes=DISK_SIZES.get(run, holder is not None), has_best=run.has_best(), tags=notes.tags,
        notes=notes.notes, dataset=run.dataset)


def _notes_or_none(run: RunDir) -> RunNotes:
    try:
        return run.notes()
    except RunError:
        return RunNotes()  # a hand-broken notes.json must not hide the run from the list


NAME_MAX = 255  # the longest file name Linux and macOS take


def run_named(runs_dir: str | Path, name: str | None) -> Path | None:
    """The run folder ``name`` in ``runs_dir``, or None: no such run, or not a plain folder
    name (empty, ".", "..", a path, a NUL, too long): a name from a URL never leads out."""
    if not name or name in (".", "..") or len(name.encode(errors="replace")) > NAME_MAX \
            or any(c in name for c in "/\\\0"):
        return None
    path = Path(runs_dir) / name
    return path if RunDir(path).is_run() else None


def launcher(run_dir: str | Path) -> str:
    """Who launched the run (lab mode), "" for runs made in local mode or unreadable ones."""
    try:
        return RunDir(run_dir).config().owner
    except TuningError:
        return ""


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


def active_runs(runs_dir: str | Path) -> list[tuple[RunDir, LockHolder]]:
    """The runs some process (here or on another machine) is training now, with their holder."""
    active = []
    for run in _run_dirs(runs_dir):
        holder = run.holder()
        if holder is not None:
            active.append((run, holder))
    return active


def delete_run(run_dir: str | Path, runs_dir: str | Path, actor: Actor | None = None) -> None:
    """Delete a run folder; refuses anything that is not an idle run folder inside ``runs_dir``."""
    actor = actor or Actor()
    run, runs_dir = RunDir(run_dir), Path(runs_dir).resolve()
    if run.path.parent != runs_dir or not run.is_run():
        raise RunError(f"{run.path} is not a run folder inside {runs_dir}; nothing was deleted.")
    actor.check(Action.DELETE, owner=_owner(run), target=run.name)
    lock = run.lock()
    lock.acquire(LockHolder.mine("delete", target=run.name))  # refuses while anyone trains it
    try:
        shutil.rmtree(run.path)
    finally:
        lock.release()
        DISK_SIZES.forget(run.path)
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
    lock.acquire(LockHolder.mine("prune", target=run.name))  # Hyperband reloads checkpoints
    try:
        result = prune_checkpoints(run.project_dir, keep, config.tuner.direction)
    finally:
        lock.release()
        DISK_SIZES.forget(run.path)
    actor.record(Action.PRUNE, target=run.name, detail=f"freed {result.bytes_freed} bytes")
    return result


def edit_notes(run_dir: str | Path, name: str, notes: str, tags: Iterable[str] | str,
               actor: Actor | None = None, clock: Callable[[], float] = time.time) -> RunNotes:
    """Set a run's display name, notes and tags; returns what was written.

    ``tags`` is a list, or one line as typed ("cnn, baseline"). Allowed to the run's launcher
    and to admins (anyone in local mode). Raises PermissionDeniedError (audited) for anyone
    else, NotesError for a name, notes or tags over their limits, RunError when the folder
    is not a readable run.
    """
    actor = actor or Actor()
    run = RunDir(run_dir)
    actor.check(Action.EDIT_NOTES, owner=run.config().owner, target=run.name)
    tags = parse_tags(tags) if isinstance(tags, str) else tags  # not one tag per character
    edited = RunNotes(name, notes, tuple(tags), clock(), actor.name).validated()
    run.write_notes(edited)
    actor.record(Action.EDIT_NOTES, target=run.name,
                 detail=f"name {edited.name!r}, tags {', '.join(edited.tags) or 'none'}")
    return edited


def filter_runs(summaries: Sequence[RunSummary], owner: str | None = None,
                status: RunStatus | None = None, dataset: str | None = None,
                tag: str | None = None, text: str | None = None) -> list[RunSummary]:
    """The runs matching every filter given, in the order given (None means any).

    ``owner`` "" matches the runs made in local mode; an empty ``dataset``, ``tag`` or
    ``text`` means any. ``text`` matches, ignoring case, the display name, folder name,
    notes and tags.
    """
    needle = (text or "").strip().lower()
    return [s for s in summaries
            if (owner is None or s.user == owner) and (status is None or s.status is status)
            and (not dataset or s.dataset == dataset) and (not tag or tag.lower() in s.tags)
            and (not needle or needle in _searchable(s))]


def _searchable(summary: RunSummary) -> str:
    return "\n".join([summary.name, summary.run.name, summary.notes, *summary.tags]).lower()
