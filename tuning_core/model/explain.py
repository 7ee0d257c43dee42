"""Why the best model errs: test images by loss, the most confused class pairs, heatmaps.

``explain_run`` predicts every test image with the run's best model and writes
``explain/``: ``explanation.json`` (each test image's true and predicted class, confidence
and loss, highest loss first; the confused pairs, most frequent first, with their images)
and a Grad-CAM overlay (:mod:`tuning_core.model.gradcam`) of the predicted class for each
misclassified image and each of the highest-loss ones, up to ``limit`` images. The folder
is built beside the old one and swapped in whole; the explanation records which model it
explains (its file stamp), so a page knows when a retrain made it stale.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuning_core.core import atomic
from tuning_core.core.errors import RunError
from tuning_core.runs.rundir import RunDir

EXPLANATION_FILE = "explanation.json"
HEATMAP_LIMIT = 48
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ExplainedImage:
    """One test image as the best model saw it; ``heatmap``: its overlay's file name in
    ``explain/`` ("" when none was drawn)."""

    path: str
    true: str
    predicted: str
    confidence: float  # the predicted class's probability
    loss: float  # -log of the true class's probability
    heatmap: str = ""

    @property
    def wrong(self) -> bool:
        return self.true != self.predicted


@dataclass(frozen=True)
class ConfusedPair:
    """Test images of class ``true`` predicted as ``predicted`` (paths, highest loss first)."""

    true: str
    predicted: str
    count: int
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    """What ``explain_run`` found for one best model."""

    model_stamp: list[int] | None
    target_layer: str  # where Grad-CAM read the features ("" when it could not)
    images: tuple[ExplainedImage, ...]  # every test image, highest loss first
    confused: tuple[ConfusedPair, ...]  # most frequent first
    created: float = field(default_factory=time.time)
    note: str = ""  # why there are no heatmaps, when there are none
    version: int = SCHEMA_VERSION

    @property
    def misclassified(self) -> list[ExplainedImage]:
        return [i for i in self.images if i.wrong]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        """RunError for a record this version cannot read."""
        try:
            return cls(model_stamp=data.get("model_stamp"), target_layer=data["target_layer"],
                       images=tuple(ExplainedImage(**i) for i in data["images"]),
                       confused=tuple(ConfusedPair(p["true"], p["predicted"], int(p["count"]),
                                                   tuple(p["paths"])) for p in data["confused"]),
                       created=float(data.get("created", 0.0)), note=data.get("note", ""),
                       version=int(data.get("version", SCHEMA_VERSION)))
        except (KeyError, TypeError, ValueError) as error:
            raise RunError(f"an explanation record cannot be read: {error}") from error


def explain_run(run_dir: str | Path, limit: int = HEATMAP_LIMIT) -> Explanation:
    """Explain the run's best model on its test images and write ``explain/``; RunError
    before a retrain or when the test images are gone."""
    from tuning_core.model.gradcam import find_target, heatmaps, overlay_png
    from tuning_core.model.predict import load_best_model

    run = RunDir(run_dir)
    model = load_best_model(run.path)
    stamp = run.model_stamp()
    paths, labels, classes, images = _test_images(run)
    probabilities = np.asarray(model.predict(images, batch_size=64, verbose=0))
    explained = _explained(paths, labels, classes, probabilities)
    order = np.argsort([-e.loss for e in explained], kind="stable")
    wanted = [i for i in order if explained[i].wrong][:limit]
    wanted += [i for i in order[:limit] if i not in wanted][:max(0, limit - len(wanted))]
    staged = Path(tempfile.mkdtemp(prefix=".explain-", dir=run.path))
    target_name, note = "", ""
    try:
        try:
            target = find_target(model)
            target_name = target.name
        except RunError as error:
            target, note = None, str(error)
        if target is not None and wanted:
            picked = np.array(wanted)
            maps, _ = heatmaps(model, images[picked], probabilities[picked].argmax(axis=1),
                               target)
            for n, (i, heat) in enumerate(zip(picked, maps, strict=True)):
                name = f"heatmap-{n:03d}.png"
                (staged / name).write_bytes(overlay_png(images[i], heat))
                explained[i] = _with_heatmap(explained[i], name)
        result = Explanation(stamp, target_name, tuple(explained[i] for i in order),
                             _confused(explained), note=note)
        atomic.write_json(staged / EXPLANATION_FILE, result.to_dict())
        atomic.swap_dir(staged, run.explain_dir)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return result


def load_explanation(run_dir: str | Path) -> Explanation | None:
    """The run's saved explanation, or None before one was made."""
    run = RunDir(run_dir)
    atomic.recover_dir(run.explain_dir)
    path = run.explain_dir / EXPLANATION_FILE
    if not path.is_file():
        return None
    import json

    return Explanation.from_dict(json.loads(path.read_text()))


def is_current(explanation: Explanation, run_dir: str | Path) -> bool:
    """True when the explanation is of the run's present best model."""
    return explanation.model_stamp == RunDir(run_dir).model_stamp()


def _test_images(run: RunDir) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    from tuning_core.data import changes
    from tuning_core.data.dataset import Split
    from tuning_core.data.pipeline import load_image

    saved = run.load_split()
    if saved is None:
        raise RunError(f"{run.name} has no file split: its search never started.")
    # the test images the folder still holds (gone and unreadable ones left out: issue 27)
    split = changes.compare(saved).usable(Split.from_dict(saved), changes.Use.EXPLAIN)
    if not split.test:
        raise RunError(f"{run.name} has no test images to explain (left in {split.root}).")
    config = run.config().image
    images = np.stack([load_image(Path(split.root) / p, config) for p, _ in split.test])
    return ([p for p, _ in split.test], np.array([y for _, y in split.test]),
            list(split.classes), images.astype("float32"))


def _explained(paths: list[str], labels: np.ndarray, classes: list[str],
               probabilities: np.ndarray) -> list[ExplainedImage]:
    predicted = probabilities.argmax(axis=1)
    true_p = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return [ExplainedImage(path=p, true=classes[y], predicted=classes[k],
                           confidence=float(probabilities[i, k]), loss=float(-np.log(t)))
            for i, (p, y, k, t) in enumerate(zip(paths, labels, predicted, true_p, strict=True))]


def _with_heatmap(image: ExplainedImage, name: str) -> ExplainedImage:
    return ExplainedImage(image.path, image.true, image.predicted, image.confidence,
                          image.loss, name)


def _confused(explained: list[ExplainedImage]) -> tuple[ConfusedPair, ...]:
    pairs: dict[tuple[str, str], list[ExplainedImage]] = {}
    for image in explained:
        if image.wrong:
            pairs.setdefault((image.true, image.predicted), []).append(image)
    ranked = sorted(pairs.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return tuple(ConfusedPair(t, p, len(items),
                              tuple(i.path for i in sorted(items, key=lambda i: -i.loss)))
                 for (t, p), items in ranked)


def file_heatmaps(run_dir: str | Path, files: list[str | Path], model: Any) -> list[bytes]:
    """Grad-CAM overlays (PNG) of the predicted class for image files (the Try it images),
    loaded as in training; RunError when the model has no spatial layer."""
    from tuning_core.data.pipeline import load_image
    from tuning_core.model.gradcam import heatmaps, overlay_png

    config = RunDir(run_dir).config().image
    images = np.stack([load_image(f, config) for f in files]).astype("float32")
    maps, _ = heatmaps(model, images)
    return [overlay_png(image, heat) for image, heat in zip(images, maps, strict=True)]


EXPLAIN_TASK = "explain"


def start_explain(run_dir: str | Path, actor: Any = None, tasks: Any = None) -> bool:
    """Explain the run's best model in the background (checked and audited); False when an
    explanation of this run is already being made."""
    from tuning_core.core.background import TASKS
    from tuning_core.lab.actor import Actor
    from tuning_core.lab.permissions import Action

    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.EXPLAIN, target=run.name)
    if not run.model_path.is_file():
        raise RunError(f"{run.name} has no best model yet: retrain it first.")
    started = (tasks or TASKS).start(EXPLAIN_TASK, run.path, lambda: explain_run(run.path))
    if started:
        actor.record(Action.EXPLAIN, target=run.name, detail="explanations")
    return started
