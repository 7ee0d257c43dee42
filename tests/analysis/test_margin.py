"""Intervals on accuracies (tuning_core/analysis/margin.py): Wilson per score, Newcombe per
difference."""

from __future__ import annotations

import pytest

from tuning_core.analysis.margin import Accuracy, Difference, evaluation_accuracy, wilson


def test_wilson_matches_the_textbook_values() -> None:
    # Newcombe (1998), table I: 81 of 263 -> 0.2553-0.3662; 15 of 148 -> 0.0624-0.1605
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    low, high = wilson(20, 20)  # all right: the interval still admits errors
    assert high == 1.0 and 0.83 < low < 0.84
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_interval_narrows_with_more_images_and_round_trips() -> None:
    small, large = Accuracy.of(0.9, 30), Accuracy.of(0.9, 3000)
    assert small.half_width > 4 * large.half_width
    assert small.text().startswith("0.900 (95% interval 0.7") and "30 images" in small.text()
    assert Accuracy.from_dict(small.to_dict()) == small


def test_a_difference_within_the_margin_is_said_to_be_one() -> None:
    close = Difference(Accuracy(83, 91), Accuracy(86, 91))  # 0.912 vs 0.945: the case
    assert close.within_noise and "cannot be told apart" in close.describe(("ours", "anchor"))
    far = Difference(Accuracy(950, 1000), Accuracy(800, 1000))
    assert not far.within_noise and far.describe(("a", "b")).startswith("a is more accurate")
    low, high = far.interval
    assert low < 0.15 < high
    # Newcombe (1998), table II example: 56/70 vs 48/80 -> difference 0.2, 0.0524-0.3339
    assert Difference(Accuracy(56, 70), Accuracy(48, 80)).interval == pytest.approx(
        (0.0524, 0.3339), abs=1e-4)


def test_an_evaluation_gives_its_accuracy_and_sample() -> None:
    accuracy = evaluation_accuracy({"test_accuracy": 0.75, "test_images": 40})
    assert accuracy == Accuracy(30, 40)
    legacy = {"test_accuracy": 0.5, "per_class": [{"support": 3}, {"support": 5}]}
    assert evaluation_accuracy(legacy) == Accuracy(4, 8)
    assert evaluation_accuracy(None) is None and evaluation_accuracy({}) is None
