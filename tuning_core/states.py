"""States and kinds, one spelling each, with the behaviour that goes with them.

The trial log, ``run.json``, the pages and the command line all use these values; a
string that is not one of them is read as the closest safe state (see ``parse``).
"""

from __future__ import annotations

from enum import Enum


class LogEvent(str, Enum):
    """The events of a trial log (``trials.jsonl``, a worker's ``trials-<id>.jsonl``, a
    retrain's log): the only names a writer may write. How a reader replays each one is
    :data:`tuning_core.triallog.REPLAY`."""

    SEARCH_START = "search_start"
    SEARCH_END = "search_end"
    CHIEF_START = "chief_start"  # a distributed search's chief listens (port, host)
    TRIAL_START = "trial_start"
    EPOCH_END = "epoch_end"
    TRIAL_END = "trial_end"
    TRIAL_LOST = "trial_lost"  # a worker died mid-trial; the chief gave the trial to another
    TRIAL_COST = "trial_cost"  # a completed trial's model size and speed
    RETRAIN_START = "retrain_start"
    RETRAIN_CHECK = "retrain_check"  # the retrained model against its trial
    RETRAIN_END = "retrain_end"


class TrialStatus(str, Enum):
    """Where one trial stands, as the trial log says."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"  # KerasTuner completed it, but a stop cut its epochs short
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process died mid-trial; KerasTuner retries it on resume

    def is_ended(self) -> bool:
        """True once the trial has an outcome (it counts towards the trial budget)."""
        return self in (TrialStatus.COMPLETED, TrialStatus.STOPPED, TrialStatus.FAILED)

    def is_ranked(self) -> bool:
        """True when its score competes for best (KerasTuner completed it)."""
        return self in (TrialStatus.COMPLETED, TrialStatus.STOPPED)

    @classmethod
    def parse(cls, value: object) -> TrialStatus:
        """The status spelled ``value``; FAILED for anything unknown."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.FAILED


class SearchEnd(str, Enum):
    """How a search (or a retrain) ended, as its ``*_end`` log line says."""

    FINISHED = "finished"
    STOPPED = "stopped"
    BUDGET = "budget"  # the time budget was spent
    FAILED = "failed"

    @property
    def label(self) -> str:
        """Words for people."""
        return "time budget spent" if self is SearchEnd.BUDGET else self.value

    def is_success(self) -> bool:
        """True when the job did what it was asked (a stop or spent budget included)."""
        return self is not SearchEnd.FAILED

    @classmethod
    def parse(cls, value: object) -> SearchEnd:
        """The end spelled ``value``; FAILED for anything unknown (never hide a problem)."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.FAILED


class RunStatus(str, Enum):
    """Where a run stands, from its log and the liveness of its owner."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    STOPPED = "stopped"
    BUDGET = "budget"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def label(self) -> str:
        """Words for people."""
        return "time budget spent" if self is RunStatus.BUDGET else self.value

    def is_active(self) -> bool:
        """True while a process trains this run."""
        return self in (RunStatus.RUNNING, RunStatus.STOPPING)

    def is_resumable(self) -> bool:
        """True when resuming would run more trials (KerasTuner reloads the project)."""
        return self in (RunStatus.STOPPED, RunStatus.BUDGET, RunStatus.INTERRUPTED,
                        RunStatus.FAILED, RunStatus.NEW)

    @classmethod
    def from_end(cls, end: SearchEnd) -> RunStatus:
        """The status of a run whose last search ended with ``end``."""
        return cls(end.value)


class JobKind(str, Enum):
    """What a training job does."""

    SEARCH = "search"
    RETRAIN = "retrain"

    @property
    def label(self) -> str:
        """Words for people."""
        return "retraining the best model" if self is JobKind.RETRAIN else "searching"
