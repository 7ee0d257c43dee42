"""Data health: the dataset's own problems, found after a retrain.

* Suspected label errors: images whose given label the model confidently disagrees with,
  judged on out-of-sample probabilities (each image predicted by a model that never saw
  it: ``folds`` short cross-validated fits of the best trial's architecture), by cleanlab's
  confident learning (``cleanlab.filter.find_label_issues``, ranked by self-confidence);
  not judged when those models are too weak for their disagreement to mean anything.
* Near-duplicates: images equal byte for byte, or whose small grey thumbnails (mean taken
  out, scaled to unit length) are within ``DUPLICATE_DISTANCE`` in cosine distance
  (scikit-learn's nearest neighbours). A pair split between train, validation and test is a
  leak: the held-out score then measures memory, not generalisation.
* Outliers: cleanlab's ``OutOfDistribution`` scores (k nearest neighbours of the grey
  thumbnails as they are); an image is flagged below Tukey's far fence (Q1 - 3 IQR) of
  its class's log scores (classes may differ in how tight they are).

Everything is listed with its reason in ``health/health.json`` (swapped in whole); the user
can exclude flagged files from the dataset's next search (:mod:`tuning_core.runs.exclusions`).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from tuning_core.core import atomic
from tuning_core.core.errors import RunError
from tuning_core.data import changes
from tuning_core.runs.rundir import RunDir

HEALTH_FILE = "health.json"
DUPLICATE_DISTANCE = 0.005  # cosine distance of mean-free 16 px grey thumbnails (0.02 paired
# distinct handwritten digits of the benchmark; a re-saved or re-lit copy stays far below)
THUMB = 16
FOLDS, EPOCHS = 3, 5
SCHEMA_VERSION = 1


class FlagKind(Enum):
    """What is wrong with a file; ``title`` is the section it is listed under."""

    LABEL = "label"
    LEAK = "leak"
    DUPLICATE = "duplicate"
    OUTLIER = "outlier"

    @property
    def title(self) -> str:
        return {"label": "Suspected label errors", "leak": "Duplicates across the split (leaks)",
                "duplicate": "Near-duplicates", "outlier": "Outliers"}[self.value]


@dataclass(frozen=True)
class Flag:
    """One flagged file, with why. ``other``: the duplicate's path; ``suggested``: the class
    the out-of-sample model gives a suspected label error."""

    kind: FlagKind
    path: str  # relative to the dataset's folder
    reason: str
    score: float  # label errors: the given label's probability; outliers: the OOD score
    other: str = ""
    given: str = ""
    suggested: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flag:
        return cls(**{**data, "kind": FlagKind(data["kind"])})


@dataclass(frozen=True)
class HealthReport:
    """What a health check found in a run's dataset."""

    root: str  # the dataset's folder
    images: int
    folds: int
    epochs: int
    trial_id: str  # whose architecture the cross-validated fits used
    flags: tuple[Flag, ...]
    seconds: float
    created: float = field(default_factory=time.time)
    version: int = SCHEMA_VERSION
    oos_accuracy: float = math.nan  # the cross-validated models' accuracy on what they never saw
    note: str = ""  # why label errors were not judged, when they were not
    data_changes: str = ""  # what changed in the folder since the search, and what was checked

    def of_kind(self, kind: FlagKind) -> list[Flag]:
        return [f for f in self.flags if f.kind is kind]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flags": [f.to_dict() for f in self.flags]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HealthReport:
        """RunError for a record this version cannot read."""
        try:
            return cls(**{**data, "flags": tuple(Flag.from_dict(f) for f in data["flags"])})
        except (KeyError, TypeError, ValueError) as error:
            raise RunError(f"a health report cannot be read: {error}") from error


# --- the statistics ----------------------------------------------------------------------

def out_of_sample_probabilities(images: np.ndarray, labels: np.ndarray, num_classes: int,
                                build: Callable[[], Any], folds: int = FOLDS,
                                epochs: int = EPOCHS, batch_size: int = 32,
                                seed: int = 0) -> np.ndarray:
    """Each image's class probabilities from a model fitted on the other folds
    (stratified; fewer folds when a class has fewer images than ``folds``)."""
    import keras
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(labels, minlength=num_classes)[np.unique(labels)].min())
    folds = max(2, min(folds, smallest))
    probabilities = np.zeros((len(labels), num_classes), dtype="float32")
    targets = keras.utils.to_categorical(labels, num_classes)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (fit_on, held) in enumerate(splitter.split(images, labels)):
        keras.utils.set_random_seed(seed + k)
        model = build()
        model.fit(images[fit_on], targets[fit_on], epochs=epochs, batch_size=batch_size,
                  verbose=0, shuffle=True)
        probabilities[held] = model.predict(images[held], batch_size=256, verbose=0)
        del model  # not clear_session(): a server's other threads may hold models
    return probabilities


def judge_models(labels: np.ndarray, probabilities: np.ndarray) -> tuple[float, str]:
    """The out-of-sample accuracy, and why the label errors cannot be judged ("" when they
    can): a model that never saw an image must be right on most images before its
    disagreement with a label means something (at least halfway from always guessing the
    largest class to perfect); weak ones disagree with nearly everything."""
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    guess = float(np.bincount(labels).max() / len(labels))
    if accuracy >= guess + (1 - guess) / 2:
        return accuracy, ""
    return accuracy, (f"label errors not judged: the models that never saw an image were "
                      f"right on {accuracy:.0%} of them (always guessing the largest class: "
                      f"{guess:.0%}), too weak for their disagreement to mean a wrong label; "
                      "check again with more epochs.")


def label_flags(paths: list[str], labels: np.ndarray, probabilities: np.ndarray,
                classes: list[str]) -> list[Flag]:
    """Suspected label errors by confident learning, most confident first."""
    from cleanlab.filter import find_label_issues

    present = np.unique(labels)
    if len(present) < 2:
        return []
    indices = find_label_issues(labels, probabilities,
                                return_indices_ranked_by="self_confidence")
    flags = []
    for i in indices:
        given, suggested = int(labels[i]), int(probabilities[i].argmax())
        flags.append(Flag(
            FlagKind.LABEL, paths[i], score=float(probabilities[i, given]),
            given=classes[given], suggested=classes[suggested],
            reason=f"labelled {classes[given]}, but a model that never saw it says "
                   f"{classes[suggested]} ({probabilities[i, suggested]:.0%}; "
                   f"{classes[given]} {probabilities[i, given]:.0%})"))
    return flags


def thumbnails(files: list[Path]) -> np.ndarray:
    """Each image as a 16 x 16 grey thumbnail, 0..1 (one row per file)."""
    from PIL import Image

    rows = []
    for path in files:
        with Image.open(path) as image:
            thumb = image.convert("L").resize((THUMB, THUMB), Image.Resampling.BILINEAR)
            rows.append(np.asarray(thumb, dtype="float32").ravel() / 255.0)
    return np.stack(rows)


def _shapes(thumbs: np.ndarray) -> np.ndarray:
    """Thumbnails with their mean taken out, scaled to unit length: a brightness or
    contrast change leaves them as they were (what a near-duplicate keeps)."""
    centred = thumbs - thumbs.mean(axis=1, keepdims=True)
    return centred / (np.linalg.norm(centred, axis=1, keepdims=True) + 1e-6)


def duplicate_pairs(files: list[Path], thumbs: np.ndarray) -> list[tuple[int, int, float]]:
    """(i, j, distance) with i < j for files equal byte for byte (distance 0) or whose
    mean-free thumbnails are within ``DUPLICATE_DISTANCE`` in cosine distance."""
    from sklearn.neighbors import NearestNeighbors

    pairs: dict[tuple[int, int], float] = {}
    by_hash: dict[str, int] = {}
    for i, path in enumerate(files):
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest in by_hash:
            pairs[(by_hash[digest], i)] = 0.0
        by_hash.setdefault(digest, i)
    features = _shapes(thumbs)
    index = NearestNeighbors(radius=DUPLICATE_DISTANCE, metric="cosine").fit(features)
    distances, neighbours = index.radius_neighbors(features)
    for i, (ds, ns) in enumerate(zip(distances, neighbours, strict=True)):
        for d, j in zip(ds, ns, strict=True):
            if j != i and np.abs(features[i]).sum() > 0:
                key = (min(i, int(j)), max(i, int(j)))
                pairs[key] = min(pairs.get(key, 1.0), max(0.0, float(d)))
    return sorted((i, j, d) for (i, j), d in pairs.items())


def duplicate_flags(paths: list[str], parts: list[str], pairs: list[tuple[int, int, float]]
                    ) -> list[Flag]:
    """A flag per pair, on its second file: a leak when the two are in different parts."""
    flags = []
    for i, j, distance in pairs:
        same = "identical" if distance == 0 else f"nearly identical (distance {distance:.3f})"
        if parts[i] != parts[j]:
            flags.append(Flag(FlagKind.LEAK, paths[j], score=distance, other=paths[i],
                              reason=f"{same} to {paths[i]}, which is in {parts[i]} while this "
                                     f"one is in {parts[j]}: the held-out score is inflated"))
        else:
            flags.append(Flag(FlagKind.DUPLICATE, paths[j], score=distance, other=paths[i],
                              reason=f"{same} to {paths[i]} (both in {parts[i]})"))
    return flags


def outlier_flags(paths: list[str], thumbs: np.ndarray, labels: np.ndarray) -> list[Flag]:
    """Images far below the rest of their class in cleanlab's out-of-distribution score of
    their thumbnails (k nearest neighbours, on a log scale), lowest first."""
    from cleanlab.outlier import OutOfDistribution

    if len(paths) < 10:
        return []  # too few neighbours for a score that means anything
    scores = OutOfDistribution().fit_score(features=thumbs.astype("float64"), verbose=False)
    logs = np.log(np.maximum(scores, 1e-12))
    flagged = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 5:
            continue
        q1, q3 = np.quantile(logs[members], [0.25, 0.75])
        typical = np.exp([q1, q3])
        flagged += [(scores[i], i, typical) for i in members if logs[i] < q1 - 3 * (q3 - q1)]
    return [Flag(FlagKind.OUTLIER, paths[i], score=float(score),
                 reason=f"unlike the other images of its class (outlier score {score:.3f}; "
                        f"most are {low:.3f} to {high:.3f})")
            for score, i, (low, high) in sorted(flagged, key=lambda f: f[0])]


# --- a run's check -------------------------------------------------------------------------

def check_run(run_dir: str | Path, folds: int = FOLDS, epochs: int = EPOCHS) -> HealthReport:
    """Check the dataset of a run's split (train, validation and test) and write
    ``health/``; RunError when the run has no completed trial or its images are gone."""
    started = time.perf_counter()
    run = RunDir(run_dir)
    listed, split, found = preflight(run)
    items = [(p, y, part) for part in ("train", "val", "test") for p, y in getattr(split, part)]
    paths = [p for p, _, _ in items]
    files = [Path(split.root) / p for p in paths]
    labels = np.array([y for _, y, _ in items])
    trial_id, build = _builder(run, len(split.classes))
    images = _images(run, files)
    probabilities = out_of_sample_probabilities(images, labels, len(split.classes), build,
                                                folds, epochs)
    features = thumbnails(files)
    parts = [{"train": "train", "val": "validation", "test": "test"}[p] for _, _, p in items]
    accuracy, note = judge_models(labels, probabilities)
    flags = ([] if note else label_flags(paths, labels, probabilities, split.classes)) \
        + duplicate_flags(paths, parts, duplicate_pairs(files, features)) \
        + outlier_flags(paths, features, labels)
    report = HealthReport(split.root, len(paths), folds, epochs, trial_id, tuple(flags),
                          round(time.perf_counter() - started, 2), oos_accuracy=accuracy,
                          note=note, data_changes=found.effect(listed, split, changes.Use.HEALTH))
    _write(run, report)
    return report


def preflight(run: RunDir) -> tuple[Any, Any, changes.FolderChanges]:
    """The split as listed, the split the check reads now (the folder edited since the
    search: gone and unreadable files left out, :mod:`tuning_core.data.changes`) and the
    changes; DatasetError or DiskFullError, one line, when the check cannot go on."""
    listed = _split(run)
    found = changes.compare(run.load_split() or {})
    split = found.usable(listed, changes.Use.HEALTH)
    check_disk(run, split)
    return listed, split, found


FLAG_BYTES = 400  # one flag in health.json, paths and reason included (an upper bound)


def check_disk(run: RunDir, split: Any) -> None:
    """Refuse, in one line (DiskFullError), a health check whose report the disk cannot
    hold: the fold models live in memory only; health.json is taken as a flag per image
    (most images get none), written beside the old one until it takes its place."""
    from tuning_core.core import diskspace
    from tuning_core.search.diskneeds import DiskNeed, check

    images = len(split.train) + len(split.val) + len(split.test)
    check([DiskNeed("the health report", 2 * images * FLAG_BYTES),
           DiskNeed("logs", diskspace.RESERVE_BYTES)], run.path, "this health check")


def load_health(run_dir: str | Path) -> HealthReport | None:
    """The run's saved health report, or None before a check."""
    run = RunDir(run_dir)
    atomic.recover_dir(run.health_dir)
    path = run.health_dir / HEALTH_FILE
    return HealthReport.from_dict(json.loads(path.read_text())) if path.is_file() else None


def _split(run: RunDir) -> Any:
    from tuning_core.data.dataset import Split

    saved = run.load_split()
    if saved is None:
        raise RunError(f"{run.name} has no file split: its search never started.")
    return Split.from_dict(saved)


def _builder(run: RunDir, num_classes: int) -> tuple[str, Callable[[], Any]]:
    """The trial whose architecture the fits use (the retrained one, else the best)."""
    import keras_tuner as kt

    from tuning_core.search.hypermodel import CNNHyperModel

    retrained = run.best_json("hyperparameters.json") or {}
    ranked = run.best_trials()
    trial_id = str(retrained.get("trial_id") or (ranked[0].trial_id if ranked else ""))
    if not trial_id:
        raise RunError(f"{run.name} has no completed trial: the health check fits the best "
                       "trial's architecture, so it needs one.")
    config = run.config()
    hp = kt.HyperParameters.from_config(run.trial_record(trial_id)["hyperparameters"])
    hypermodel = CNNHyperModel(config.space, config.image.image_size, config.image.channels,
                               num_classes)
    return trial_id, lambda: hypermodel.build(hp)


def _images(run: RunDir, files: list[Path]) -> np.ndarray:
    from tuning_core.data.pipeline import load_image

    config = run.config().image
    return np.stack([load_image(f, config) for f in files]).astype("float32")


def _write(run: RunDir, report: HealthReport) -> None:
    staged = Path(tempfile.mkdtemp(prefix=".health-", dir=run.path))
    try:
        atomic.write_json(staged / HEALTH_FILE, report.to_dict())
        atomic.swap_dir(staged, run.health_dir)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def precision_recall(flagged: set[str], truth: set[str]) -> tuple[float, float]:
    """Precision and recall of ``flagged`` against the truly wrong ``truth`` (NaN when
    undefined)."""
    hits = len(flagged & truth)
    precision = hits / len(flagged) if flagged else math.nan
    recall = hits / len(truth) if truth else math.nan
    return precision, recall


HEALTH_TASK = "health"


def check_with_slot(run_dir: str | Path, user: str = "", folds: int = FOLDS,
                    epochs: int = EPOCHS) -> HealthReport:
    """``check_run`` holding this machine's training slot (it trains short models, and one
    job trains at a time per machine); JobBusyError names who holds it."""
    from tuning_core.runs.locks import LockHolder, machine_slot

    slot = machine_slot()
    slot.acquire(LockHolder.mine(HEALTH_TASK, user, RunDir(run_dir).name))
    try:
        return check_run(run_dir, folds, epochs)
    finally:
        slot.release()


def start_health(run_dir: str | Path, actor: Any = None, tasks: Any = None,
                 folds: int = FOLDS, epochs: int = EPOCHS) -> bool:
    """Check the run's data in the background (checked and audited); False when a check of
    this run is already running; JobBusyError when the machine trains something else."""
    from tuning_core.core.background import TASKS
    from tuning_core.lab.actor import Actor
    from tuning_core.lab.permissions import Action
    from tuning_core.runs.locks import machine_slot

    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.EXPLAIN, target=run.name)
    holder = machine_slot().holder()
    if holder is not None:
        raise RunError(f"this machine trains now ({holder.describe()}); the health check "
                       "trains short models too, so start it when that job has ended.")
    preflight(run)  # refused here, in one line, rather than in the background
    started = (tasks or TASKS).start(
        HEALTH_TASK, run.path, lambda: check_with_slot(run.path, actor.record_name, folds, epochs))
    if started:
        actor.record(Action.EXPLAIN, target=run.name, detail="data health check")
    return started
