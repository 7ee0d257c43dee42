"""What each role may do, checked by the engine (not only by hiding buttons).

viewer: sees runs and charts, writes their report and search script, and downloads what
they see (checked exports, reports, scripts). member: also scans data, launches searches,
retrains, exports best models and uploads; changes what they own: stops, resumes, deletes,
prunes and edits the notes of their runs, cancels and moves their queued jobs, removes their
uploaded datasets. admin: everything, including what others own, accounts and the audit log.
No user (local mode, where there are no logins) may do everything. One rule for every owned
resource (runs, queued jobs, datasets): capabilities per resource, as MLflow's auth has them.
"""

from __future__ import annotations

from enum import Enum

from tuning_core.core.errors import PermissionDeniedError
from tuning_core.lab.accounts import Role, User


class Action(Enum):
    """Something a user asks the engine to do; ``value`` is the verb used in messages."""

    VIEW = "viewing runs"
    SCAN_DATA = "scanning a data folder"
    LAUNCH = "launching a search"
    RETRAIN = "retraining a model"
    STOP = "stopping"
    RESUME = "resuming"
    DELETE = "deleting"
    PRUNE = "pruning"
    EDIT_NOTES = "editing the notes of"
    UPLOAD = "uploading files"
    MANAGE_USERS = "managing users"
    VIEW_AUDIT = "reading the audit log"
    EXPORT = "exporting a best model"
    REPORT = "writing a run report or search script"
    DOWNLOAD = "downloading a run's files"
    EXPLAIN = "explaining a model or checking its data"
    EXCLUDE = "excluding files from a dataset's next search"
    CANCEL_JOB = "cancelling"
    MOVE_JOB = "moving"
    DELETE_DATASET = "removing"  # (a value of its own: equal values would make it DELETE)
    CLASSIFY = "classifying a folder of images with"

    @property
    def resource(self) -> str | None:
        """What the action changes when someone owns it ("run", "queued job", "dataset"),
        None for an action whose owner does not matter."""
        return _OWNED.get(self)

    @property
    def on_a_run(self) -> bool:
        """True for actions on an existing run, where owning the run matters."""
        return self.resource == "run"

    def needed_role(self, own: bool) -> Role:
        """The least role allowed this action (``own``: the resource is the user's own).
        One rule for every owned resource: a member changes their own, an admin anyone's."""
        if self.resource is not None:
            return Role.MEMBER if own else Role.ADMIN
        return _NEEDS[self]

    def describe(self, own: bool) -> str:
        """A phrase for messages: "stopping another member's run", "launching a search"."""
        if self.resource is None:
            return self.value
        whose = "your own" if own else "another member's"
        return f"{self.value} {whose} {self.resource}"


# The capabilities on owned resources (as MLflow's auth gives them per resource): each
# action's resource. A retrain replaces the run's best model: it writes someone's run like a
# resume does. Notes are the launcher's own words about their run. A queued job waits in
# its owner's share of the queue; an uploaded dataset is its uploader's.
# Classifying a folder holds a run's model and CPU for minutes, as a retrain does.
_OWNED = {Action.STOP: "run", Action.RESUME: "run", Action.RETRAIN: "run", Action.DELETE: "run",
          Action.CLASSIFY: "run",
          Action.PRUNE: "run", Action.EDIT_NOTES: "run", Action.CANCEL_JOB: "queued job",
          Action.MOVE_JOB: "queued job", Action.DELETE_DATASET: "dataset"}
_NEEDS = {Action.VIEW: Role.VIEWER, Action.SCAN_DATA: Role.MEMBER, Action.LAUNCH: Role.MEMBER,
          Action.UPLOAD: Role.MEMBER,
          # Exporting converts and times a model (CPU, files in the run); reading what a
          # run already shows, as a report, a script or a download, is for every viewer.
          Action.EXPORT: Role.MEMBER, Action.REPORT: Role.VIEWER, Action.DOWNLOAD: Role.VIEWER,
          # Explanations and data checks compute (a health check trains short models) and
          # write files in the run; an exclusion list changes what the next search trains on.
          Action.EXPLAIN: Role.MEMBER, Action.EXCLUDE: Role.MEMBER,
          Action.MANAGE_USERS: Role.ADMIN, Action.VIEW_AUDIT: Role.ADMIN}


def _owns(user: User, owner: str | None) -> bool:
    return owner is not None and owner == user.name


def allowed(user: User | None, action: Action, owner: str | None = None) -> bool:
    """True when ``user`` may do ``action`` (on a run owned by ``owner``); None may all."""
    if user is None:
        return True
    return user.role.at_least(action.needed_role(_owns(user, owner)))


def require(user: User | None, action: Action, owner: str | None = None) -> None:
    """Return when allowed; else PermissionDeniedError naming the role needed.

    A run without an owner (made before lab mode) counts as another member's.
    """
    if allowed(user, action, owner):
        return
    assert user is not None
    own = _owns(user, owner)
    needed = action.needed_role(own).value
    raise PermissionDeniedError(f"{action.describe(own)} needs the {needed} role; you are {user}.")
