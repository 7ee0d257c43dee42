"""Classify a folder of new images with a run's best model: one load, batches, one CSV.

After a model is chosen, new images keep arriving, often thousands: ``predict`` with every
path on the command line does not scale. :func:`classify_folder` loads the model once (the
Keras file, or its checked ONNX or LiteRT export), decodes each image as in training,
classifies in batches and appends each batch to the CSV as it goes (path, class,
probability, a low-confidence flag, every class's probability, and the reason for a file
that cannot be read: such a file is listed, never stops the job). Run again on the same
CSV, it skips the rows already written: a stopped or killed job resumes where it was.
"""

from __future__ import annotations

import csv
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from tuning_core.core.errors import DatasetError, ExportError, RunError, SettingsError
from tuning_core.runs.rundir import RunDir

__all__ = ["ClassifyFormat", "ClassifyProgress", "ClassifyResult", "DEFAULT_THRESHOLD",
           "BATCH", "check_format", "classify_folder", "folder_images", "load_predictor",
           "read_results",
           "csv_header", "summarize"]

BATCH = 64
DECODERS = min(4, os.cpu_count() or 1)  # threads decoding a batch's files
DEFAULT_THRESHOLD = 0.5
SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif"})
FIXED_COLUMNS = ["path", "class", "probability", "low_confidence", "error"]
Predict = Callable[[np.ndarray], np.ndarray]


class ClassifyFormat(str, Enum):
    """Which file of the run classifies: the Keras model or one of its checked exports."""

    KERAS = "keras"
    ONNX = "onnx"
    LITERT = "litert"


@dataclass(frozen=True)
class ClassifyProgress:
    """Where a classify job stands: images done (this run and earlier), of how many."""

    done: int
    total: int
    unreadable: int
    seconds: float
    images_per_second: float

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class ClassifyResult:
    """What a finished (or stopped) job wrote: counts per class, the low-confidence and
    unreadable files, and its speed on the images it classified itself."""

    output: str
    total: int
    classified: int
    unreadable: int
    low_confidence: int
    per_class: dict[str, int] = field(default_factory=dict)
    resumed_from: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    stopped: bool = False
    format: str = ClassifyFormat.KERAS.value
    threshold: float = DEFAULT_THRESHOLD

    @property
    def complete(self) -> bool:
        return not self.stopped and self.classified + self.unreadable >= self.total

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifyResult:
        return cls(**data)


def folder_images(folder: str | Path) -> list[Path]:
    """Every image file under ``folder`` (sub-folders too), in a stable order; DatasetError
    for a folder that is missing or holds none."""
    root = Path(folder)
    if not root.is_dir():
        raise DatasetError(f"{folder} is not a folder: expected a folder of images to classify.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise DatasetError(f"{folder} holds no images ({', '.join(sorted(SUFFIXES))}).")
    return files


def check_format(run_dir: str | Path, fmt: ClassifyFormat | str,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
    """Refuse, before anything is queued or loaded, a threshold that is not a probability,
    a run without a best model, or an ONNX or LiteRT export that is not there."""
    if not 0.0 <= threshold <= 1.0:
        raise SettingsError(f"the confidence threshold is a probability 0..1; got {threshold}.")
    run, fmt = RunDir(run_dir), ClassifyFormat(fmt)
    if not run.model_path.is_file():
        raise RunError(f"{run.name} has no best model yet: retrain it first.")
    if fmt is not ClassifyFormat.KERAS:
        _export_file(run, fmt.value)


def csv_header(classes: list[str]) -> list[str]:
    return FIXED_COLUMNS + [f"p_{name}" for name in classes]


def classify_folder(run_dir: str | Path, folder: str | Path, output: str | Path,
                    fmt: ClassifyFormat | str = ClassifyFormat.KERAS,
                    threshold: float = DEFAULT_THRESHOLD, batch: int = BATCH,
                    should_stop: Callable[[], bool] = lambda: False,
                    progress: Callable[[ClassifyProgress], None] | None = None,
                    files: list[Path] | None = None) -> ClassifyResult:
    """Classify every image of ``folder`` into the CSV ``output``, resuming it if present.

    ``should_stop`` is asked between batches (a stop keeps every row written); ``progress``
    hears after each batch. Raises DatasetError for a folder without images, SettingsError
    for a bad threshold or a CSV of another run's classes, RunError before a retrain,
    ExportError when the chosen export is missing, failed or stale.
    """
    from tuning_core.model.predict import class_names

    fmt = ClassifyFormat(fmt)
    check_format(run_dir, fmt, threshold)
    run, out = RunDir(run_dir), Path(output)
    classes = class_names(run.path)
    files = files if files is not None else folder_images(folder)
    done = _rows_done(out, csv_header(classes))
    todo = [f for f in files if str(f) not in done]
    predict = load_predictor(run.path, fmt)
    decode = _decoder(run)
    started, counted, unreadable = time.perf_counter(), 0, 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", newline="") as handle, ThreadPoolExecutor(DECODERS) as pool:
        writer = csv.writer(handle)
        if not done:
            writer.writerow(csv_header(classes))
        for chunk in _chunks(todo, batch):
            if should_stop():
                break
            rows, bad = _classify_batch(chunk, pool, decode, predict, classes, threshold)
            writer.writerows(rows)
            handle.flush()  # a killed job keeps every batch it finished
            counted, unreadable = counted + len(chunk), unreadable + bad
            if progress is not None:
                progress(_progress(len(done) + counted, len(files), unreadable, started,
                                   counted))
    result = summarize(out, classes, threshold)
    seconds = time.perf_counter() - started
    result.total, result.resumed_from, result.seconds = len(files), len(done), round(seconds, 3)
    result.images_per_second = round(counted / seconds, 1) if counted and seconds else 0.0
    result.stopped, result.format = counted < len(todo), fmt.value
    return result


def _progress(done: int, total: int, unreadable: int, started: float,
              counted: int) -> ClassifyProgress:
    seconds = time.perf_counter() - started
    return ClassifyProgress(done, total, unreadable, seconds,
                            counted / seconds if seconds else 0.0)


def _chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + size]


def _decoder(run: RunDir) -> Callable[[Path], np.ndarray]:
    """One file decoded exactly as in training (``decode_file``), traced once as a graph:
    eager, its ten small ops cost most of the time of a folder of small images."""
    import tensorflow as tf

    from tuning_core.data.pipeline import decode_file

    config = run.config().image
    config.validate()
    graph = tf.function(lambda path: decode_file(path, config.channels, config.image_size),
                        input_signature=[tf.TensorSpec([], tf.string)])
    return lambda path: graph(tf.constant(str(path))).numpy()


def _decoded(decode: Callable[[Path], np.ndarray], path: Path) -> np.ndarray | Exception:
    try:
        return decode(path)
    except Exception as error:  # one file's fault: listed with its reason, never fatal
        return error


def _classify_batch(chunk: list[Path], pool: ThreadPoolExecutor,
                    decode: Callable[[Path], np.ndarray], predict: Predict, classes: list[str],
                    threshold: float) -> tuple[list[list[Any]], int]:
    """The CSV rows of one batch (decoded on the pool's threads: TensorFlow's ops release
    the GIL); unreadable files get a row with their reason."""
    images: list[np.ndarray] = []
    good: list[Path] = []
    rows: list[list[Any]] = []
    for path, image in zip(chunk, pool.map(lambda p: _decoded(decode, p), chunk), strict=True):
        if isinstance(image, Exception):
            rows.append([str(path), "", "", "", _reason(path, image)] + [""] * len(classes))
        else:
            images.append(image)
            good.append(path)
    if images:
        probabilities = predict(np.stack(images).astype("float32"))
        for path, row in zip(good, probabilities, strict=True):
            best = int(row.argmax())
            rows.append([str(path), classes[best], f"{row[best]:.6f}",
                         int(row[best] < threshold), ""] + [f"{p:.6f}" for p in row])
    return rows, len(chunk) - len(good)


def _reason(path: Path, error: Exception) -> str:
    """A decoder's complaint in a few words (TensorFlow's carry the op's name and device)."""
    text = re.sub(r"\{\{.*?\}\}|\[\[.*?\]\]", "", str(error))
    text = " ".join(text.replace(f"Cannot read image {path}:", "").split())
    if "Unknown image file format" in text:
        return "not an image TensorFlow can decode (JPEG, PNG, GIF or BMP expected)"
    return text[:200] or type(error).__name__


def _rows_done(out: Path, header: list[str]) -> set[str]:
    """Paths already in the CSV (a resume skips them); SettingsError when the CSV is not
    one of this run's (another header)."""
    if not out.is_file() or out.stat().st_size == 0:
        return set()
    _drop_partial_row(out)
    with out.open(newline="") as handle:
        reader = csv.reader(handle)
        found = next(reader, None)
        if found != header:
            raise SettingsError(f"{out} exists and is not a classify CSV of this run's classes; "
                                "choose another --output (or remove it to start over).")
        return {row[0] for row in reader if len(row) == len(header)}


def _drop_partial_row(out: Path) -> None:
    """Cut a last row that a kill left without its newline (the next batch would be
    appended to it); that image is classified again."""
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        with out.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def summarize(out: Path, classes: list[str], threshold: float) -> ClassifyResult:
    """Counts from the CSV as written (earlier runs of a resumed job included)."""
    rows = read_results(out)
    classified = [r for r in rows if not r["error"]]
    per_class = Counter(r["class"] for r in classified)
    return ClassifyResult(output=str(out), total=len(rows), classified=len(classified),
                          unreadable=len(rows) - len(classified),
                          low_confidence=sum(1 for r in classified if r["low_confidence"] == "1"),
                          per_class={c: per_class.get(c, 0) for c in classes},
                          threshold=threshold)


def read_results(out: str | Path) -> list[dict[str, str]]:
    """The CSV's complete rows as dicts (a row cut short by a kill is left out)."""
    path = Path(out)
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        width = len(reader.fieldnames or [])
        return [row for row in reader if None not in row.values() and len(row) == width]


def load_predictor(run_dir: str | Path, fmt: ClassifyFormat | str) -> Predict:
    """The run's model in ``fmt``, loaded once: a function from a float32 batch (pixels
    0..255) to probabilities. RunError before a retrain, ExportError without the export."""
    loaders: dict[ClassifyFormat, Callable[[RunDir], Predict]] = {
        ClassifyFormat.KERAS: _keras, ClassifyFormat.ONNX: _onnx, ClassifyFormat.LITERT: _litert}
    return loaders[ClassifyFormat(fmt)](RunDir(run_dir))


def _keras(run: RunDir) -> Predict:
    import tensorflow as tf

    from tuning_core.model.predict import load_best_model

    model = load_best_model(run.path)
    # model.predict builds a data adapter and a progress state on every call: a traced call
    # in inference mode is the same computation without that (1.5x on figure 15's batches).
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
    graph = tf.function(lambda batch: model(batch, training=False), input_signature=[spec])
    return lambda batch: np.asarray(graph(tf.constant(batch)))


def _export_file(run: RunDir, key: str) -> Path:
    """The bare file of a checked, current export (ExportError otherwise)."""
    from tuning_core.model.exports import current_exports

    for record in current_exports(run.path):
        if record.key == key and record.passed and record.file:
            path = run.export_path(record.file)
            if path.is_file():
                return path
    raise ExportError(f"{run.name} has no checked {key} export of its current best model; "
                      f"export it first (python -m tuning_core export {run.path} "
                      f"--format {key}).")


def _onnx(run: RunDir) -> Predict:
    import onnxruntime as ort

    session = ort.InferenceSession(str(_export_file(run, "onnx")),
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: np.asarray(session.run(None, {name: batch})[0])


def _litert(run: RunDir) -> Predict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(_export_file(run, "litert")))
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]

    def predict(batch: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(source["index"], list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], batch)
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(target["index"])).copy()
    return predict
