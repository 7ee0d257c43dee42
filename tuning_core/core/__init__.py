"""What every package stands on: errors by intent, states, atomic writes, the workspace's
paths, record readers, cooperative stop control, background tasks.

* ``atomic``: files written whole or not at all: a kill at any moment leaves the old or the new
  file.
* ``background``: work that must not block a page: explanations and data checks, one thread per
  task.
* ``control``: cooperative stop and time budget, reachable from a deep-copied Keras callback.
* ``diskspace``: free disk space, measured before a write and recognised after one failed.
* ``errors``: errors by intent.
* ``leftovers``: temporary names that say who writes them, and the removal of those whose writer
  is gone.
* ``install``: where the dashboard's own files are: a git checkout, or a package installed by pip.
* ``public``: a package's public names, stated in its ``__init__`` and imported only when first
  used.
* ``records``: reading plain JSON values into typed records, with field paths in every error.
* ``states``: states and kinds, one spelling each, with the behaviour that goes with them.
* ``workspace``: where everything of a workspace lives: the one place that names its files and
  folders.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "atomic": (),
    "background": ("TASKS", "TaskStatus", "Tasks"),
    "control": ("SearchHalted",),
    "diskspace": ("ensure_free", "free_bytes", "full_error", "is_disk_full"),
    "errors": ("AccessDeniedError", "AccountError", "DatasetError", "DiskFullError",
               "DistributedError", "ExportError", "JobBusyError", "LabConfigError",
               "LockHeldError", "LoginError", "NotesError", "PermissionDeniedError",
               "RetrainRejected", "RunError", "SearchSpaceError", "SessionError",
               "SettingsError", "TuningError"),
    "leftovers": ("remove_stale", "temporary_dir", "temporary_file"),
    "install": ("COMMAND", "app_dir", "command_name", "default_workspace", "is_checkout"),
    "public": ("public",),
    "records": ("Reader", "bad_value", "choice_issues", "exact_keys", "field_at", "known_issues",
                "list_of", "number", "plain", "positive_issues", "text_value", "whole_number"),
    "states": ("Direction", "JobKind", "LogEvent", "RunStatus", "SearchEnd", "TrialStatus"),
    "workspace": ("QUEUE_FILE", "RUNS", "audit_path", "data_dir", "data_path", "lab_path",
                  "queue_path", "runs_dir", "workspace_dir", "workspace_of_runs"),
})
