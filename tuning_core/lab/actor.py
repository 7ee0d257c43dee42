"""Who asks for an action: the engine checks their role and records what they did.

In local mode the actor is nobody (``Actor()``): everything is allowed and nothing is
audited. In lab mode the pages pass the logged-in user, their address and the workspace's
audit log, and the job registry and the run actions check and record through here, so a
forged request that skips the pages' hidden buttons is still refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tuning_core.core.errors import PermissionDeniedError
from tuning_core.lab.accounts import User
from tuning_core.lab.audit import AuditAction, AuditLog, Outcome
from tuning_core.lab.permissions import Action, allowed, require
from tuning_core.lab.roots import Expect, resolve_inside

_AUDITED = {
    Action.LAUNCH: AuditAction.LAUNCH, Action.RESUME: AuditAction.RESUME,
    Action.RETRAIN: AuditAction.RETRAIN, Action.STOP: AuditAction.STOP,
    Action.DELETE: AuditAction.DELETE, Action.PRUNE: AuditAction.PRUNE,
    Action.UPLOAD: AuditAction.UPLOAD, Action.EDIT_NOTES: AuditAction.EDIT_NOTES,
    Action.EXPORT: AuditAction.EXPORT, Action.REPORT: AuditAction.REPORT,
    Action.DOWNLOAD: AuditAction.DOWNLOAD, Action.EXPLAIN: AuditAction.EXPLAIN,
    Action.EXCLUDE: AuditAction.EXCLUDE, Action.CLASSIFY: AuditAction.CLASSIFY,
}


@dataclass(frozen=True)
class Actor:
    """A user (None in local mode), where they connect from, and the log their actions go to."""

    user: User | None = None
    address: str | None = None
    audit: AuditLog | None = None
    roots: Sequence[Path] | None = None  # lab mode: the only folders images are read from

    def data_folder(self, path: str | Path) -> Path:
        """The folder ``path`` as the server may read it; AccessDeniedError outside the roots.

        In local mode the user reads their own disk: the path is only made absolute.
        """
        if self.roots is None:
            return Path(path).expanduser().resolve()
        return resolve_inside(path, self.roots, Expect.FOLDER)

    def data_file(self, path: str | Path) -> Path:
        """A file (a thumbnail, a gallery image) the server may show; AccessDeniedError else."""
        if self.roots is None:
            return Path(path)
        return resolve_inside(path, self.roots, Expect.FILE)

    @property
    def name(self) -> str:
        """The user's name, "" in local mode (a run's owner is then nobody in particular)."""
        return self.user.name if self.user else ""

    @property
    def record_name(self) -> str:
        """The name queued jobs and uploaded datasets are recorded under ("local" in local mode)."""
        return self.name or "local"

    @property
    def is_admin(self) -> bool:
        """True for an admin, and for nobody-in-particular in local mode (who may everything)."""
        return self.may(Action.MANAGE_USERS)

    def may(self, action: Action, owner: str | None = None) -> bool:
        """True when the role allows ``action`` (on a run owned by ``owner``)."""
        return allowed(self.user, action, owner)

    def check(self, action: Action, owner: str | None = None, target: str | None = None) -> None:
        """Return when allowed; else record the refusal and raise PermissionDeniedError."""
        try:
            require(self.user, action, owner)
        except PermissionDeniedError as error:
            self.record(action, Outcome.DENIED, target, str(error))
            raise

    def record(self, action: Action, outcome: Outcome = Outcome.OK, target: str | None = None,
               detail: str | None = None) -> None:
        """Append the action to the audit log (lab mode only)."""
        audited = _AUDITED.get(action)
        if self.audit is not None and audited is not None:
            self.audit.record(audited, outcome, user=self.user, address=self.address,
                              target=target, detail=detail)
