"""Cooperative stop and time budget, reachable from a deep-copied Keras callback.

KerasTuner deep-copies callbacks for every trial, so a callback cannot hold an
``Event``. It holds a plain key (the run folder) and looks the event up here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

_LOCK = threading.Lock()
_CONTROLS: dict[str, SearchControl] = {}


@dataclass
class SearchControl:
    """Stop flag and optional deadline of one running search."""

    stop: threading.Event
    deadline: float | None = None
    reason: str | None = None  # "stopped" or "budget" once the search was asked to end

    def should_end(self) -> bool:
        """True once a stop was asked for or the time budget is spent (and records why)."""
        if self.stop.is_set():
            self.reason = self.reason or "stopped"
            return True
        if self.deadline is not None and time.time() >= self.deadline:
            self.reason = self.reason or "budget"
            self.stop.set()
            return True
        return False


def register(key: str, max_minutes: float | None = None) -> SearchControl:
    """Create (or replace) the control of the search keyed by ``key``."""
    deadline = time.time() + 60.0 * max_minutes if max_minutes else None
    control = SearchControl(stop=threading.Event(), deadline=deadline)
    with _LOCK:
        _CONTROLS[key] = control
    return control


def get(key: str) -> SearchControl | None:
    """The control registered for ``key``, if any."""
    with _LOCK:
        return _CONTROLS.get(key)


def request_stop(key: str) -> bool:
    """Ask the search keyed by ``key`` to stop; False when no such search is registered."""
    control = get(key)
    if control is None:
        return False
    control.reason = control.reason or "stopped"
    control.stop.set()
    return True


def unregister(key: str) -> None:
    """Forget the control of a search that has ended."""
    with _LOCK:
        _CONTROLS.pop(key, None)
