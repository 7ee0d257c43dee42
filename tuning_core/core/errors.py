"""Errors by intent.

Every error the engine raises on purpose derives from :class:`TuningError`, so the
command line and the pages catch one type at their boundary and show its message.
A message says what was expected, what came, and the path or id involved.
"""

from __future__ import annotations


class TuningError(Exception):
    """Root of every error the engine raises on purpose; its message is for people."""


class DatasetError(TuningError):
    """The image folder cannot be used (missing, not a folder, too few classes...)."""


class SearchSpaceError(TuningError):
    """A search space is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        self.issues = list(issues)
        text = "; ".join(f"{field}: {msg}" for field, msg in self.issues)
        super().__init__(f"Invalid search space: {text}")


class SettingsError(TuningError):
    """Tuner or run settings are out of range or inconsistent."""


class RunError(TuningError):
    """A run directory is missing, unreadable, or not in the state the action needs."""


class RetrainRejected(RunError):
    """A retrained model was far worse than its trial (or not a number): not saved as best."""


class LockHeldError(RunError):
    """Another process (here or on another machine) holds the lock that an action needs."""

    def __init__(self, what: str, holder: object | None) -> None:
        self.holder = holder  # a locks.LockHolder, or None when its record is unreadable
        who = (holder.describe()  # type: ignore[attr-defined]
               if holder is not None else "another process")
        target = getattr(holder, "target", "")
        on = f" (training {target})" if target and target not in what else ""
        super().__init__(f"{what} is held by {who}{on}. Stop that job or wait for it to end.")


class JobBusyError(LockHeldError):
    """The machine's training slot is taken: one job trains at a time per machine."""

    def __init__(self, what: str, holder: object | None) -> None:
        super().__init__(what, holder)
        self.args = (f"{self.args[0]} On the command line, --queue waits in the workspace's "
                     "queue and --parallel trains alongside.",)


class NotesError(TuningError):
    """A run's name, notes or tags break a limit (too long, a malformed tag, too many tags)."""


class LabConfigError(SettingsError):
    """Lab mode is not set up, or its config file or secret cannot be used."""


class AccountError(TuningError):
    """A lab account cannot be added, changed or found (bad name, unknown user...)."""


class LoginError(TuningError):
    """A login failed: wrong user name or password, or too many recent failures.

    ``retry_after`` is the number of seconds to wait when logins are locked, else 0.
    """

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionError(TuningError):
    """A session cookie is missing, forged, expired or revoked."""


class PermissionDeniedError(TuningError):
    """The logged-in user's role does not allow the action (the message names the role needed)."""


class AccessDeniedError(TuningError):
    """A path is outside every data root, or is not the kind of file the action expects."""


class DistributedError(TuningError):
    """A distributed search cannot go on: its chief is unreachable or gone, or no worker came."""


class ExportError(TuningError):
    """A model cannot be exported, or an export, script or report of a run cannot be made."""


class DiskFullError(TuningError):
    """The disk under a run, a model or an export has too little free space for what comes
    next: a state to report ("disk full: N MB free on <filesystem>"), never a crash.

    ``free_bytes`` and ``filesystem`` say what was measured; ``need_bytes`` what the write
    (or the whole job, before it starts) was estimated to need, 0 when unknown.
    """

    def __init__(self, message: str, free_bytes: int, filesystem: str,
                 need_bytes: int = 0) -> None:
        super().__init__(message)
        self.free_bytes, self.filesystem, self.need_bytes = free_bytes, filesystem, need_bytes
