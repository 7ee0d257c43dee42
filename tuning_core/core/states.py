"""States and kinds, one spelling each, with the behaviour that goes with them.

The trial log, ``run.json``, the pages and the command line all use these values; a
string that is not one of them is read as the closest safe state (see ``parse``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any


class Direction(str, Enum):
    """Which way an objective improves, with what follows from it; compares equal to its
    spelling ("max", "min"), which is what KerasTuner and Keras' callbacks take."""

    MAX = "max"
    MIN = "min"

    @classmethod
    def of(cls, value: object) -> Direction:
        """The direction spelled ``value``; ValueError for anything else."""
        return cls(str(value.value if isinstance(value, Direction) else value))

    @property
    def higher_is_better(self) -> bool:
        return self is Direction.MAX

    @property
    def word(self) -> str:
        """"higher" or "lower": what a person reads as better."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def ascending(self) -> bool:
        """The sort order that puts the best first."""
        return not self.higher_is_better

    @property
    def sign(self) -> float:
        """-1 for "max", +1 for "min": a score times it is smaller when better."""
        return -1.0 if self.higher_is_better else 1.0

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a > b if self.higher_is_better else a < b

    def best(self, values: Iterable[float]) -> float:
        """The best of ``values`` (ValueError when there is none)."""
        return max(values) if self.higher_is_better else min(values)

    def best_so_far(self, values: Sequence[float]) -> list[float]:
        """The best value up to each position."""
        out: list[float] = []
        for value in values:
            out.append(value if not out or self.better(value, out[-1]) else out[-1])
        return out

    def best_index(self, series: Any) -> Any:
        """The index label of the best value of a pandas Series."""
        return series.idxmax() if self.higher_is_better else series.idxmin()


class LogEvent(str, Enum):
    """The events of a trial log (``trials.jsonl``, a worker's ``trials-<id>.jsonl``, a
    retrain's log): the only names a writer may write. How a reader replays each one is
    :data:`tuning_core.runs.triallog.REPLAY`."""

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
    """Where a run stands, from its log and the liveness of its holder."""

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
