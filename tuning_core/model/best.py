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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuning_core.core import atomic
from tuning_core.core.errors import RetrainRejected, RunError
from tuning_core.core.states import Direction, LogEvent, SearchEnd
from tuning_core.runs.ranking import RankedTrial
from tuning_core.runs.rundir import (
    EVALUATION_FILE,
    HISTORY_FILE,
    HYPERPARAMETERS_FILE,
    MODEL_FILE,
    RunDir,
)
from tuning_core.runs.triallog import TrialLogWriter, clean_metrics
from tuning_core.search import precision, tfmemory


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
    import keras
    import keras_tuner as kt

    from tuning_core.search.hypermodel import CNNHyperModel
    from tuning_core.search.lifecycle import prepare_data

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
    log.write(LogEvent.RETRAIN_START, epochs=epochs, trial_id=picked.trial_id, number=picked.number,
              rank=rank, **chosen.log_fields())
    for leftover in run.path.glob(".best-*"):  # from a retrain that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    staged = Path(tempfile.mkdtemp(prefix=".best-", dir=run.path))
    trial = trial_reference(run, picked)
    reference = trial_reference(run, picked, within=epochs)  # what the check holds it to
    try:
        hp = kt.HyperParameters.from_config(record["hyperparameters"])
        data, test = prepare_data(run, full_train=True, with_test=True)
        for attempt in range(1, RETRAIN_ATTEMPTS + 1):
            keras.utils.set_random_seed(RETRAIN_SEED + attempt)  # another start on a retry
            with precision.training_policy(chosen):
                model = CNNHyperModel(config.space, config.image.image_size,
                                      config.image.channels, data.num_classes).build(hp)
                with tfmemory.released_gradients():
                    history = _fit(model, data.training, hp, config, epochs, staged, run,
                                   start_from_epoch=trial.best_epoch)
            check = RetrainCheck.of(model, data.training, hp, reference, data.num_classes,
                                    attempt)
            log.write(LogEvent.RETRAIN_CHECK, **check.to_dict())
            if check.passed:
                break
        else:
            raise RetrainRejected(check.describe())
        model.save(staged / MODEL_FILE)
        atomic.write_json(staged / HYPERPARAMETERS_FILE, {
            "trial_id": picked.trial_id, "number": picked.number, "rank": rank,
            "search_score": picked.score, "check": check.to_dict(),
            "values": {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}})
        atomic.write_json(staged / HISTORY_FILE, {k: [clean_metrics({k: v})[k] for v in vs]
                                                  for k, vs in history.items()})
        evaluation = evaluate(model, test, data.split)
        if data.changes:  # the folder was edited since the search: say what was tested on
            evaluation["data_changes"] = data.changes
        atomic.write_json(staged / EVALUATION_FILE, evaluation)
        atomic.swap_dir(staged, run.best_dir)
    except BaseException as error:
        shutil.rmtree(staged, ignore_errors=True)
        log.write(LogEvent.RETRAIN_END, status=SearchEnd.FAILED.value,
                  message=f"{type(error).__name__}: {error}")
        raise
    log.write(LogEvent.RETRAIN_END, status=SearchEnd.FINISHED.value,
              test_accuracy=evaluation["test_accuracy"], test_loss=evaluation["test_loss"],
              **({"data_changes": data.changes["summary"]} if data.changes else {}))
    return evaluation


RETRAIN_ATTEMPTS = 2  # a retrain far worse than its trial is tried once more, then refused
RETRAIN_SEED = 1000
# A retrained model is refused when its validation accuracy falls below its trial's by more
# than this, or three standard errors of the trial's on the validation images if that is more.
MAX_DROP = 0.15


@dataclass(frozen=True)
class TrialReference:
    """What the picked trial reached in the search: its best validation accuracy, the epoch
    of it (0-based, None when unknown), and how many validation images measured it."""

    trial_id: str
    val_accuracy: float | None
    best_epoch: int | None


def trial_reference(run: RunDir, picked: RankedTrial,
                    within: int | None = None) -> TrialReference:
    """The picked trial's best epoch by the run's objective and its validation accuracy
    there, from the trial log (averaged over executions, as the objective is); ``within``:
    among its first so many epochs only (a retrain of fewer epochs than the trial trained is
    held to what the trial had reached by then, not to a later jump)."""
    epochs = run.reader().epochs()
    objective, direction = run.config().tuner.objective, run.direction
    if epochs.empty or "trial_id" not in epochs:
        return TrialReference(picked.trial_id, None, None)
    rows = epochs[epochs["trial_id"].astype(str) == str(picked.trial_id)]
    if rows.empty or objective not in rows:
        return TrialReference(picked.trial_id, None, None)
    per_epoch = rows.groupby("epoch")[[c for c in (objective, "val_accuracy") if c in rows]].mean()
    if within is not None:
        per_epoch = per_epoch[per_epoch.index < within]
    scores = per_epoch[objective].dropna()
    if scores.empty:
        return TrialReference(picked.trial_id, None, None)
    best = Direction.of(direction).best_index(scores)
    accuracy = per_epoch.get("val_accuracy")
    value = None if accuracy is None or np.isnan(accuracy.loc[best]) else float(accuracy.loc[best])
    return TrialReference(picked.trial_id, value, int(best))


@dataclass(frozen=True)
class RetrainCheck:
    """The retrained model against its trial, on the validation images: far worse (or not a
    number) means the retrain failed (a start stuck on a plateau, a divergence), not that the
    trial was lucky. Written to the retrain log and ``hyperparameters.json``."""

    attempt: int
    trial_val_accuracy: float | None
    val_accuracy: float
    val_loss: float
    val_images: int
    chance: float
    allowed_drop: float

    @classmethod
    def of(cls, model: Any, training: Any, hp: Any, trial: TrialReference, classes: int,
           attempt: int) -> RetrainCheck:
        batch_size = int(hp.values.get("batch_size", 32))
        images = 0
        correct, loss = 0, 0.0
        for x, y in training.validation(batch_size):
            probabilities = np.asarray(model.predict_on_batch(x), dtype="float64")
            labels = np.asarray(y)
            labels = (labels.argmax(axis=1) if labels.ndim == 2 else labels.reshape(-1)).astype(int)
            if labels.size and probabilities.ndim == 2:
                picked = probabilities[np.arange(labels.size), labels]
                loss -= float(np.log(np.clip(picked, 1e-7, 1.0)).sum())
                correct += int((probabilities.argmax(axis=1) == labels).sum())
                images += int(labels.size)
        reference = trial.val_accuracy
        spread = 0.0 if reference is None or not images else \
            3 * float(np.sqrt(reference * (1 - reference) / images))
        return cls(attempt, reference, correct / images if images else float("nan"),
                   loss / images if images else float("nan"), images, 1.0 / max(1, classes),
                   max(MAX_DROP, spread))

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.val_loss) and np.isfinite(self.val_accuracy))

    @property
    def passed(self) -> bool:
        """Finite, and (when the trial's accuracy is known) not far below it."""
        if not self.finite:
            return False
        if self.trial_val_accuracy is None:
            return self.val_accuracy > self.chance + MAX_DROP or self.val_images == 0
        return self.val_accuracy >= self.trial_val_accuracy - self.allowed_drop

    def describe(self) -> str:
        """Why the retrain was refused, with the evidence."""
        if not self.finite:
            what = "gives outputs that are not numbers (training diverged)"
        else:
            trial = ("" if self.trial_val_accuracy is None
                     else f" against {self.trial_val_accuracy:.3f} for its trial in the search")
            what = (f"scored {self.val_accuracy:.3f} validation accuracy on "
                    f"{self.val_images} images{trial} (chance is {self.chance:.3f})")
        return (f"retrain refused after {self.attempt} attempt(s): the retrained model {what}. "
                f"The previous best model is kept; retrain again, with more epochs or another "
                f"trial.")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _fit(model: Any, training: Any, hp: Any, config: Any, epochs: int, best_dir: Path,
         run: RunDir, start_from_epoch: int | None = None) -> dict[str, list[float]]:
    """Fit with early stopping that waits at least until the epoch at which the trial reached
    its score: a retrain whose start stalls a few epochs longer than the trial's did (seen:
    validation accuracy at chance for 3 epochs) must not stop there and keep that epoch."""
    import keras

    from tuning_core.search.callbacks import TrialLogCallback
    from tuning_core.search.checkpoints import BestWeights

    monitor, mode = config.tuner.objective, config.tuner.direction
    checkpoint = best_dir / "checkpoint.weights.h5"
    checkpoint.unlink(missing_ok=True)  # never the weights of an earlier attempt
    callbacks = [
        TrialLogCallback(str(run.retrain_log_path), "retrain", 0, str(run.path)),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=max(3, epochs // 5),
                                      start_from_epoch=min(start_from_epoch or 0, epochs // 2)),
        BestWeights(checkpoint, monitor, mode),  # h5py never meets a full disk (issue 27)
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                          patience=max(2, epochs // 10), min_lr=1e-6),
    ]
    batch_size = int(hp.values.get("batch_size", 32))
    from tuning_core.search.hypermodel import fit_options

    history = model.fit(training.train(batch_size), validation_data=training.validation(batch_size),
                        epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0,
                        **fit_options(hp, training))
    if checkpoint.is_file():
        model.load_weights(str(checkpoint))  # the best epoch, not the last one
        checkpoint.unlink()
    return history.history


def evaluate(model: Any, test: Any, split: Any) -> dict[str, Any]:
    """Test loss and accuracy, per-class precision/recall/F1, confusion matrix, misclassified
    files."""
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
        "test_images": len(labels),
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
