"""Work that must not block a page: explanations and data checks, one thread per task.

A task is keyed by its kind and run; a second start of the same task while it runs is
refused (False), not queued. The thread writes only the run folder; the pages read what it
wrote and poll the task's state (no ``st.*`` from the thread). The state lives in this
process: after a restart a task that was running is simply gone, and the files it would
have swapped in are not there, so the page offers to start it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from tuning_core.core.errors import TuningError


class TaskStatus(Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    def is_active(self) -> bool:
        return self is TaskStatus.RUNNING


@dataclass(frozen=True)
class TaskState:
    """Where a background task stands; ``message`` says why it failed."""

    kind: str
    run: str
    status: TaskStatus
    started: float
    ended: float | None = None
    message: str = ""


class Tasks:
    """The process's background tasks (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], TaskState] = {}
        self._threads: dict[tuple[str, str], threading.Thread] = {}

    def start(self, kind: str, run_dir: str | Path, work: Callable[[], object]) -> bool:
        """Run ``work`` in a thread; False when this task of this run is already running."""
        key = (kind, str(Path(run_dir).resolve()))
        with self._lock:
            if key in self._states and self._states[key].status.is_active():
                return False
            self._states[key] = TaskState(kind, key[1], TaskStatus.RUNNING, time.time())
            thread = threading.Thread(target=self._run, args=(key, work), daemon=True,
                                      name=f"{kind}:{Path(key[1]).name}")
            self._threads[key] = thread
        thread.start()
        return True

    def _run(self, key: tuple[str, str], work: Callable[[], object]) -> None:
        status, message = TaskStatus.DONE, ""
        try:
            work()
        except TuningError as error:
            status, message = TaskStatus.FAILED, str(error)
        except Exception as error:  # the page must see why, not a task that never ends
            status, message = TaskStatus.FAILED, f"{type(error).__name__}: {error}"
        with self._lock:
            started = self._states[key].started
            self._states[key] = TaskState(key[0], key[1], status, started, time.time(), message)

    def state(self, kind: str, run_dir: str | Path) -> TaskState | None:
        """The task's last state in this process, or None when it never ran here."""
        with self._lock:
            return self._states.get((kind, str(Path(run_dir).resolve())))

    def wait(self, kind: str, run_dir: str | Path, timeout: float | None = None) -> bool:
        """Block until the task's thread ends; False on timeout."""
        thread = self._threads.get((kind, str(Path(run_dir).resolve())))
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True


TASKS = Tasks()
