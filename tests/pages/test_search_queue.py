"""The queue as the Search page words it: a job put back after its process died says so."""

from __future__ import annotations

from pages.views.search_queue import describe
from tuning_core.jobs.dispatcher import QueueEntry
from tuning_core.jobs.records import JobState, QueuedJob, QueueKind


def _entry(requeues: int, message: str | None) -> QueueEntry:
    job = QueuedJob(7, QueueKind.SEARCH, "/ws/runs/20261206-random", "alice",
                    state=JobState.QUEUED, requeues=requeues, message=message)
    return QueueEntry(job, 1, 0.0, False)


def test_a_job_back_after_its_process_died_says_why() -> None:
    back = describe(_entry(1, "process 4242 on lab-1 was gone; queued again to resume"))
    assert back.startswith("#1 · search of 20261206-random by alice · starts in about")
    assert back.endswith(" · back: process 4242 on lab-1 was gone; queued again to resume")
    assert "back:" not in describe(_entry(0, "anything else"))
