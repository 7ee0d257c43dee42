"""The export formats: what each file is called, how Keras writes it, what reads it back.

One registry (``FORMATS``) of small :class:`FormatSpec` entries; a :class:`ExportTarget` is
a format plus whether its weights are quantized (LiteRT only: dynamic-range int8 weights
with float inputs and outputs, or full integer: int8 inputs, outputs and arithmetic, from a
representative set of the run's training images, for Edge TPUs and microcontrollers).
Keras and TensorFlow are imported inside the writers only.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from tuning_core.core.errors import ExportError

__all__ = ["ExportFormat", "ExportTarget", "FormatSpec", "FORMATS", "ALL", "parse_targets",
           "write_export", "WriteContext"]


class ExportFormat(str, Enum):
    """A file format the best model is exported to."""

    SAVED_MODEL = "saved_model"
    ONNX = "onnx"
    LITERT = "litert"

    @property
    def spec(self) -> FormatSpec:
        return FORMATS[self]


@dataclass(frozen=True)
class FormatSpec:
    """How one format is written and named, and which runtime checks it."""

    label: str
    keras_format: str  # model.export(format=...)
    file_name: str  # inside the run's exports/ folder (a folder for the SavedModel)
    runtime: str  # the runtime the check reloads it in, for people
    folder: bool = False  # a folder on disk, offered as a .zip


FORMATS: dict[ExportFormat, FormatSpec] = {
    ExportFormat.SAVED_MODEL: FormatSpec("SavedModel", "tf_saved_model", "saved_model",
                                         "TensorFlow", folder=True),
    ExportFormat.ONNX: FormatSpec("ONNX", "onnx", "model.onnx", "ONNX Runtime"),
    ExportFormat.LITERT: FormatSpec("LiteRT", "litert", "model.tflite", "LiteRT"),
}
ALL = "all"


@dataclass(frozen=True)
class ExportTarget:
    """One file to build: a format, quantized or not."""

    format: ExportFormat
    quantized: bool = False
    integer: bool = False  # full integer: int8 inputs and outputs too (implies quantized)

    def __post_init__(self) -> None:
        if (self.quantized or self.integer) and self.format is not ExportFormat.LITERT:
            raise ExportError(f"quantization applies to LiteRT only; got "
                              f"{self.format.value} with quantization.")
        if self.integer and not self.quantized:
            object.__setattr__(self, "quantized", True)

    @property
    def suffix(self) -> str:
        return "_int8io" if self.integer else "_int8" if self.quantized else ""

    @property
    def key(self) -> str:
        """"saved_model", "onnx", "litert", "litert_int8" (int8 weights) or "litert_int8io"
        (full integer): the target's id in records."""
        return self.format.value + self.suffix

    @property
    def label(self) -> str:
        kind = " (full int8)" if self.integer else " (int8 weights)" if self.quantized else ""
        return self.format.spec.label + kind

    @property
    def file_name(self) -> str:
        """The file (or folder) written in exports/."""
        return self.format.spec.file_name.replace(".tflite", self.suffix + ".tflite")

    @property
    def bundle_name(self) -> str:
        """The download: one zip of the model, labels.txt, model.json and the example."""
        return f"{self.key}.zip"

    @property
    def download_name(self) -> str:
        """The single file offered for download (a folder is zipped)."""
        return self.file_name + (".zip" if self.format.spec.folder else "")

    @classmethod
    def from_key(cls, key: str) -> ExportTarget:
        """The target a key names; ExportError for an unknown one."""
        integer = key.endswith("_int8io")
        quantized = integer or key.endswith("_int8")
        try:
            return cls(ExportFormat(key.removesuffix("_int8io").removesuffix("_int8")),
                       quantized, integer)
        except ValueError:
            known = ", ".join(f.value for f in ExportFormat)
            raise ExportError(f"unknown export {key!r}; expected one of {known} "
                              "litert_int8 or litert_int8io.") from None


def parse_targets(names: list[str] | str, quantize: bool = False,
                  integer: bool = False) -> list[ExportTarget]:
    """The targets for format names ("all" means every format); with ``quantize`` a LiteRT
    file with int8 weights is added, with ``integer`` a full-integer one (ExportError when
    LiteRT is not among the formats)."""
    names = [names] if isinstance(names, str) else list(names)
    formats: list[ExportFormat] = []
    for name in names:
        if name == ALL:
            formats.extend(ExportFormat)
            continue
        try:
            formats.append(ExportFormat(name))
        except ValueError:
            raise ExportError(f"unknown export format {name!r}; expected one of "
                              f"{', '.join(f.value for f in ExportFormat)} or all.") from None
    formats = list(dict.fromkeys(formats))
    if not formats:
        raise ExportError("no export format chosen; expected at least one.")
    targets = [ExportTarget(f) for f in formats]
    if (quantize or integer) and ExportFormat.LITERT not in formats:
        flag = "--quantize" if quantize else "--int8"
        raise ExportError(f"{flag} makes a quantized LiteRT file: add litert (or all) "
                          "to the formats.")
    if quantize:
        targets.append(ExportTarget(ExportFormat.LITERT, quantized=True))
    if integer:
        targets.append(ExportTarget(ExportFormat.LITERT, integer=True))
    return targets


@dataclass(frozen=True)
class WriteContext:
    """What a writer needs beyond the model: the class names (the SavedModel's ``classify``
    signature returns them) and representative images (float32 0..255) for full integer."""

    classes: list[str]
    representative: Any = None  # an (images, size, size, channels) array, or None


def write_export(model: Any, target: ExportTarget, path: Path,
                 context: WriteContext | None = None) -> None:
    """Write ``model`` (an inference copy) in the target's format at ``path``."""
    import tensorflow as tf

    context = context or WriteContext(classes=[])
    if target.format is ExportFormat.SAVED_MODEL:
        with _quiet_converters():
            _write_saved_model(model, path, context.classes)
        return
    options: dict[str, Any] = {}
    if target.quantized:
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if target.integer:
        options.update(_integer_options(context))
    quiet = _quiet_native_stderr() if target.integer else contextlib.nullcontext()
    with _quiet_converters(), quiet:
        model.export(str(path), format=target.format.spec.keras_format, verbose=False, **options)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """The full-integer calibrator prints its settings from C++ straight to file descriptor
    2 ("fully_quantize: 0, inference_type: 6, ..."): the command line promises one JSON line
    and a quiet stderr, so fd 2 points at /dev/null for the conversion's few seconds."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _integer_options(context: WriteContext) -> dict[str, Any]:
    """Full-integer conversion: calibrated on the representative images, int8 in and out."""
    import tensorflow as tf

    images = context.representative
    if images is None or not len(images):
        raise ExportError("a full-integer LiteRT file needs representative images of the run.")

    def representative() -> Iterator[list[Any]]:
        for image in images:
            yield [image[None].astype("float32")]
    return {"representative_dataset": representative, "inference_input_type": tf.int8,
            "inference_output_type": tf.int8,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}


def _write_saved_model(model: Any, path: Path, classes: list[str]) -> None:
    """Keras' own SavedModel (``serve``: probabilities) plus a ``classify`` signature that
    also returns each image's class index and name, so the file names its classes."""
    import keras
    import tensorflow as tf

    shape = [None, *model.inputs[0].shape[1:]]
    spec = tf.TensorSpec(shape, tf.float32, name="image")
    names = tf.constant(classes or [str(i) for i in range(int(model.outputs[0].shape[-1]))])

    def serve(images: Any) -> Any:
        return model(images, training=False)

    def classify(images: Any) -> dict[str, Any]:
        probabilities = model(images, training=False)
        index = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "class_index": index,
                "class_name": tf.gather(names, index)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=[spec])
    archive.add_endpoint("classify", classify, input_signature=[spec])
    archive.write_out(str(path), verbose=False)


@contextlib.contextmanager
def _quiet_converters() -> Iterator[None]:
    """tf2onnx logs a traceback for each graph optimisation it skips (the file is still
    right, and the check proves it): keep those for debugging, off the user's console."""
    logger = logging.getLogger("tf2onnx")
    saved = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():  # Keras' tf2onnx shim probes np.object
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(saved)

