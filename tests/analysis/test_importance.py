"""Tests for tuning_core.analysis.importance: impurity importances of the hyperparameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuning_core.analysis.importance import hp_importance


def trials_where_lr_matters(n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-4, -1, n)
    optimizer = rng.choice(["adam", "sgd"], n)
    absent = rng.random(n) < 0.5  # trials without a second dense block
    return pd.DataFrame({
        "trial_id": [f"{i:02d}" for i in range(n)], "number": np.arange(n),
        "status": "completed", "score": -np.abs(np.log10(lr) + 2.5) + rng.normal(0, 0.01, n),
        "hp:learning_rate": lr, "hp:optimizer": optimizer,
        "hp:flip": rng.choice([True, False], n), "hp:batch_size": 32,
        "hp:dense_1_units": np.where(absent, np.nan, rng.choice([32.0, 64.0], n)),
        "hp:dense_1_activation": np.where(absent, None, "relu"),  # varies only by presence
    })


def test_the_parameter_that_drives_the_score_ranks_first():
    result = hp_importance(trials_where_lr_matters())
    assert result.names[0] == "learning_rate"
    assert result.values[0] > 0.6
    assert sum(result.values) == pytest.approx(1.0)
    assert "batch_size" not in result.names  # constant
    assert "dense_1_activation" not in result.names  # its presence only repeats the block count
    assert set(result.names) == {"learning_rate", "optimizer", "flip", "dense_1_units"}
    assert result.values == sorted(result.values, reverse=True)


def test_too_few_completed_trials_gives_a_reason():
    trials = trials_where_lr_matters(5)
    # a stopped trial competes like a completed one (tests/runs/test_trialtable.py): not here
    trials.loc[2:, "status"] = ["failed", "running", "interrupted"]
    result = hp_importance(trials)
    assert result.empty and result.n_trials == 2
    assert "at least 3 completed trials" in result.reason


def test_empty_table_and_no_variation():
    assert hp_importance(pd.DataFrame()).empty
    trials = trials_where_lr_matters(6)[["trial_id", "status", "score", "hp:batch_size"]]
    assert "no hyperparameter varied" in hp_importance(trials).reason
    same = trials_where_lr_matters(6).assign(score=0.5)
    assert "same score" in hp_importance(same).reason


def test_deterministic_and_roundtrips():
    trials = trials_where_lr_matters()
    first, second = hp_importance(trials, seed=1), hp_importance(trials, seed=1)
    assert first == second
    assert list(first.to_frame().columns) == ["hyperparameter", "importance"]


def test_fifty_thousand_trials_fit_a_bounded_sample_and_say_so():
    """The forest's cost is bounded by MAX_FIT, not the run: 50,000 trials fit on 2,000,
    the same sample every time, and the chart says it was a sample."""
    from tuning_core.analysis.charts import importance_figure
    from tuning_core.analysis.importance import MAX_FIT

    trials = trials_where_lr_matters(50_000)
    result = hp_importance(trials)
    assert (result.n_trials, result.fitted, result.sampled) == (50_000, MAX_FIT, True)
    assert result.names[0] == "learning_rate"
    assert hp_importance(trials) == result
    assert "random 2,000 of 50,000" in importance_figure(result).layout.title.text
    small = hp_importance(trials_where_lr_matters())
    assert (small.fitted, small.sampled) == (small.n_trials, False)


def test_a_stored_fit_is_read_back_for_the_same_trials_and_only_for_them(tmp_path, monkeypatch):
    """A fresh server's first Monitor of a finished run reads the forest's answer from the
    run's store instead of fitting again; other trials, another seed, or a damaged, foreign or
    older store are fitted (and the store rewritten); the answer is the same either way."""
    from tuning_core.analysis import importance

    store = tmp_path / ".importance.json"
    trials = trials_where_lr_matters(200)
    fits = []
    real_fit = importance._fit
    monkeypatch.setattr(importance, "_fit", lambda *a: fits.append(1) or real_fit(*a))
    fitted = hp_importance(trials, store=store)
    assert len(fits) == 1 and store.exists()
    assert hp_importance(trials, store=store) == fitted == hp_importance(trials)
    assert len(fits) == 2  # the last call had no store
    assert hp_importance(trials.copy(), store=store) == fitted and len(fits) == 2  # read back
    # the input changed: one more trial, a score, a seed, a sample bound
    changed = trials.copy()
    changed.loc[0, "score"] += 0.5
    for other, kwargs in [(trials_where_lr_matters(201), {}), (changed, {}), (trials, {"seed": 3}),
                          (trials, {"max_fit": 50})]:
        before = len(fits)
        assert hp_importance(other, store=store, **kwargs) == hp_importance(other, **kwargs)
        assert len(fits) == before + 2
    # back to the first trials: the store holds the last fit (max_fit 50), so fit again
    assert hp_importance(trials, store=store) == fitted
    kept = store.read_text()
    for text in ["{", "[]", '{"format": 1}', kept.replace('"format": 1', '"format": 0'),
                 kept.replace('"names": ["', '"names": [1, "')]:
        store.write_text(text)
        before = len(fits)
        assert hp_importance(trials, store=store) == fitted
        assert len(fits) == before + 1
    assert hp_importance(trials, store=store) == fitted and len(fits) == before + 1
    assert [p.name for p in tmp_path.iterdir()] == [".importance.json"]  # no temporary left


def test_a_store_that_cannot_be_written_changes_nothing(tmp_path):
    """A read-only run folder (a workspace mounted read-only, another user's run): the fit is
    answered as without a store, nothing written, nothing raised."""
    import os

    folder = tmp_path / "run"
    folder.mkdir()
    os.chmod(folder, 0o500)
    try:
        if os.access(folder, os.W_OK):  # root writes anyway: a path under a file instead
            store = tmp_path / "file" / ".importance.json"
            (tmp_path / "file").write_text("not a folder")
        else:
            store = folder / ".importance.json"
        trials = trials_where_lr_matters()
        assert hp_importance(trials, store=store) == hp_importance(trials)
        assert not store.exists()
        assert list(folder.iterdir()) == []
    finally:
        os.chmod(folder, 0o700)
