"""Retrain the best trial, save a self-contained model, evaluate on the test split, predict."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import write_image_folder
from tuning_core.core.errors import DatasetError, RunError
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.registry import JobRegistry
from tuning_core.model.best import load_evaluation, load_history, retrain_best, retrain_progress
from tuning_core.model.predict import predict
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("best")
    data = write_image_folder(root / "images", {"a": 10, "b": 10, "c": 10}, mode="L")
    config = RunConfig(data_dir=str(data), space=get_preset("small"),
                       image=ImageConfig(16, "grayscale"),
                       tuner=TunerSettings(tuner="random", max_trials=2, epochs=1, patience=0))
    registry = JobRegistry(root / "runs")
    run_dir = registry.start_search(config)
    assert registry.wait(timeout=300)
    return run_dir


def test_retrain_saves_model_and_evaluation(finished_run: Path) -> None:
    evaluation = retrain_best(finished_run, epochs=2)
    best = finished_run / "best"
    for name in ("model.keras", "hyperparameters.json", "history.json", "evaluation.json"):
        assert (best / name).is_file(), name
    assert 0.0 <= evaluation["test_accuracy"] <= 1.0 and evaluation["test_loss"] > 0
    assert evaluation["classes"] == ["a", "b", "c"]
    matrix = np.array(evaluation["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == evaluation["test_images"]
    assert {row["class"] for row in evaluation["per_class"]} == {"a", "b", "c"}
    wrong = int(matrix.sum() - np.trace(matrix))
    assert len(evaluation["misclassified"]) == wrong
    assert load_evaluation(finished_run) == json.loads((best / "evaluation.json").read_text())
    assert len(load_history(finished_run)["loss"]) >= 1
    done, planned, status = retrain_progress(finished_run)
    assert planned == 2 and 1 <= done <= 2 and status == "finished"
    hps = json.loads((best / "hyperparameters.json").read_text())
    assert "learning_rate" in hps["values"]
    assert not any(k.startswith("tuner/") for k in hps["values"])


def test_saved_model_stands_alone(finished_run: Path) -> None:
    if not (finished_run / "best" / "model.keras").is_file():
        retrain_best(finished_run, epochs=1)
    model = keras.models.load_model(finished_run / "best" / "model.keras")
    assert model.input_shape == (None, 16, 16, 1)
    raw = np.full((2, 16, 16, 1), 200, dtype="float32")  # raw 0..255 pixels: scaling is inside
    probabilities = model.predict(raw, verbose=0)
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_predict_images_resized_as_in_training(finished_run: Path, tmp_path: Path) -> None:
    if not (finished_run / "best" / "model.keras").is_file():
        retrain_best(finished_run, epochs=1)
    other = write_image_folder(tmp_path / "new", {"x": 1}, size=40, mode="RGB")
    image = next(other.glob("x/*.png"))
    [prediction] = predict(finished_run, [image])
    assert prediction.label in {"a", "b", "c"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"broken\.png"):
        predict(finished_run, [broken])


def test_rank_out_of_range_is_a_clear_error(finished_run: Path) -> None:
    with pytest.raises(RunError, match="rank must be between 1 and 2"):
        retrain_best(finished_run, epochs=1, rank=5)


def test_retrain_through_the_registry(finished_run: Path) -> None:
    registry = JobRegistry(finished_run.parent)
    registry.start_retrain(finished_run, epochs=1, rank=2)
    assert registry.active_kind() in ("retrain", None)
    assert registry.wait(timeout=300)
    assert registry.last_error(finished_run) is None
    assert json.loads((finished_run / "best" / "hyperparameters.json").read_text())["rank"] == 2


def test_a_failed_retrain_leaves_the_previous_best_model_intact(
        finished_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuning_core.model import best

    if not (finished_run / "best" / "model.keras").is_file():
        retrain_best(finished_run, epochs=1)
    before = {p.name: p.read_bytes() for p in (finished_run / "best").iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while testing")  # fails after the model was trained

    monkeypatch.setattr(best, "evaluate", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        retrain_best(finished_run, epochs=1)
    after = {p.name: p.read_bytes() for p in (finished_run / "best").iterdir()}
    assert after == before  # the old model, history and evaluation, byte for byte
    assert not list(finished_run.glob(".best-*"))  # nothing half-made left behind
    assert retrain_progress(finished_run)[2] == "failed"


def test_the_retrained_trial_is_the_one_ranked(finished_run: Path) -> None:
    from tuning_core.runs.rundir import RunDir

    retrain_best(finished_run, epochs=1, rank=1)
    saved = json.loads((finished_run / "best" / "hyperparameters.json").read_text())
    top = RunDir(finished_run).best_trials()[0]
    assert (saved["trial_id"], saved["number"], saved["search_score"]) == \
        (top.trial_id, top.number, top.score)


@pytest.mark.parametrize("fill, why", [(np.nan, "not numbers"), (0.0, "against 1.000")])
def test_a_retrain_far_worse_than_its_trial_is_refused_and_the_best_kept(
        finished_run: Path, monkeypatch: pytest.MonkeyPatch, fill: float, why: str) -> None:
    """A retrain that diverged (NaN weights) or came back at chance (a constant model, here
    against a trial said to have reached 1.0) is tried again with another seed, then refused
    with the evidence: the previous best model stays, and the log and the error say why."""
    from tuning_core.core.errors import RetrainRejected
    from tuning_core.model import best
    from tuning_core.runs.rundir import RunDir

    if not (finished_run / "best" / "model.keras").is_file():
        retrain_best(finished_run, epochs=1)
    before = {p.name: p.read_bytes() for p in (finished_run / "best").iterdir()}
    fits = []

    def broken_fit(model, *args, **kwargs):
        fits.append(kwargs.get("start_from_epoch"))
        model.set_weights([np.full(w.shape, fill, w.dtype) for w in model.get_weights()])
        return {"loss": [float("nan")]}

    reference = best.trial_reference
    monkeypatch.setattr(best, "_fit", broken_fit)
    monkeypatch.setattr(best, "trial_reference", lambda run, picked, within=None:
                        best.TrialReference(picked.trial_id, 1.0,
                                            reference(run, picked).best_epoch))
    with pytest.raises(RetrainRejected, match=why) as refused:
        retrain_best(finished_run, epochs=1)
    assert "previous best model is kept" in str(refused.value)
    assert len(fits) == best.RETRAIN_ATTEMPTS
    after = {p.name: p.read_bytes() for p in (finished_run / "best").iterdir()}
    assert after == before and not list(finished_run.glob(".best-*"))
    lines = RunDir(finished_run).retrain_log_path.read_text().splitlines()
    checks = [e for e in map(json.loads, lines) if e.get("event") == "retrain_check"]
    assert [c["passed"] for c in checks] == [False] * best.RETRAIN_ATTEMPTS
    assert retrain_progress(finished_run)[2] == "failed"


def test_a_good_retrain_records_its_check(finished_run: Path) -> None:
    retrain_best(finished_run, epochs=2)
    saved = json.loads((finished_run / "best" / "hyperparameters.json").read_text())
    check = saved["check"]
    assert check["passed"] and check["attempt"] == 1 and check["val_images"] > 0
    assert check["trial_val_accuracy"] is not None


def test_a_short_retrain_is_held_to_what_its_trial_had_reached_by_then(
        augmented_run: Path) -> None:
    """A retrain of fewer epochs than its trial trained is compared with the trial's best
    among those first epochs, not with a later jump (a trial that went from chance to 1.000
    on a dozen validation images in its last epoch made every short retrain 'far worse')."""
    from tuning_core.model import best
    from tuning_core.runs.rundir import RunDir

    run = RunDir(augmented_run)  # read only
    top = run.best_trials()[0]
    rows = run.reader().epochs()
    rows = rows[rows["trial_id"].astype(str) == str(top.trial_id)]
    assert rows["epoch"].max() >= 1  # the fixture's trials train more than one epoch
    first = best.trial_reference(run, top, within=1)
    assert first.best_epoch == 0
    assert first.val_accuracy == pytest.approx(float(rows[rows["epoch"] == 0]["val_accuracy"]
                                                     .mean()))
    whole = best.trial_reference(run, top)
    assert best.trial_reference(run, top, within=int(rows["epoch"].max()) + 1) == whole
