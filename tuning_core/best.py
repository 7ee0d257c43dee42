"""The best model: retrain a top trial on all training images, save it, test it.

Writes ``best/model.keras`` (self-contained: images at the run's size and colour mode,
0..255, scaling inside), ``hyperparameters.json``, ``history.json``, ``evaluation.json``
and ``retrain.jsonl`` (progress, one line per epoch) in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import tfmemory
from .errors import RunError
from .pruning import ranked_trials
from .runs import BEST_DIR, PROJECT_NAME, load_config
from .triallog import TrialLogReader, TrialLogWriter, clean_metrics

RETRAIN_LOG = "retrain.jsonl"
MODEL_FILE = "model.keras"


def pick_trial(run_dir: Path, rank: int, direction: str) -> dict[str, Any]:
    """The rank-th best completed trial's record (trial.json); RunError when there is none."""
    ranked = ranked_trials(run_dir / PROJECT_NAME, direction)
    if rank < 1 or rank > len(ranked):
        raise RunError(f"{run_dir.name} has {len(ranked)} completed trial(s); "
                       f"rank must be between 1 and {max(1, len(ranked))}, got {rank}.")
    return ranked[rank - 1]


def retrain_best(run_dir: str | Path, epochs: int = 30, rank: int = 1) -> dict[str, Any]:
    """Retrain, save and evaluate the rank-th best trial; returns the evaluation dict."""
    import keras_tuner as kt

    from .hypermodel import CNNHyperModel
    from .search import prepare_data

    run_dir = Path(run_dir)
    if epochs < 1:
        raise RunError(f"epochs must be at least 1; got {epochs}.")
    config = load_config(run_dir)
    record = pick_trial(run_dir, rank, config.tuner.direction)
    best_dir = run_dir / BEST_DIR
    best_dir.mkdir(exist_ok=True)
    log = TrialLogWriter(best_dir / RETRAIN_LOG)
    (best_dir / RETRAIN_LOG).unlink(missing_ok=True)
    log.write("search_start", max_trials=epochs, trial_id=record["trial_id"], rank=rank)
    try:
        hp = kt.HyperParameters.from_config(record["hyperparameters"])
        data, test = prepare_data(config, run_dir, full_train=True, with_test=True)
        model = CNNHyperModel(config.space, config.image.image_size, config.image.channels,
                              data.num_classes).build(hp)
        with tfmemory.released_gradients():
            history = _fit(model, data.training, hp, config, epochs, best_dir, str(run_dir))
        model.save(best_dir / MODEL_FILE)
        _save_json(best_dir / "hyperparameters.json", {
            "trial_id": record["trial_id"], "rank": rank, "search_score": record.get("score"),
            "values": {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}})
        _save_json(best_dir / "history.json", {k: [clean_metrics({k: v})[k] for v in vs]
                                               for k, vs in history.items()})
        evaluation = evaluate(model, test, data.split)
        _save_json(best_dir / "evaluation.json", evaluation)
    except Exception as error:
        log.write("search_end", status="failed", message=f"{type(error).__name__}: {error}")
        raise
    log.write("search_end", status="finished", test_accuracy=evaluation["test_accuracy"],
              test_loss=evaluation["test_loss"])
    return evaluation


def _fit(model: Any, training: Any, hp: Any, config: Any, epochs: int, best_dir: Path,
         key: str) -> dict[str, list[float]]:
    import keras

    from .callbacks import TrialLogCallback

    monitor, mode = config.tuner.objective, config.tuner.direction
    checkpoint = best_dir / "checkpoint.weights.h5"
    callbacks = [
        TrialLogCallback(str(best_dir / RETRAIN_LOG), "retrain", 0, key),
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


def _save_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)  # readers never see half a file


def load_evaluation(run_dir: str | Path) -> dict[str, Any] | None:
    """The saved test evaluation of a run's best model, or None before a retrain."""
    path = Path(run_dir) / BEST_DIR / "evaluation.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_history(run_dir: str | Path) -> dict[str, list[float]] | None:
    """The retrain's Keras history (metric -> values per epoch), or None."""
    path = Path(run_dir) / BEST_DIR / "history.json"
    return json.loads(path.read_text()) if path.is_file() else None


def retrain_progress(run_dir: str | Path) -> tuple[int, int, str | None]:
    """(epochs done, epochs planned, status) of the run's latest retrain, from its log."""
    reader = TrialLogReader(Path(run_dir) / BEST_DIR / RETRAIN_LOG)
    reader.poll()
    planned = int((reader.last_start or {}).get("max_trials") or 0)
    return len(reader.epochs()), planned, reader.search_status

