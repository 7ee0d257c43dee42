"""Hyperparameter importance from the trials table, the way Optuna's MeanDecreaseImpurity does it.

A random forest regresses the objective on the hyperparameters of the completed trials; each
hyperparameter's importance is the sum of the impurity decreases of its features (a categorical
one-hot encodes into several features), normalised to sum to one. Parameters that never change
carry no information and are left out. Needs at least three completed trials; otherwise the
result is empty and says why. Past ``MAX_FIT`` trials the forest is fitted on a seeded
random sample of them (a forest's fit grows as n log n per tree: 32 trees took seconds at
10,000 trials, and the ranking of a few hyperparameters is settled long before), and the
result says so.

Given a ``store`` (a run's ``.importance.json``), the last result is kept there under a
digest of exactly what the forest was fitted on (its features, scores and settings, and
scikit-learn's version), and a later call with the same input reads it instead of fitting
again: a finished run's Monitor on a fresh server (after a restart, or a second server on
the workspace) skipped a fit of 0.08 s at 1,000 trials and 0.15 s past 2,000. It is a
cache, never the truth: any other digest, format or a damaged file is fitted again, and a
store that cannot be written (a read-only or full disk) is left as it is, without a word.
Bump :data:`STORE_FORMAT` whenever the fit or what a result holds changes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tuning_core.core import leftovers
from tuning_core.runs.trialtable import scored

log = logging.getLogger(__name__)

HP_PREFIX = "hp:"
MIN_TRIALS = 3
MAX_FIT = 2000  # trials the forest is fitted on at most (a seeded sample beyond)
STORE_FORMAT = 1  # bump whenever the forest's fit, or what a stored result holds, changes
MISSING_LABEL = "n/a"  # a conditional hyperparameter absent from a trial (its block was not built)


@dataclass(frozen=True)
class Importance:
    """Importances sorted from the most to the least important; empty with a reason when unknown."""

    names: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    n_trials: int = 0
    reason: str | None = None
    fitted: int = 0  # trials the forest saw: fewer than n_trials when it saw a sample

    @property
    def sampled(self) -> bool:
        """True when the forest was fitted on a sample of the trials (the chart says so)."""
        return 0 < self.fitted < self.n_trials

    @property
    def empty(self) -> bool:
        """True when no importance could be computed (``reason`` says why)."""
        return not self.names

    def to_frame(self) -> pd.DataFrame:
        """A two-column table: hyperparameter, importance."""
        return pd.DataFrame({"hyperparameter": self.names, "importance": self.values})



def hp_columns(trials: pd.DataFrame) -> list[str]:
    """The ``hp:<name>`` columns of a trials table, in table order."""
    return [c for c in trials.columns if str(c).startswith(HP_PREFIX)]


def hp_name(column: str) -> str:
    """``"hp:learning_rate"`` -> ``"learning_rate"``."""
    return column[len(HP_PREFIX):] if column.startswith(HP_PREFIX) else column


def is_categorical(series: pd.Series) -> bool:
    """True for strings and booleans (including object columns of bools with gaps)."""
    if pd.api.types.is_bool_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series):
        return False
    values = series.dropna()
    if values.empty:
        return True
    return not all(isinstance(v, (int, float, np.integer, np.floating))
                   and not isinstance(v, (bool, np.bool_)) for v in values)


def varying_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns holding more than one distinct value where they are present.

    A conditional hyperparameter that is missing in some trials but constant where present
    only repeats its block count, so it is left out like a constant one.
    """
    return [c for c in columns if frame[c].nunique(dropna=True) > 1]


def completed_with_score(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that compete for best (:func:`tuning_core.runs.trialtable.scored`: completed or
    stopped, with a finite score), as the ranking counts them."""
    return scored(trials)


def encode_features(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[str]]:
    """A float feature matrix and, for each feature, the hp column it came from.

    Categoricals are one-hot (a missing value is its own category); numbers keep their value,
    with missing values placed below the smallest one so a tree can split them off.
    """
    blocks: list[np.ndarray] = []
    owners: list[str] = []
    for col in columns:
        series = frame[col]
        if is_categorical(series):
            dummies = pd.get_dummies(series.astype(object).where(series.notna(), MISSING_LABEL)
                                     .astype(str))
            blocks.append(dummies.to_numpy(dtype=float))
            owners += [col] * dummies.shape[1]
        else:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            low = np.nanmin(values) if np.isfinite(values).any() else 0.0
            blocks.append(np.where(np.isnan(values), low - 1.0 - abs(low), values)[:, None])
            owners.append(col)
    return np.hstack(blocks), owners


def hp_importance(trials: pd.DataFrame, min_trials: int = MIN_TRIALS, seed: int = 0,
                  n_estimators: int = 32, max_fit: int = MAX_FIT,
                  store: Path | None = None) -> Importance:
    """Importance of each varying hyperparameter for the score of the completed trials.

    Returns an empty :class:`Importance` with a reason when there are fewer than
    ``min_trials`` completed trials, no hyperparameter varies, or every score is the same.
    Raises nothing on an empty or partial table. Past ``max_fit`` trials the forest sees a
    random sample of ``max_fit`` of them (seeded by ``seed``: the same trials, the same answer).
    ``store``: where the last fit is kept, and read back for the same input (see above).
    """
    done = completed_with_score(trials)
    n = len(done)
    if n < min_trials:
        return Importance(n_trials=n, reason=f"needs at least {min_trials} completed trials; "
                                             f"{n} so far")
    columns = varying_columns(done, hp_columns(done))
    if not columns:
        return Importance(n_trials=n, reason="no hyperparameter varied between completed trials")
    scores = done["score"].to_numpy(dtype=float)
    if np.ptp(scores) == 0:
        return Importance(n_trials=n, reason="every completed trial had the same score")
    if n > max_fit:
        picked = np.sort(np.random.default_rng(seed).choice(n, max_fit, replace=False))
        done, scores = done.iloc[picked], scores[picked]
        if np.ptp(scores) == 0:
            return Importance(n_trials=n, reason="every sampled trial had the same score")
    return replace(_forest_importance(done, columns, scores, seed, n_estimators, store),
                   n_trials=n, fitted=len(done))


def preload() -> None:
    """Imports scikit-learn's forest now (about 1 s of CPU). The dashboard calls it in a
    background thread at start, so the first live importance chart of a server does not hold
    up that run's feed for the import (bench figure 9 saw a 2 s answer)."""
    importlib.import_module("sklearn.ensemble")


def _forest_importance(done: pd.DataFrame, columns: list[str], scores: np.ndarray,
                       seed: int, n_estimators: int, store: Path | None = None) -> Importance:
    features, owners = encode_features(done, columns)
    key = _digest(features, scores, owners, seed, n_estimators) if store else ""
    if store and (kept := _load(store, key)) is not None:
        return replace(kept, n_trials=len(done))
    found = _fit(done, features, owners, scores, seed, n_estimators)
    if store:
        _save(store, key, found)
    return found


def _fit(done: pd.DataFrame, features: np.ndarray, owners: list[str], scores: np.ndarray,
         seed: int, n_estimators: int) -> Importance:
    from sklearn.ensemble import RandomForestRegressor  # lazy: sklearn import takes ~1 s

    forest = RandomForestRegressor(n_estimators=n_estimators, max_depth=64, min_samples_split=2,
                                   min_samples_leaf=1, random_state=seed, n_jobs=1)
    forest.fit(features, scores)
    per_hp = pd.Series(forest.feature_importances_, index=owners).groupby(level=0).sum()
    total = float(per_hp.sum())
    if total <= 0:
        return Importance(n_trials=len(done), reason="the scores did not depend on any "
                                                     "hyperparameter the forest could find")
    per_hp = (per_hp / total).sort_values(ascending=False, kind="stable")
    return Importance([hp_name(c) for c in per_hp.index], [float(v) for v in per_hp.to_numpy()],
                      n_trials=len(done))


def _digest(features: np.ndarray, scores: np.ndarray, owners: list[str], seed: int,
            n_estimators: int) -> str:
    """A digest of everything a fit depends on: its input in order, and its settings."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([STORE_FORMAT, _sklearn_version(), seed, n_estimators, owners,
                         list(features.shape)]).encode("utf-8"))
    h.update(np.ascontiguousarray(features, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(scores, dtype=np.float64).tobytes())
    return h.hexdigest()


@functools.cache
def _sklearn_version() -> str:
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _load(store: Path, key: str) -> Importance | None:
    """The result kept in ``store`` for ``key``; None when there is none (another input, an
    older format, a damaged or unreadable file)."""
    try:
        kept = json.loads(store.read_text(encoding="utf-8"))
        if kept.get("format") != STORE_FORMAT or kept.get("key") != key:
            return None
        names, values, reason = kept["names"], kept["values"], kept["reason"]
        if (not isinstance(names, list) or not isinstance(values, list)
                or len(names) != len(values) or not all(isinstance(n, str) for n in names)
                or not all(isinstance(v, (int, float)) for v in values)
                or not isinstance(reason, (str, type(None)))):
            return None
        return Importance(names, [float(v) for v in values], reason=reason)
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return None


def _save(store: Path, key: str, found: Importance) -> None:
    """Keep ``found`` in ``store`` for ``key``: a temporary renamed over it, readable by
    whom its folder is; skipped (logged at debug) where it cannot be written."""
    partial = leftovers.temporary_file(store)
    text = json.dumps({"format": STORE_FORMAT, "key": key, "names": found.names,
                       "values": found.values, "reason": found.reason})
    try:
        leftovers.remove_stale(store.parent, store.name)  # a killed save's temporary
        with open(partial, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), os.stat(store.parent).st_mode & 0o666)
            handle.write(text)
        os.replace(partial, store)
    except OSError as error:  # a cache, saved in a page's read: it must never fail one
        log.debug("hyperparameter importance not kept in %s: %s", store, error)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
