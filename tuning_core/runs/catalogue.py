"""The runs folder: list, summarise, delete and prune runs (one run is a :class:`RunDir`)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tuning_core.core import diskspace
from tuning_core.core.errors import RunError, TuningError
from tuning_core.core.states import JobKind, RunStatus
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action
from tuning_core.runs.layout import HOLDER_FILE
from tuning_core.runs.locks import LockHolder
from tuning_core.runs.notes import RunNotes, parse_tags
from tuning_core.runs.pruning import PruneResult, folder_bytes, prune_checkpoints
from tuning_core.runs.rundir import RUN_FILE, RunDir, file_stamp
from tuning_core.runs.runindex import (
    INDEX_FILE,
    RunIndex,
    logged_status,
    read_index,
    refresh,
    write_index,
)
from tuning_core.runs.schema import RunConfig

__all__ = ["PAGE_RUNS", "RunStatus", "RunSummary", "RunsPage", "active_runs", "create_run",
           "delete_run", "edit_notes", "filter_runs", "list_runs", "load_config", "prune_run",
           "runs_page", "summarize"]


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
    bytes: int | None  # None: not walked yet (summarize(wait_for_size=False))
    has_best: bool
    tags: tuple[str, ...] = ()
    notes: str = ""
    dataset: str = ""  # the data folder's name
    end_reason: str | None = None  # why its last search stopped when not asked: "disk full"
    end_message: str | None = None  # that search's end line's words

    @property
    def state(self) -> str:
        """Its status for people: "disk full: 0.7 MB free on /data" for a search its disk
        stopped (the end line's words up to the advice), else the status's label."""
        if self.status is RunStatus.STOPPED and self.end_reason == diskspace.REASON:
            return (self.end_message or diskspace.REASON).split(";")[0]
        return self.status.label


def create_run(runs_dir: str | Path, config: RunConfig) -> Path:
    """Make a new run folder for ``config``; returns its path."""
    return RunDir.create(runs_dir, config).path


def load_config(run_dir: str | Path) -> RunConfig:
    """A run's settings; RunError when the folder is not a readable run."""
    return RunDir(run_dir).config()


class RunIndexes:
    """Each run's index (:mod:`tuning_core.runs.runindex`), kept in this process while the
    files it was read from hold: a list of runs seen before costs a few stat calls a run, a
    fresh server one small file a run; a run that logged since has only its new lines read
    (the search's writer has usually counted them in already)."""

    def __init__(self) -> None:
        self._items: dict[Path, RunIndex] = {}
        self._lock = threading.Lock()

    def get(self, run: RunDir) -> RunIndex:
        """The run's current index; RunError when the folder is not a readable run."""
        with self._lock:
            hit = self._items.get(run.path)
        index, changed = refresh(run.path, hit if hit is not None else read_index(run.path))
        if changed:
            write_index(run.path, index)
        if index is not hit:
            with self._lock:
                self._items[run.path] = index
        return index

    def set_bytes(self, run: RunDir, size: int) -> None:
        """Remember a walked size in the run's index, so a fresh server shows it at once."""
        with self._lock:
            hit = self._items.get(run.path)
        if hit is not None and hit.bytes != size:
            with self._lock:
                self._items[run.path] = hit.with_bytes(size)
            write_index(run.path, hit.with_bytes(size))

    def forget(self, path: Path) -> None:
        with self._lock:
            self._items.pop(path, None)


INDEXES = RunIndexes()


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
        self._pending: dict[Path, tuple[RunDir, bool]] = {}  # walks to do in the background
        self._walker: threading.Thread | None = None

    def get(self, run: RunDir, training: bool, wait: bool = True,
            known: int | None = None) -> int | None:
        """The folder's size. With ``wait`` False, when it must be walked again: the last size
        known (else ``known``, the index's) at once, and the walk done in the background (a
        fresh list of 1,000 runs waits for no walk; the next list shows the sizes)."""
        key = (training, None if training else file_stamp(run.log_path))
        now = self._clock()
        with self._lock:
            hit = self._items.get(run.path)
        if hit and hit[1] == key and now - hit[0] < self.TTL_S[training]:
            return hit[2]
        if not wait:
            if hit is None and known is not None and not training:
                # the index's size, as a previous walk left it: trusted for one ``ttl``, so a
                # fresh server's first list of 1,000 runs does not walk them all beside the
                # page's first draw (0.7 s of CPU); walked again when it is asked after that
                with self._lock:
                    self._items[run.path] = (now, key, known)
                return known
            self._later(run, training)
            return hit[2] if hit else known
        return self._measure(run, key, now)

    def _measure(self, run: RunDir, key: tuple, now: float) -> int:
        stamp = file_stamp(run.file(INDEX_FILE))  # the run without its index, which holds it
        size = self._walk(run.path) - (stamp[1] if stamp else 0)
        with self._lock:
            self._items[run.path] = (now, key, size)
        INDEXES.set_bytes(run, size)
        return size

    def _later(self, run: RunDir, training: bool) -> None:
        with self._lock:
            self._pending[run.path] = (run, training)
            if self._walker is not None and self._walker.is_alive():
                return
            self._walker = threading.Thread(target=self._walk_pending, daemon=True,
                                            name="disk-sizes")
        self._walker.start()

    def _walk_pending(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._walker = None
                    return
                _, (run, training) = self._pending.popitem()
            key = (training, None if training else file_stamp(run.log_path))
            try:
                self._measure(run, key, self._clock())
            except OSError:
                continue  # deleted meanwhile

    def forget(self, path: str | Path) -> None:
        with self._lock:
            self._items.pop(Path(path).resolve(), None)


DISK_SIZES = DiskSizes()


def summarize(run: RunDir | str | Path, wait_for_size: bool = True) -> RunSummary:
    """A run's state and headline numbers (any process may own it), from its index
    (:class:`RunIndexes`) and the files that change without a log line: holder, notes, best
    model. ``wait_for_size`` False: the disk size known so far (None before any), walked in
    the background."""
    run = run if isinstance(run, RunDir) else RunDir(run)
    index = INDEXES.get(run)
    holder = run.holder()
    status = logged_status(index.search_status)
    if holder is not None and holder.kind == JobKind.SEARCH.value:
        status = RunStatus.STOPPING if run.stop_requested() else RunStatus.RUNNING
    return RunSummary(
        run=run, name=index.label or index.name or run.name, user=index.owner, status=status,
        holder=holder, tuner=index.tuner, objective=index.objective,
        trials_done=index.trials_done, max_trials=index.max_trials,
        best_score=index.best_score, created=index.created,
        bytes=DISK_SIZES.get(run, holder is not None, wait_for_size, index.bytes),
        has_best=run.has_best(), tags=index.tags, notes=index.notes_text, dataset=index.dataset,
        end_reason=index.end_reason, end_message=index.end_message)


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
    """Every folder of ``runs_dir`` with a run.json; ``runs_dir`` is resolved once, and each
    plain folder in it is made a run without resolving its path again (a link is)."""
    folder = Path(runs_dir).resolve()
    try:
        entries = os.scandir(folder)
    except OSError:
        return []
    with entries:
        return [RunDir(e.path) if e.is_symlink() else RunDir.real(folder / e.name)
                for e in entries if os.path.exists(os.path.join(e.path, RUN_FILE))]


def list_runs(runs_dir: str | Path, wait_for_size: bool = True) -> list[RunSummary]:
    """Every readable run under ``runs_dir``, newest first; unreadable folders are left out
    (``wait_for_size``: see :func:`summarize`)."""
    infos = []
    for run in _run_dirs(runs_dir):
        try:
            infos.append(summarize(run, wait_for_size))
        except RunError:
            continue
    return sorted(infos, key=lambda info: info.created, reverse=True)


def active_runs(runs_dir: str | Path) -> list[tuple[RunDir, LockHolder]]:
    """The runs some process (here or on another machine) is training now, with their holder.

    Only folders with a lock holder's record can have a holder (:meth:`RunDir.holder`), and
    only those are made into runs and asked: every page run and every live answer asks this,
    and at 1,000 runs making each a run folder object took 0.1-0.4 s a call here."""
    active = []
    for path in _held_dirs(runs_dir):
        run = RunDir(path)
        holder = run.holder() if run.is_run() else None
        if holder is not None:
            active.append((run, holder))
    return active


def _held_dirs(runs_dir: str | Path) -> list[str]:
    try:
        entries = os.scandir(runs_dir)
    except OSError:
        return []
    with entries:
        return [e.path for e in entries if os.path.exists(os.path.join(e.path, HOLDER_FILE))]


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
        INDEXES.forget(run.path)
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


PAGE_RUNS = 50  # runs a page of the Runs table shows: 1,000 rows were 1,000 table rows to
# send and draw at every live redraw, and the picker's 1,000 options


@dataclass(frozen=True)
class RunsPage:
    """One page of a list of runs: its runs, how many matched the filters, how many there
    are, which page (from 0, clamped to the last) of how many."""

    runs: list[RunSummary]
    matching: int
    total: int
    page: int
    pages: int
    size: int = PAGE_RUNS

    def describe(self) -> str:
        """"runs 51-100 of 420 (filtered from 1,000)"."""
        if not self.matching:
            return f"no run of {self.total:,} matches"
        first = self.page * self.size + 1
        text = f"runs {first:,}-{first + len(self.runs) - 1:,} of {self.matching:,}"
        return text + (f" (filtered from {self.total:,})" if self.matching < self.total else "")


def runs_page(summaries: Sequence[RunSummary], page: int = 0, size: int | None = None,
              total: int | None = None, **chosen) -> RunsPage:
    """Page ``page`` of the runs that pass the filters ``chosen`` (see :func:`filter_runs`),
    in the order given, ``size`` runs a page (default ``PAGE_RUNS``); ``total``: how many
    runs there are (default: ``len(summaries)``)."""
    size = size or PAGE_RUNS
    kept = filter_runs(summaries, **chosen)
    pages = max(1, -(-len(kept) // size))
    page = min(max(page, 0), pages - 1)
    return RunsPage(kept[page * size:(page + 1) * size], len(kept),
                    len(summaries) if total is None else total, page, pages, size)


def _searchable(summary: RunSummary) -> str:
    return "\n".join([summary.name, summary.run.name, summary.notes, *summary.tags]).lower()
