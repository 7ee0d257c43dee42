"""Explanations of a retrained model: every test image by loss, confused pairs, heatmaps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tuning_core.core.errors import RunError
from tuning_core.model.explain import explain_run, file_heatmaps, is_current, load_explanation
from tuning_core.runs.rundir import RunDir


@pytest.fixture(scope="module")
def explained(augmented_run, tmp_path_factory) -> Path:
    run = Path(shutil.copytree(augmented_run, tmp_path_factory.mktemp("explain") / "run"))
    explain_run(run, limit=4)
    return run


@pytest.mark.training
def test_every_test_image_is_listed_highest_loss_first(explained):
    explanation = load_explanation(explained)
    split = RunDir(explained).load_split()
    assert sorted(i.path for i in explanation.images) == sorted(p for p, _ in split["test"])
    losses = [i.loss for i in explanation.images]
    assert losses == sorted(losses, reverse=True)
    evaluation = json.loads((RunDir(explained).best_dir / "evaluation.json").read_text())
    assert len(explanation.misclassified) == len(evaluation["misclassified"])
    assert is_current(explanation, explained)


@pytest.mark.training
def test_confused_pairs_count_the_misclassified(explained):
    explanation = load_explanation(explained)
    assert sum(p.count for p in explanation.confused) == len(explanation.misclassified)
    counts = [p.count for p in explanation.confused]
    assert counts == sorted(counts, reverse=True)
    assert all(p.true != p.predicted and len(p.paths) == p.count for p in explanation.confused)


@pytest.mark.training
def test_heatmaps_are_drawn_up_to_the_limit_misclassified_first(explained):
    explanation = load_explanation(explained)
    drawn = [i for i in explanation.images if i.heatmap]
    assert len(drawn) == 4 and explanation.target_layer.startswith("conv_")
    assert all((RunDir(explained).explain_dir / i.heatmap).is_file() for i in drawn)
    wrong = explanation.misclassified
    assert all(i.heatmap for i in wrong[:4])  # the misclassified come first


@pytest.mark.training
def test_try_it_images_get_heatmaps(explained):
    from tuning_core.model.predict import load_best_model

    split = RunDir(explained).load_split()
    files = [Path(split["root"]) / p for p, _ in split["test"][:2]]
    pngs = file_heatmaps(explained, files, load_best_model(explained))
    assert len(pngs) == 2 and all(p.startswith(b"\x89PNG") for p in pngs)


def test_a_run_without_a_best_model_is_refused(tmp_path, image_folder):
    from tests.pages.support import make_run

    run = make_run(tmp_path / "runs", image_folder)
    with pytest.raises(RunError, match="no best model yet"):
        explain_run(run)
