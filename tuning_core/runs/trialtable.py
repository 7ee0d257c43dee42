"""Questions asked of a trial table (``TrialLogReader.trials()``), answered in one place.

Which trials have ended, how many are in each state, and which ones compete for best: the
ranking, importance, parallel coordinates, the chance diagnosis, the planner, the progress
counts and the command line all ask here. The one settled question: a trial KerasTuner
completed counts whether it ran all its epochs (``completed``) or a stop cut them short
(``stopped``): both have a score the ranking uses, so both are in every analysis of scores,
and a stopped best trial is the best everywhere (``TrialStatus.is_ranked``).

And one page of the table, sorted and filtered here, not in the browser (:func:`table_page`):
10,000 trials as one HTML table were 7 MB and two million DOM nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tuning_core.core.states import TrialStatus

STATES = tuple(s.value for s in TrialStatus)
ENDED = tuple(s.value for s in TrialStatus if s.is_ended())
RANKED = tuple(s.value for s in TrialStatus if s.is_ranked())


def _has(trials: pd.DataFrame, *columns: str) -> bool:
    return not trials.empty and all(c in trials for c in columns)


def counts_by_state(trials: pd.DataFrame) -> dict[str, int]:
    """Trials by state, every state listed (0 when none)."""
    counts = trials["status"].value_counts() if _has(trials, "status") else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in STATES}


def ended(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that have an outcome (completed, stopped or failed)."""
    return trials[trials["status"].isin(ENDED)] if _has(trials, "status") else trials.iloc[0:0]


def ended_count(trials: pd.DataFrame) -> int:
    """How many trials have ended (they count towards the trial budget)."""
    return len(ended(trials))


def scored(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that compete for best: KerasTuner completed them (``completed`` or
    ``stopped``) and their score is a finite number; in the table's order."""
    if not _has(trials, "status", "score"):
        return trials.iloc[0:0]
    scores = pd.to_numeric(trials["score"], errors="coerce")
    return trials[trials["status"].isin(RANKED) & np.isfinite(scores.fillna(np.nan))]


def scored_count(trials: pd.DataFrame) -> int:
    """How many trials compete for best."""
    return len(scored(trials))


PAGE_ROWS = 200  # rows of a page of the trial table


@dataclass(frozen=True)
class TablePage:
    """One page of a trial table: its rows, how many rows pass the filter and how many there
    are, which page (from 0, clamped to the last) of how many."""

    rows: pd.DataFrame
    matching: int
    total: int
    page: int
    pages: int
    size: int = PAGE_ROWS

    def describe(self) -> str:
        """"rows 201-400 of 9,700 (filtered from 10,000)"."""
        if not self.matching:
            return f"no trial of {self.total:,} matches"
        first = self.page * self.size + 1
        text = f"rows {first:,}-{first + len(self.rows) - 1:,} of {self.matching:,}"
        return text + (f" (filtered from {self.total:,})" if self.matching < self.total else "")


def table_page(table: pd.DataFrame, sort_by: str | None = None, descending: bool = False,
               statuses: Sequence[str] = (), page: int = 0, size: int = PAGE_ROWS) -> TablePage:
    """Rows ``page * size`` on of ``table`` kept to ``statuses`` (none: all), sorted by
    ``sort_by`` (a column; missing values last, ties in table order)."""
    kept = table[table["status"].isin(list(statuses))] if statuses and _has(table, "status") \
        else table
    if sort_by in kept:
        kept = kept.sort_values(sort_by, ascending=not descending, kind="stable",
                                na_position="last")
    pages = max(1, -(-len(kept) // size))
    page = min(max(page, 0), pages - 1)
    return TablePage(kept.iloc[page * size:(page + 1) * size], len(kept), len(table), page, pages,
                     size)
