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
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tuning_core.core import atomic, diskspace, leftovers
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
from tuning_core.search.diskneeds import DiskNeed, check

__all__ = ["export_run", "load_manifest", "current_exports", "download", "check_images",
           "check_disk", "export_needs", "file_problem",
           "input_spec", "representative_images", "MAX_CHECK_IMAGES", "REPRESENTATIVE_IMAGES"]

MAX_CHECK_IMAGES = 64
STAGING = ".export-"  # exports/.export-+<host>+<pid>+...: a staging folder (core.leftovers)
EXPORT_OVERHEAD = 4 << 20  # a SavedModel's graph, a zip's labels, card, example and README
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
    """The run's images as the folder holds them now (gone and unreadable ones left out)."""
    from tuning_core.data import changes
    from tuning_core.data.dataset import Split

    saved = run.load_split()
    if saved is None:
        raise ExportError(f"{run.name} has no file split: its search never started.")
    return changes.compare(saved).usable(Split.from_dict(saved), changes.Use.EXPORT)


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
    check_disk(run, targets)
    model = load_best_model(run.path)
    stamp = run.model_stamp() or []
    images, source = check_images(run)
    reference = np.asarray(model.predict(images, verbose=0), dtype="float32")
    run.exports_dir.mkdir(parents=True, exist_ok=True)
    leftovers.remove_stale(run.exports_dir, ".")  # what a killed export left behind
    exported = prepare(model)
    exported.predict(images[:1], verbose=0)  # the ONNX exporter refuses a never-called model
    with diskspace.said_as_full(run.exports_dir):  # the staging folder or the manifest
        staging = leftovers.temporary_dir(run.exports_dir, STAGING)
        try:
            records = _build_and_check(exported, targets, images, reference, staging,
                                       run, stamp, writer, _context(run, targets))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _save(run, records, source)
    actor.record(Action.EXPORT, target=run.name, detail="; ".join(
        f"{r.key} {'ok' if r.passed else 'refused: ' + r.reason}" for r in records))
    return records


def export_needs(run: RunDir, targets: list[ExportTarget]) -> list[DiskNeed]:
    """What exporting ``targets`` writes, as an upper bound: each file is at most the size
    of the best model's file (which also holds the optimizer's state), in the staging
    folder and again in its zip, plus the SavedModel's graph and each zip's extras."""
    model = run.model_path.stat().st_size if run.model_path.is_file() else 0
    return [DiskNeed(f"the {t.label} export", 2 * model + EXPORT_OVERHEAD) for t in targets]


def check_disk(run: RunDir, targets: list[ExportTarget]) -> None:
    """Refuse, in one line (DiskFullError), an export the disk cannot hold."""
    check([*export_needs(run, targets), DiskNeed("logs", diskspace.RESERVE_BYTES)],
          run.path, "this export")


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
            if diskspace.is_disk_full(failure):
                error = str(diskspace.full_error(staging, what=f"the {target.label} export"))
            _remove(path)  # a part-written file is never checked, zipped or offered
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
    try:
        return _keep(path, target, record, run, final, bundle)
    except OSError as failure:  # the zip did not fit: nothing of this export is offered
        if not diskspace.is_disk_full(failure):
            raise
        for partial in (final, bundle):
            partial.unlink(missing_ok=True)
        full = diskspace.full_error(run.exports_dir, what=f"the {target.label} export")
        return replace(record, reason=str(full))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _keep(path: Path, target: ExportTarget, record: ExportRecord, run: RunDir, final: Path,
          bundle: Path) -> ExportRecord:
    """Zip a passed export into exports/ (and move its bare file there)."""
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
    """The records of exports made from the best model as it is now, in target order; a
    passed one whose file is missing or not the size it was written at is listed as not
    offered, with why (only the manifest lists exports: temporaries never show)."""
    run = RunDir(run_dir)
    records = load_manifest(run.path).current(run.model_stamp())
    return [replace(r, reason=f"{file_problem(run, r)}; export again") if file_problem(run, r)
            else r for r in records]


def file_problem(run: RunDir, record: ExportRecord) -> str:
    """Why a passed export's file cannot be offered as whole ("" when it can)."""
    if not record.passed:
        return ""
    path = run.export_path(record.bundle or record.file)
    size = path.stat().st_size if path.is_file() else None
    if size is None:
        return f"{path} is missing"
    expected = record.bundle_bytes if record.bundle else record.bytes
    if expected and size != expected:
        return f"{path} is {size:,} bytes, not the {expected:,} it was written with"
    return ""


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
    problem = file_problem(run, record)
    if problem:
        raise ExportError(f"{problem}; export {record.label} again.")
    actor.record(Action.DOWNLOAD, target=run.name, detail=f"export {key} ({path.name})")
    return path
