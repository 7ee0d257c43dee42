"""Figure 1's summary on hand-made runs (nothing trained): per-dataset verdicts and spread."""

from __future__ import annotations

import pytest

from bench.figures import fig01_time_to_model as fig1
from bench.harness import report

SETTINGS = {"tuner": "hyperband", "max_trials": 30, "epochs": 12, "patience": 3}
SCALE = fig1.Scale(trials=10, epochs=10, repeats=3, retrain=30, datasets=("digits", "photos"))


def _anchor(wall: float, accuracy: float) -> dict:
    return {"wall_s": wall, "search_s": wall - 10, "retrain_s": 10.0, "test_accuracy": 0.99,
            "holdout_accuracy": accuracy, "trials": 10, "image_size": 32}


def _ours(wall: float, accuracy: float) -> dict:
    return {**_anchor(wall, accuracy), "trials": 30, "settings": SETTINGS,
            "image": {"image_size": 32, "color_mode": "grayscale"}}


def _runs(ours_walls: list[float], ours_accuracies: list[float]) -> dict[str, list[dict]]:
    anchors = [_anchor(w, a) for w, a in zip([100.0, 120.0, 80.0], [0.95, 0.96, 0.94], strict=True)]
    ours = [_ours(w, a) for w, a in zip(ours_walls, ours_accuracies, strict=True)]
    return {"anchor": anchors, "ours": ours}


def test_every_dataset_must_meet_the_goal() -> None:
    good = _runs([40.0, 48.0, 36.0], [0.96, 0.97, 0.95])  # ratios 0.40 0.40 0.45
    slow = _runs([60.0, 72.0, 48.0], [0.96, 0.97, 0.95])  # ratios 0.60 each
    both = fig1.summarize({"digits": good, "photos": slow}, SCALE, {}, {"digits": 100,
                                                                      "photos": 24})
    assert not both.met
    assert both.value == ("digits: ratio 0.40 (0.40-0.45), held-out 0.960 vs 0.950; "
                          "photos: ratio 0.60, held-out 0.960 vs 0.950")
    notes = "\n".join(both.notes)
    assert "digits (Digits, 32 px grayscale PNG): met" in notes
    assert "JPEG): NOT met: time ratio over 0.5 by 0.10" in notes
    assert "on 24 held-out images" in notes
    assert fig1.summarize({"digits": good}, SCALE, {}, {"digits": 100}).met


def test_accuracy_shortfall_is_told_in_points_with_its_standard_error() -> None:
    short = _runs([40.0, 48.0, 36.0], [0.92, 0.93, 0.90])
    figure = fig1.summarize({"digits": short}, SCALE, {}, {"digits": 100})
    assert not figure.met
    note = next(n for n in figure.notes if n.startswith("digits (") and "NOT met" in n)
    assert "accuracy short by 3.0 points" in note and "time ratio" not in note
    assert "standard error 2.2 points on 100 held-out images" in note  # sqrt(.95*.05/100)


def test_rows_are_one_per_dataset_and_tool_with_spread() -> None:
    runs = {"digits": _runs([40.0, 48.0, 36.0], [0.96, 0.97, 0.95]),
            "photos": {**_runs([40.0, 48.0, 36.0], [0.96, 0.97, 0.95]),
                       "proposed": [_ours(30.0, 0.97)] * 3}}
    figure = fig1.summarize(runs, SCALE, {"max_trials": 6}, {"digits": 100, "photos": 24},
                            {"objective": "val_loss"})
    assert [(r["dataset"], r["tool"][:4]) for r in figure.rows] == [
        ("digits", "anch"), ("digits", "ours"), ("photos", "anch"), ("photos", "ours"),
        ("photos", "ours")]
    ours = figure.rows[1]
    assert ours["x anchor"] == "0.40 (0.40-0.45)"
    assert ours["held-out acc"] == "0.9600 (0.9500-0.9700)" and ours["image"] == "32 px grayscale"
    assert figure.rows[0]["x anchor"] == "1.00" and figure.rows[0]["image"] == "32 px rgb"
    assert figure.rows[4]["x anchor"] == "0.30 (0.25-0.38)"
    assert any("overridden with {'max_trials': 6}" in n for n in figure.notes)


def test_results_page_has_a_table_per_dataset() -> None:
    runs = {name: _runs([40.0, 48.0, 36.0], [0.96, 0.97, 0.95]) for name in ("digits", "photos")}
    figure = fig1.summarize(runs, SCALE, {}, {"digits": 100, "photos": 24})
    text = report.render([figure], {"cpu cores": 2}, "full", 60.0)
    assert "### digits\n\n| tool | image |" in text and "### photos\n\n| tool |" in text
    assert text.count("| tool | image | wall s |") == 2


def test_pairs_need_as_many_runs_on_each_side() -> None:
    with pytest.raises(ValueError, match="as many runs"):
        fig1.pair_ratios([_ours(1.0, 0.9)], [])
    assert fig1.pair_ratios([_ours(50.0, 0.9)], [_anchor(100.0, 0.9)]) == [0.5]


def test_spread_text() -> None:
    assert fig1.Spread.of([0.3, 0.5, 0.4]).text(2) == "0.40 (0.30-0.50)"
    assert fig1.Spread.of([0.4]).text(2) == "0.40"


def test_scales_name_known_datasets_and_full_repeats_three_times() -> None:
    from bench.workloads.datasets import DATASETS

    assert set(fig1.FULL.datasets) == set(DATASETS) and fig1.FULL.repeats >= 3
    assert set(fig1.QUICK.datasets) <= set(DATASETS)


def test_scaled_overrides_follow_the_anchor() -> None:
    assert fig1.scaled_overrides(10, 10) == {}
    scaled = fig1.scaled_overrides(5, 10)
    assert scaled["max_trials"] >= 2 and scaled["epochs"] >= 1


def test_proposed_defaults_leave_out_what_the_engine_already_has() -> None:
    from tuning_core.runs.schema import TunerSettings

    defaults = TunerSettings().to_dict()
    assert all(defaults.get(k) != v for k, v in fig1.proposed_overrides().items())


def test_each_median_carries_its_interval_and_the_gap_its_margin() -> None:
    """The issue's case: 0.912 against 0.945 on 91 held-out images is within the margin."""
    runs = {"imbalanced_noisy": _runs([40.0, 48.0, 36.0], [0.912, 0.912, 0.923])}
    runs["imbalanced_noisy"]["anchor"] = [_anchor(w, 0.945) for w in (100.0, 120.0, 80.0)]
    figure = fig1.summarize(runs, SCALE, {}, {"imbalanced_noisy": 91})
    note = next(n for n in figure.notes if n.startswith("imbalanced_noisy ("))
    assert "NOT met" in note and "ours 0.912 (95% interval 0.836-0.955, 91 images)" in note
    assert "gap -0.033" in note and "within the margin" in note
    assert "retrains refused 0, chance-level models handed back 0" in note


def test_refused_and_chance_level_retrains_are_counted_not_averaged() -> None:
    ours = [_ours(40.0, 0.96), {**_ours(40.0, 0.0), "holdout_accuracy": None},
            _ours(40.0, 0.10)]
    for result in ours:
        result["classes"] = 10
    runs = {"digits": {"anchor": [_anchor(100.0, 0.95)] * 3, "ours": ours}}
    verdict = fig1.DatasetVerdict.of("digits", runs["digits"], 100)
    assert (verdict.refused, verdict.broken) == (1, 1)
    assert verdict.ours_accuracy.median == pytest.approx(0.53)  # of the two models handed back
    row = next(r for r in fig1.summarize(runs, SCALE, {}, {"digits": 100}).rows
               if r["tool"].startswith("ours"))
    assert row["held-out acc"] == "0.5300 (0.1000-0.9600)"
