"""Comparing runs: only the settings that differ, each run scored in its own direction, and
runs with another objective kept off the shared axis."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuning_core.analysis import charts
from tuning_core.analysis.compare import compare_runs, differing_settings, flatten
from tuning_core.core.errors import RunError
from tuning_core.data.dataset import ImageConfig
from tuning_core.runs.catalogue import create_run, edit_notes
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset


def _run(runs: Path, scores: list[float], objective: str = "val_loss", size: int = 16,
         max_trials: int = 5) -> RunDir:
    config = RunConfig(data_dir="/d/digits", space=get_preset("small"),
                       image=ImageConfig(size, "rgb"),
                       tuner=TunerSettings(tuner="random", objective=objective,
                                           max_trials=max_trials))
    run = RunDir(create_run(runs, config))
    log = run.log_writer()
    for i, score in enumerate(scores):
        log.write("trial_start", trial_id=f"{i:02d}", number=i + 1, hyperparameters={})
        for epoch in range(2):
            log.write("epoch_end", trial_id=f"{i:02d}", execution=0, epoch=epoch,
                      metrics={"val_loss": score + 1 - epoch, "val_accuracy": 0.1 * i + epoch})
        log.write("trial_end", trial_id=f"{i:02d}", status="completed", score=score)
    return run


def test_flatten_makes_dotted_keys() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": 3}, {"e": 4}]}) == {
        "a.b": 1, "a.c": [1, 2], "d.0.e": 3, "d.1.e": 4}


def test_only_differing_settings_are_listed() -> None:
    left = {"tuner": {"epochs": 3, "seed": 0}, "space": {"conv": [{"f": [8]}]}, "other": 1}
    right = {"tuner": {"epochs": 5, "seed": 0}, "space": {"conv": [{"f": [8]}, {"f": [16]}]},
             "other": 2}
    diffs, same = differing_settings([left, right])
    assert [(d.key, d.values) for d in diffs] == [("space.conv.1.f", (None, [16])),
                                                  ("tuner.epochs", (3, 5))]
    assert same == 2  # space.conv.0.f and tuner.seed; "other" is not a search setting


def test_compare_two_runs_of_one_objective(tmp_path: Path) -> None:
    first = _run(tmp_path, [0.9, 0.4, 0.6], size=16)
    second = _run(tmp_path, [0.5, 0.7], size=32)
    edit_notes(first.path, "Small images", "", [])
    result = compare_runs([first, second, first])  # duplicates dropped
    assert [r.label for r in result.runs] == ["Small images", second.name]
    assert {d.key: d.values for d in result.differing} == {"image.image_size": (16, 32)}
    assert result.same_count > 20 and not result.mixed_objectives
    a, _b = result.runs
    assert (a.best_score, a.best_number, a.best_so_far) == (0.4, 2, (0.9, 0.4, 0.4))  # min
    assert a.curve_epochs == (1, 2)
    assert a.curve_values == pytest.approx((1.4, 0.4))  # the best trial's val_loss
    rows = result.settings_rows()
    assert rows == [{"setting": "image.image_size", "Small images": "16", second.name: "32"}]
    fig = charts.compare_objective_figure(result.runs, result.objective)
    assert [t.name for t in fig.data] == ["Small images", second.name]
    assert fig.layout.uirevision == charts.UIREVISION
    curves = charts.compare_curves_figure(result.runs, result.objective)
    assert [t.name for t in curves.data] == ["Small images (trial 2)", f"{second.name} (trial 1)"]


def test_another_objective_is_scored_its_own_way_and_kept_off_the_axis(tmp_path: Path) -> None:
    loss = _run(tmp_path, [0.9, 0.4])
    accuracy = _run(tmp_path, [0.3, 0.8, 0.5], objective="val_accuracy")
    result = compare_runs([loss, accuracy])
    assert result.objective == "val_loss" and result.mixed_objectives
    other = result.runs[1]
    assert not other.comparable and other.direction == "max"
    assert (other.best_score, other.best_so_far) == (0.8, (0.3, 0.8, 0.8))  # max, not min
    assert {d.key for d in result.differing} == {"tuner.objective"}
    fig = charts.compare_objective_figure(result.runs, result.objective)
    assert [t.name for t in fig.data] == [result.runs[0].label]
    curves = charts.compare_curves_figure(result.runs, result.objective)
    assert len(curves.data) == 2 and curves.layout.yaxis.title.text == "val_loss"
    # trial 2's val_loss: the best trial by the run's own accuracy
    assert curves.data[1].y == pytest.approx((1.8, 0.8))


def test_runs_without_trials_and_too_few_runs(tmp_path: Path) -> None:
    empty, other = _run(tmp_path, []), _run(tmp_path, [])
    result = compare_runs([empty, other])
    assert result.runs[0].best_score is None and result.runs[0].trial_numbers == ()
    assert "No run" in str(charts.compare_objective_figure(result.runs, "val_loss").layout)
    assert "No run" in str(charts.compare_curves_figure(result.runs, "val_loss").layout)
    with pytest.raises(RunError, match="at least two runs to compare; got 1"):
        compare_runs([empty, empty])


def test_test_accuracies_are_compared_within_their_margin(workspace: Path,
                                                         image_folder: Path) -> None:
    """Two retrained runs 0.75 and 0.80 on 40 test images cannot be told apart; on 4,000
    they can."""
    import json

    from tests.pages.support import make_run, write_best
    from tuning_core.core.workspace import runs_dir

    def retrained(accuracy: float, images: int) -> RunDir:
        run = make_run(runs_dir(), image_folder)
        write_best(run, image_folder)
        path = RunDir(run).best_dir / "evaluation.json"
        path.write_text(json.dumps({**json.loads(path.read_text()),
                                    "test_accuracy": accuracy, "test_images": images}))
        return RunDir(run)

    few = compare_runs([retrained(0.75, 40), retrained(0.80, 40)])
    [(run, reference, difference)] = few.test_differences()
    assert (run, reference) == (few.runs[1], few.runs[0]) and difference.within_noise
    many = compare_runs([retrained(0.75, 4000), retrained(0.80, 4000)])
    assert not many.test_differences()[0][2].within_noise
    assert compare_runs([RunDir(make_run(runs_dir(), image_folder)),
                         RunDir(make_run(runs_dir(), image_folder))]).test_differences() == []


def test_a_long_run_draws_its_best_so_far_where_it_moves_only():
    """Issue 29: 20 runs of 10,000 trials were 200,000 markers; past OBJECTIVE_POINTS a run's
    step line keeps each improvement and its last trial (the same line)."""
    from tuning_core.analysis.compare import RunSeries

    n = 10_000
    best = tuple(float(min(0.99, 0.5 + (i // 1000) * 0.05)) for i in range(n))
    long_run = RunSeries("a", "a", "val_accuracy", "max", True, best[-1], 9001,
                         tuple(range(1, n + 1)), best)
    short = RunSeries("b", "b", "val_accuracy", "max", True, 0.9, 3, (1, 2, 3), (0.5, 0.9, 0.9))
    fig = charts.compare_objective_figure([long_run, short], "val_accuracy")
    assert list(fig.data[0].x) == [1, *range(1001, n, 1000), n]
    assert list(fig.data[1].x) == [1, 2, 3]  # a short run as before
