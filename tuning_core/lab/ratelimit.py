"""Failed-login throttling, per user name and per client address.

After ``max_failures`` failures within ``window`` seconds, a key (a user name, or an address)
is locked for ``base_lock`` seconds, doubling with each further lockout up to ``max_lock``.
A successful login clears the user's failures (not the address's, so one right password
does not reopen guessing from that address). State is in memory: one server process holds
it; a restart forgets it, which costs an attacker a restart they cannot cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tuning_core.core.errors import LoginError

MAX_KEYS = 10_000


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0


class LoginThrottle:
    """Counts failed logins and refuses attempts while a user or an address is locked."""

    def __init__(self, max_failures: int = 5, window: float = 300.0, base_lock: float = 60.0,
                 max_lock: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.base_lock = base_lock
        self.max_lock = max_lock
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def check(self, user: str, address: str) -> None:
        """Raise LoginError (with ``retry_after``) when the user or the address is locked."""
        now = self.clock()
        with self._lock:
            waits = [r.locked_until - now for r in self._both(user, address)
                     if r.locked_until > now]
        if waits:
            wait = max(waits)
            raise LoginError(f"too many failed logins for this user or from this address; "
                             f"try again in {int(wait) + 1} s.", retry_after=wait)

    def failure(self, user: str, address: str) -> None:
        """Count one failed attempt against both keys; lock a key that reached the limit."""
        now = self.clock()
        with self._lock:
            if len(self._records) > MAX_KEYS:
                self._forget_idle(now)
            for record in self._both(user, address):
                record.failures = [t for t in record.failures if now - t < self.window] + [now]
                if len(record.failures) >= self.max_failures:
                    record.lockouts += 1
                    lock = min(self.base_lock * 2 ** (record.lockouts - 1), self.max_lock)
                    record.locked_until, record.failures = now + lock, []

    def success(self, user: str) -> None:
        """Forget the user's failures after a right password."""
        with self._lock:
            self._records.pop(f"user:{user}", None)

    def _forget_idle(self, now: float) -> None:
        """Drop keys neither locked nor failing lately, so made-up names cannot fill memory."""
        self._records = {k: r for k, r in self._records.items()
                         if r.locked_until > now or any(now - t < self.window for t in r.failures)}

    def _both(self, user: str, address: str) -> list[_Record]:
        return [self._records.setdefault(f"user:{user}", _Record()),
                self._records.setdefault(f"addr:{address}", _Record())]
