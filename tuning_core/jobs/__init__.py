"""Who trains what and when on this machine: the job registry, the queue and its dispatcher.

* ``classify``: the dashboard's classify jobs: a folder (or an upload) classified in the
  background.
* ``dispatcher``: the queue's dispatcher: starts queued jobs, in order, as this machine's
  training slot frees.
* ``queue``: the machine's job queue: training jobs wait here, in order, for the one training
  slot.
* ``records``: the job queue's records: kinds, states and one queued job (no SQLite here).
* ``registry``: the job registry: starts searches and retrains in background threads, one writer
  per run.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "classify": ("ClassifyJob", "ClassifyQueue", "ClassifyState", "JOBS_DIR", "classify_queue"),
    "dispatcher": ("QueueEntry", "queue_entries", "queue_for", "queued_registry", "serve_queue",
                   "serving_dashboard"),
    "queue": ("JobQueue",),
    "records": ("JobState", "QueueError", "QueueKind", "QueuedJob"),
    "registry": ("JobRegistry", "Progress", "get_registry", "install_registry", "run_progress"),
})
