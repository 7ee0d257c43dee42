"""The dashboard's classify jobs: a folder (or an upload) classified in the background.

Jobs wait in this process's queue and run one at a time in one thread, so a lab that
queues three folders gets them in order, each with one model load. Each job is a folder
``classify/jobs/<id>/`` of its run: ``job.json`` (:class:`ClassifyJob`: what, whose,
where it stands), ``results.csv`` (:func:`tuning_core.model.classify.classify_folder`
appends to it batch by batch) and ``uploads/`` for uploaded images. The thread writes only
these files; the Best model page reads them. Stop is cooperative (after the current batch,
also from another process through ``stop.request``); Resume queues the same job again and
the CSV goes on where it stopped. After a restart a job that was queued or running here is
shown as interrupted, and Resume continues it.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from tuning_core.core import atomic, control
from tuning_core.core.errors import RunError, TuningError
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action
from tuning_core.model.classify import (
    DEFAULT_THRESHOLD,
    ClassifyFormat,
    ClassifyProgress,
    check_format,
    classify_folder,
    folder_images,
)
from tuning_core.runs.rundir import RunDir

__all__ = ["ClassifyState", "ClassifyJob", "ClassifyQueue", "classify_queue", "JOBS_DIR"]

JOBS_DIR = "classify/jobs"
JOB_FILE = "job.json"
WRITE_EVERY_S = 0.5  # the job file is rewritten at most this often while a job runs


class ClassifyState(str, Enum):
    """Where a classify job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # queued or running in a process that is gone

    def is_active(self) -> bool:
        return self in (ClassifyState.QUEUED, ClassifyState.RUNNING)

    def is_resumable(self) -> bool:
        return self in (ClassifyState.STOPPED, ClassifyState.INTERRUPTED, ClassifyState.FAILED)


@dataclass
class ClassifyJob:
    """One classify job as ``job.json`` holds it."""

    id: str
    run_dir: str
    folder: str
    format: str = ClassifyFormat.KERAS.value
    threshold: float = DEFAULT_THRESHOLD
    owner: str = ""
    state: ClassifyState = ClassifyState.QUEUED
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    done: int = 0
    total: int = 0
    unreadable: int = 0
    images_per_second: float = 0.0
    message: str = ""
    result: dict[str, Any] | None = field(default=None)

    @property
    def path(self) -> Path:
        """The job's folder."""
        return RunDir(self.run_dir).file(JOBS_DIR) / self.id

    @property
    def csv_path(self) -> Path:
        return self.path / "results.csv"

    @property
    def stop_path(self) -> Path:
        return self.path / "stop.request"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifyJob:
        return cls(**{**data, "state": ClassifyState(data["state"])})

    def save(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.path / JOB_FILE, self.to_dict(), indent=1)


class ClassifyQueue:
    """This process's classify jobs: submitted, queued, run one at a time (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[ClassifyJob] = deque()
        self._known: set[str] = set()  # ids queued or running in this process
        self._thread: threading.Thread | None = None

    def submit(self, run_dir: str | Path, folder: str | Path | None = None,
               fmt: ClassifyFormat | str = ClassifyFormat.KERAS,
               threshold: float = DEFAULT_THRESHOLD, actor: Actor | None = None,
               uploads: list[tuple[str, bytes]] | None = None) -> ClassifyJob:
        """Queue a folder (within the data roots in lab mode) or uploaded images.

        Refused at once, with one reason, for a role that may not classify this run, a
        folder outside the roots or without images, a bad threshold or a missing export.
        """
        run, actor = RunDir(run_dir), actor or Actor()
        actor.check(Action.CLASSIFY, owner=run.config().owner, target=run.name)
        fmt = ClassifyFormat(fmt)
        check_format(run.path, fmt, threshold)
        job = ClassifyJob(id=time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2),
                          run_dir=str(run.path), folder="", format=fmt.value,
                          threshold=threshold, owner=actor.record_name, created=time.time())
        if uploads:
            job.folder = str(_write_uploads(job.path / "uploads", uploads))
        elif folder:
            job.folder = str(actor.data_folder(folder))
        else:
            raise RunError("choose a folder of images or upload some to classify.")
        job.total = len(folder_images(job.folder))
        job.save()
        self._enqueue(job)
        actor.record(Action.CLASSIFY, target=run.name,
                     detail=f"{job.total} images of {job.folder} ({fmt.value}), job {job.id}")
        return job

    def resume(self, job: ClassifyJob, actor: Actor | None = None) -> ClassifyJob:
        """Queue a stopped, failed or interrupted job again; its CSV goes on where it was."""
        actor = actor or Actor()
        actor.check(Action.CLASSIFY, owner=RunDir(job.run_dir).config().owner,
                    target=RunDir(job.run_dir).name)
        if not job.state.is_resumable():
            raise RunError(f"classify job {job.id} is {job.state.value}; only a stopped, "
                           "failed or interrupted one resumes.")
        job = replace(job, state=ClassifyState.QUEUED, message="", ended=None)
        job.stop_path.unlink(missing_ok=True)
        job.save()
        self._enqueue(job)
        actor.record(Action.CLASSIFY, target=RunDir(job.run_dir).name, detail=f"resume {job.id}")
        return job

    def stop(self, job: ClassifyJob, actor: Actor | None = None) -> None:
        """Stop a running job after its current batch, or take a queued one off the queue."""
        actor = actor or Actor()
        actor.check(Action.CLASSIFY, owner=RunDir(job.run_dir).config().owner,
                    target=RunDir(job.run_dir).name)
        with self._lock:
            queued = [j for j in self._waiting if j.id == job.id]
            for j in queued:
                self._waiting.remove(j)
                self._known.discard(j.id)
        if queued:
            replace(job, state=ClassifyState.STOPPED, ended=time.time()).save()
            return
        job.stop_path.touch()
        control.request_stop(_key(job))

    def jobs(self, run_dir: str | Path) -> list[ClassifyJob]:
        """The run's classify jobs, newest first; one active in a gone process shows as
        interrupted."""
        folder = RunDir(run_dir).file(JOBS_DIR)
        found = []
        for path in folder.glob(f"*/{JOB_FILE}") if folder.is_dir() else []:
            try:
                job = ClassifyJob.from_dict(json.loads(path.read_text()))
            except (ValueError, KeyError, TypeError):
                continue  # a job file half written by a killed process: skipped
            if job.state.is_active() and job.id not in self._known:
                job = replace(job, state=ClassifyState.INTERRUPTED)
            found.append(job)
        return sorted(found, key=lambda j: j.created, reverse=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty and its thread idle; False on timeout."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _enqueue(self, job: ClassifyJob) -> None:
        with self._lock:
            self._waiting.append(job)
            self._known.add(job.id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain, daemon=True,
                                                name="classify-jobs")
                self._thread.start()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._thread = None
                    return
                job = self._waiting.popleft()
            try:
                _run(job)
            finally:
                with self._lock:
                    self._known.discard(job.id)


def _key(job: ClassifyJob) -> str:
    return f"classify:{job.path}"


def _run(job: ClassifyJob) -> None:
    """Run one job, keeping ``job.json`` current; every error ends it as failed, said."""
    stop = control.register(_key(job), stop_file=str(job.stop_path))
    job = replace(job, state=ClassifyState.RUNNING, started=time.time())
    job.save()
    last = [0.0]

    def progress(now: ClassifyProgress) -> None:
        job.done, job.total, job.unreadable = now.done, now.total, now.unreadable
        job.images_per_second = round(now.images_per_second, 1)
        if time.monotonic() - last[0] >= WRITE_EVERY_S:
            last[0] = time.monotonic()
            job.save()
    try:
        result = classify_folder(job.run_dir, job.folder, job.csv_path, job.format,
                                 job.threshold, should_stop=stop.should_end, progress=progress)
        job.result, job.done = result.to_dict(), result.classified + result.unreadable
        job.state = ClassifyState.STOPPED if result.stopped else ClassifyState.FINISHED
    except TuningError as error:
        job.state, job.message = ClassifyState.FAILED, str(error)
    except Exception as error:  # the page must see why, not a job that never ends
        job.state, job.message = ClassifyState.FAILED, f"{type(error).__name__}: {error}"
    finally:
        control.unregister(_key(job))
        job.stop_path.unlink(missing_ok=True)
        job.ended = time.time()
        job.save()


def _write_uploads(folder: Path, uploads: list[tuple[str, bytes]]) -> Path:
    """Uploaded images under their bare names (a path in a name is dropped)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in uploads:
        (folder / (Path(name).name or "image")).write_bytes(data)
    return folder


_QUEUE = ClassifyQueue()


def classify_queue() -> ClassifyQueue:
    """The process's classify queue (the dashboard's, shared by every session)."""
    return _QUEUE
