"""Export a run's best model and check every file before it is offered.

:func:`export_run` loads ``best/model.keras``, takes its inference copy, writes each
target into a staging folder of ``exports/``, reloads them all in their own runtimes (a
child process, :mod:`.runtimes`), compares them with ``model.predict`` on images of the
run, and keeps only the files that pass: each as one zip in ``exports/`` with its classes,
``model.json`` and an example script (:mod:`.bundle`); a failed one is deleted and its
record says why. :func:`download` is the one way out for a file: it refuses a failed,
missing or stale export and records the download in lab mode's audit log.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tuning_core.core import atomic
from tuning_core.core.errors import ExportError
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action
from tuning_core.model.exports.bundle import label_inside, quantized_card, write_bundle
from tuning_core.model.exports.card import ModelCard, card_for
from tuning_core.model.exports.formats import ExportTarget, WriteContext, write_export
from tuning_core.model.exports.inference import inference_copy
from tuning_core.model.exports.records import (
    MIN_IMAGES,
    Agreement,
    ExportManifest,
    ExportRecord,
    InputSpec,
    judge,
)
from tuning_core.model.exports.runtimes import THREADS, RuntimeResult, run_in_child
from tuning_core.runs.rundir import RunDir

__all__ = ["export_run", "load_manifest", "current_exports", "download", "check_images",
           "input_spec", "representative_images", "MAX_CHECK_IMAGES", "REPRESENTATIVE_IMAGES"]

MAX_CHECK_IMAGES = 64
REPRESENTATIVE_IMAGES = 100  # training images a full-integer file is calibrated on
_MANIFEST_LOCK = threading.Lock()
Writer = Callable[[Any, ExportTarget, Path, WriteContext], None]


def input_spec(run: RunDir) -> InputSpec:
    """The input every export of the run expects."""
    image = run.config().image
    return InputSpec(size=image.image_size, color_mode=image.color_mode, channels=image.channels)


def check_images(run: RunDir, count: int = MAX_CHECK_IMAGES) -> tuple[np.ndarray, str]:
    """Up to ``count`` images of the run's split, test images first, as float32 0..255,
    and where they came from; ExportError when the split has fewer than MIN_IMAGES."""
    from tuning_core.data.pipeline import load_image

    split = _split(run)
    parts = [("test", split.test), ("validation", split.val), ("training", split.train)]
    chosen: list[tuple[str, str]] = []
    for name, items in parts:
        chosen += [(name, path) for path, _ in items[:count - len(chosen)]]
    if len(chosen) < MIN_IMAGES:
        raise ExportError(f"{run.name}'s split has {len(chosen)} images; checking an export "
                          f"needs at least {MIN_IMAGES}.")
    config = run.config().image
    images = np.stack([load_image(Path(split.root) / p, config) for _, p in chosen])
    counts = {name: sum(1 for n, _ in chosen if n == name) for name, _ in parts}
    source = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    return images.astype("float32"), f"{len(chosen)} images of the run ({source})"


def representative_images(run: RunDir, count: int = REPRESENTATIVE_IMAGES) -> np.ndarray:
    """Up to ``count`` of the run's training images (float32 0..255), spread over the list,
    that a full-integer file's ranges are calibrated on (never the test images it is
    checked on)."""
    from tuning_core.data.pipeline import load_image

    split = _split(run)
    step = max(1, len(split.train) // count)
    chosen = [path for path, _ in split.train[::step][:count]]
    if not chosen:
        raise ExportError(f"{run.name}'s split has no training images to calibrate on.")
    config = run.config().image
    return np.stack([load_image(Path(split.root) / p, config) for p in chosen]).astype("float32")


def _split(run: RunDir) -> Any:
    from tuning_core.data.dataset import Split

    saved = run.load_split()
    if saved is None:
        raise ExportError(f"{run.name} has no file split: its search never started.")
    return Split.from_dict(saved)


def export_run(run_dir: str | Path, targets: list[ExportTarget], actor: Actor | None = None,
               prepare: Callable[[Any], Any] = inference_copy,
               writer: Writer = write_export) -> list[ExportRecord]:
    """Build, check and keep (or refuse) each target; returns their records.

    ``prepare`` turns the loaded model into the one exported (the inference copy);
    ``writer`` writes one target. Raises RunError before a retrain, ExportError when the
    run has too few images, PermissionDeniedError for a role that may not export.
    """
    from tuning_core.model.predict import load_best_model

    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.EXPORT, owner=run.config().owner, target=run.name)
    model = load_best_model(run.path)
    stamp = run.model_stamp() or []
    images, source = check_images(run)
    reference = np.asarray(model.predict(images, verbose=0), dtype="float32")
    run.exports_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=run.exports_dir))
    exported = prepare(model)
    exported.predict(images[:1], verbose=0)  # the ONNX exporter refuses a never-called model
    try:
        records = _build_and_check(exported, targets, images, reference, staging,
                                   run, stamp, writer, _context(run, targets))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _save(run, records, source)
    actor.record(Action.EXPORT, target=run.name, detail="; ".join(
        f"{r.key} {'ok' if r.passed else 'refused: ' + r.reason}" for r in records))
    return records


def _context(run: RunDir, targets: list[ExportTarget]) -> WriteContext:
    from tuning_core.model.predict import class_names

    integer = any(t.integer for t in targets)
    return WriteContext(classes=class_names(run.path),
                        representative=representative_images(run) if integer else None)


def _build_and_check(model: Any, targets: list[ExportTarget], images: np.ndarray,
                     reference: np.ndarray, staging: Path, run: RunDir, stamp: list[int],
                     writer: Writer, context: WriteContext) -> list[ExportRecord]:
    built: dict[str, tuple[Path, float, str]] = {}
    for target in targets:
        path, started = staging / target.file_name, time.perf_counter()
        try:
            writer(model, target, path, context)
            if path.exists():  # the check runs on the labelled file people get
                label_inside(target, path, _card(run, target))
            error = "" if path.exists() else "the exporter wrote no file."
        except Exception as failure:  # a converter's own words are the reason
            words = " ".join(str(failure).split())[:300]
            error = f"export failed: {type(failure).__name__}: {words}"
        built[target.key] = (path, time.perf_counter() - started, error)
    ran = run_in_child(images, [(t.key, t.format.value, built[t.key][0]) for t in targets
                                if not built[t.key][2]], staging)
    spread = float(np.ptp(reference, axis=0).max())
    return [_settle(t, built[t.key], ran.get(t.key), reference, spread, run, stamp)
            for t in targets]


def _settle(target: ExportTarget, built: tuple[Path, float, str], ran: RuntimeResult | None,
            reference: np.ndarray, spread: float, run: RunDir,
            stamp: list[int]) -> ExportRecord:
    """Judge one export; move it into exports/ when it passed, delete it otherwise."""
    path, seconds, error = built
    record = ExportRecord(key=target.key, label=target.label, runtime=target.format.spec.runtime,
                          file="", bytes=0, input=input_spec(run), model_stamp=stamp,
                          threads=THREADS, export_seconds=round(seconds, 3), created=time.time())
    final = run.export_path(target.download_name)
    bundle = run.export_path(target.bundle_name)
    for old in (final, bundle):  # an older export of this target is replaced either way
        old.unlink(missing_ok=True)
    if error or ran is None or ran.error:
        reason = error or (f"{target.format.spec.runtime} could not load or run it: {ran.error}"
                           if ran else "it was not run.")
        return replace(record, reason=reason)
    agreement = Agreement.of(reference, np.load(ran.outputs))
    record = replace(record, agreement=agreement, ms_per_image=ran.ms_per_image,
                     reason=judge(agreement, target.quantized, spread))
    if not record.passed:
        return record
    card = _card(run, target)
    if target.integer:
        card = quantized_card(card, path)
    write_bundle(path, target, card, bundle)
    if target.format.spec.folder:  # the SavedModel's folder travels in its zip only
        return replace(record, file=bundle.name, bundle=bundle.name,
                       bytes=bundle.stat().st_size, bundle_bytes=bundle.stat().st_size)
    path.replace(final)  # the bare file too: what classify --format and the bench load
    return replace(record, file=final.name, bundle=bundle.name, bytes=final.stat().st_size,
                   bundle_bytes=bundle.stat().st_size)


def _card(run: RunDir, target: ExportTarget) -> ModelCard:
    inner = target.format.spec.file_name if target.format.spec.folder else target.file_name
    return card_for(run.path, target.key, inner, created=time.time())


def _save(run: RunDir, records: list[ExportRecord], source: str) -> None:
    with _MANIFEST_LOCK:
        manifest = load_manifest(run.path)
        manifest.records.update({r.key: r for r in records})
        manifest.images_source = source
        atomic.write_json(run.export_manifest_path, manifest.to_dict(), indent=1)


def load_manifest(run_dir: str | Path) -> ExportManifest:
    """The run's export records (empty before any export); ExportError when unreadable."""
    import json

    path = RunDir(run_dir).export_manifest_path
    if not path.is_file():
        return ExportManifest()
    try:
        return ExportManifest.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as error:
        raise ExportError(f"{path} cannot be read: {error}") from error


def current_exports(run_dir: str | Path) -> list[ExportRecord]:
    """The records of exports made from the best model as it is now, in target order."""
    run = RunDir(run_dir)
    return load_manifest(run.path).current(run.model_stamp())


def download(run_dir: str | Path, key: str, actor: Actor | None = None) -> Path:
    """The file of a checked export, for download; records it in lab mode's audit log.

    ExportError when the export failed its check (with the reason), is stale (the model
    was retrained since) or is missing; PermissionDeniedError for a role without access.
    """
    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.DOWNLOAD, target=run.name)
    record = load_manifest(run.path).records.get(key)
    if record is None:
        raise ExportError(f"{run.name} has no {key} export yet; export it first.")
    if not record.passed:
        raise ExportError(f"the {record.label} export of {run.name} is not offered: it failed "
                          f"its check: {record.reason}")
    if record.model_stamp != run.model_stamp():
        raise ExportError(f"the {record.label} export of {run.name} was made from an earlier "
                          "best model; export again.")
    path = run.export_path(record.bundle or record.file)
    if not path.is_file():
        raise ExportError(f"{path} is missing; export {record.label} again.")
    actor.record(Action.DOWNLOAD, target=run.name, detail=f"export {key} ({path.name})")
    return path
