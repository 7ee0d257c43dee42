"""The best model: retrain a top trial on all training images, save it, test it.

Writes ``best/model.keras`` (self-contained: images at the run's size and colour mode,
0..255, scaling inside), ``hyperparameters.json``, ``history.json`` and
``evaluation.json``, and logs progress to the run's retrain log (one line per epoch).
The new ``best/`` is built beside the old one and swapped in whole, so a retrain that is
killed or fails leaves the previous best model as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import atomic, precision, tfmemory
from .errors import RunError
from .ranking import RankedTrial
from .rundir import (EVALUATION_FILE, HISTORY_FILE, HYPERPARAMETERS_FILE, MODEL_FILE, RunDir)
from .triallog import TrialLogWriter, clean_metrics


def pick_trial(run: RunDir, rank: int, trial_id: str | None = None) -> RankedTrial:
    """The rank-th best trial by the one ranking every page shows, or the trial ``trial_id``
    when given (any competing trial: one chosen by cost); RunError when none."""
    ranked = run.best_trials()
    if trial_id is not None:
        return pick_by_id(run, ranked, trial_id)
    if rank < 1 or rank > len(ranked):
        raise RunError(f"{run.name} has {len(ranked)} ranked trial(s); "
                       f"rank must be between 1 and {max(1, len(ranked))}, got {rank}.")
    return ranked[rank - 1]


def pick_by_id(run: RunDir, ranked: list[RankedTrial], trial_id: str) -> RankedTrial:
    """The competing trial ``trial_id``; RunError when it did not complete (or is unknown)."""
    for trial in ranked:
        if trial.trial_id == str(trial_id):
            return trial
    raise RunError(f"trial {trial_id} of {run.name} did not complete with a score, so it "
                   "cannot be retrained; pick a completed trial.")


def retrain_best(run_dir: str | Path, epochs: int = 30, rank: int = 1,
                 trial_id: str | None = None) -> dict[str, Any]:
    """Retrain, save and evaluate the rank-th best trial (or the trial ``trial_id``, as
    chosen by cost); returns the evaluation dict."""
    import keras_tuner as kt

    from .hypermodel import CNNHyperModel
    from .search import prepare_data

    run = RunDir(run_dir)
    if epochs < 1:
        raise RunError(f"epochs must be at least 1; got {epochs}.")
    config = run.config()
    picked = pick_trial(run, rank, trial_id)
    rank = picked.rank
    record = run.trial_record(picked.trial_id)
    run.retrain_log_path.unlink(missing_ok=True)
    log = TrialLogWriter(run.retrain_log_path)
    chosen = precision.choose(config.tuner)
    log.write("retrain_start", epochs=epochs, trial_id=picked.trial_id, number=picked.number,
              rank=rank, **chosen.log_fields())
    for leftover in run.path.glob(".best-*"):  # from a retrain that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    staged = Path(tempfile.mkdtemp(prefix=".best-", dir=run.path))
    try:
        hp = kt.HyperParameters.from_config(record["hyperparameters"])
        data, test = prepare_data(run, full_train=True, with_test=True)
        with precision.training_policy(chosen):
            model = CNNHyperModel(config.space, config.image.image_size, config.image.channels,
                                  data.num_classes).build(hp)
            with tfmemory.released_gradients():
                history = _fit(model, data.training, hp, config, epochs, staged, run)
        model.save(staged / MODEL_FILE)
        atomic.write_json(staged / HYPERPARAMETERS_FILE, {
            "trial_id": picked.trial_id, "number": picked.number, "rank": rank,
            "search_score": picked.score,
            "values": {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}})
        atomic.write_json(staged / HISTORY_FILE, {k: [clean_metrics({k: v})[k] for v in vs]
                                                  for k, vs in history.items()})
        evaluation = evaluate(model, test, data.split)
        atomic.write_json(staged / EVALUATION_FILE, evaluation)
        atomic.swap_dir(staged, run.best_dir)
    except BaseException as error:
        shutil.rmtree(staged, ignore_errors=True)
        log.write("retrain_end", status="failed", message=f"{type(error).__name__}: {error}")
        raise
    log.write("retrain_end", status="finished", test_accuracy=evaluation["test_accuracy"],
              test_loss=evaluation["test_loss"])
    return evaluation


def _fit(model: Any, training: Any, hp: Any, config: Any, epochs: int, best_dir: Path,
         run: RunDir) -> dict[str, list[float]]:
    import keras

    from .callbacks import TrialLogCallback

    monitor, mode = config.tuner.objective, config.tuner.direction
    checkpoint = best_dir / "checkpoint.weights.h5"
    callbacks = [
        TrialLogCallback(str(run.retrain_log_path), "retrain", 0, str(run.path)),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=max(3, epochs // 5)),
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                          patience=max(2, epochs // 10), min_lr=1e-6),
    ]
    batch_size = int(hp.values.get("batch_size", 32))
    history = model.fit(training.train(batch_size), validation_data=training.validation(batch_size),
                        epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)
    if checkpoint.is_file():
        model.load_weights(str(checkpoint))  # the best epoch, not the last one
        checkpoint.unlink()
    return history.history


def evaluate(model: Any, test: Any, split: Any) -> dict[str, Any]:
    """Test loss and accuracy, per-class precision/recall/F1, confusion matrix, misclassified files."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    images, labels = test.arrays()
    probabilities = model.predict(images.astype("float32"), batch_size=256, verbose=0)
    predicted = probabilities.argmax(axis=1)
    n = len(split.classes)
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=list(range(n)), zero_division=0)
    return {
        "test_loss": float(-np.log(picked).mean()),
        "test_accuracy": float((predicted == labels).mean()),
        "test_images": int(len(labels)),
        "classes": list(split.classes),
        "per_class": [{"class": c, "precision": float(precision[i]), "recall": float(recall[i]),
                       "f1": float(f1[i]), "support": int(support[i])}
                      for i, c in enumerate(split.classes)],
        "confusion_matrix": confusion_matrix(labels, predicted, labels=list(range(n))).tolist(),
        "misclassified": _misclassified(split, labels, predicted, probabilities),
    }


def _misclassified(split: Any, labels: np.ndarray, predicted: np.ndarray,
                   probabilities: np.ndarray) -> list[dict[str, Any]]:
    return [{"path": split.test[i][0], "true": split.classes[labels[i]],
             "predicted": split.classes[predicted[i]],
             "confidence": float(probabilities[i, predicted[i]])}
            for i in np.flatnonzero(predicted != labels)]


def load_evaluation(run_dir: str | Path) -> dict[str, Any] | None:
    """The saved test evaluation of a run's best model, or None before a retrain."""
    return RunDir(run_dir).best_json(EVALUATION_FILE)


def load_history(run_dir: str | Path) -> dict[str, list[float]] | None:
    """The retrain's Keras history (metric -> values per epoch), or None."""
    return RunDir(run_dir).best_json(HISTORY_FILE)


def load_hyperparameters(run_dir: str | Path) -> dict[str, Any] | None:
    """Which trial the best model came from and its hyperparameter values, or None."""
    return RunDir(run_dir).best_json(HYPERPARAMETERS_FILE)


def retrain_progress(run_dir: str | Path) -> tuple[int, int, str | None]:
    """(epochs done, epochs planned, status) of the run's latest retrain, from its log."""
    reader = RunDir(run_dir).retrain_reader()
    planned = int((reader.last_start or {}).get("epochs") or 0)
    return len(reader.epochs()), planned, reader.search_status
