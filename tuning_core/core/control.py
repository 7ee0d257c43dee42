"""Cooperative stop and time budget, reachable from a deep-copied Keras callback.

KerasTuner deep-copies callbacks for every trial, so a callback cannot hold an
``Event``. It holds a plain key (the run folder) and looks the control up here. A stop
can come from this process (an ``Event``), from a signal, or from any other process or
machine through the run's stop-request file, which is checked at most every
``FILE_CHECK_S`` seconds so the per-batch check stays a dictionary look-up.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from tuning_core.core.states import SearchEnd

FILE_CHECK_S = 0.25
CHIEF_GONE = "chief gone"  # a distributed search's worker lost its chief: not a user's stop
_LOCK = threading.Lock()
_CONTROLS: dict[str, SearchControl] = {}


class SearchHalted(Exception):
    """Raised between trials to end a search that was stopped or ran out of budget."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"search ended: {reason}")


@dataclass
class SearchControl:
    """Stop flag, stop-request file and optional deadline of one running job."""

    stop: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None
    stop_file: str | None = None
    reason: str | None = None  # a SearchEnd value ("stopped", "budget") once asked to end
    _next_file_check: float = 0.0

    def should_end(self) -> bool:
        """True once a stop was asked for or the time budget is spent (and records why)."""
        if not self.stop.is_set():
            self._check_file()
        if self.stop.is_set():
            self.reason = self.reason or SearchEnd.STOPPED.value
            return True
        if self.deadline is not None and time.time() >= self.deadline:
            self.reason = self.reason or SearchEnd.BUDGET.value
            self.stop.set()
            return True
        return False

    def _check_file(self) -> None:
        now = time.monotonic()
        if self.stop_file is None or now < self._next_file_check:
            return
        self._next_file_check = now + FILE_CHECK_S
        if os.path.exists(self.stop_file):
            self.reason = self.reason or SearchEnd.STOPPED.value
            self.stop.set()


def register(key: str, max_minutes: float | None = None,
             stop_file: str | None = None) -> SearchControl:
    """Create (or replace) the control of the job keyed by ``key``."""
    deadline = time.time() + 60.0 * max_minutes if max_minutes else None
    control = SearchControl(deadline=deadline, stop_file=stop_file)
    with _LOCK:
        _CONTROLS[key] = control
    return control


def get(key: str) -> SearchControl | None:
    """The control registered for ``key``, if any."""
    with _LOCK:
        return _CONTROLS.get(key)


def request_stop(key: str, reason: str | None = None) -> bool:
    """Ask the job keyed by ``key`` to stop (for ``reason``, default a user's stop; a reason
    given first is kept); False when no such job is registered here."""
    control = get(key)
    if control is None:
        return False
    control.reason = control.reason or reason or SearchEnd.STOPPED.value
    control.stop.set()
    return True


def request_stop_all() -> int:
    """Ask every job of this process to stop (a signal's first blow); returns how many."""
    with _LOCK:
        keys = list(_CONTROLS)
    return sum(request_stop(key) for key in keys)


def unregister(key: str) -> None:
    """Forget the control of a job that has ended."""
    with _LOCK:
        _CONTROLS.pop(key, None)
