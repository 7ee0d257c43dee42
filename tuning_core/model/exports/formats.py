"""The export formats: what each file is called, how Keras writes it, what reads it back.

One registry (``FORMATS``) of small :class:`FormatSpec` entries; a :class:`ExportTarget` is
a format plus whether its weights are quantized (LiteRT only: dynamic-range int8 weights,
float inputs and outputs). Keras and TensorFlow are imported inside the writers only.
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
           "write_export"]


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

    def __post_init__(self) -> None:
        if self.quantized and self.format is not ExportFormat.LITERT:
            raise ExportError(f"quantization applies to LiteRT only; got "
                              f"{self.format.value} with quantization.")

    @property
    def key(self) -> str:
        """"saved_model", "onnx", "litert" or "litert_int8": the target's id in records."""
        return self.format.value + ("_int8" if self.quantized else "")

    @property
    def label(self) -> str:
        return self.format.spec.label + (" (int8 weights)" if self.quantized else "")

    @property
    def file_name(self) -> str:
        """The file (or folder) written in exports/."""
        name = self.format.spec.file_name
        return name.replace(".tflite", "_int8.tflite") if self.quantized else name

    @property
    def download_name(self) -> str:
        """The single file offered for download (a folder is zipped)."""
        return self.file_name + (".zip" if self.format.spec.folder else "")

    @classmethod
    def from_key(cls, key: str) -> ExportTarget:
        """The target a key names; ExportError for an unknown one."""
        quantized = key.endswith("_int8")
        try:
            return cls(ExportFormat(key.removesuffix("_int8")), quantized)
        except ValueError:
            known = ", ".join(f.value for f in ExportFormat)
            raise ExportError(f"unknown export {key!r}; expected one of {known} "
                              "or litert_int8.") from None


def parse_targets(names: list[str] | str, quantize: bool = False) -> list[ExportTarget]:
    """The targets for format names ("all" means every format); with ``quantize`` a
    quantized LiteRT is added (ExportError when LiteRT is not among the formats)."""
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
    if quantize:
        if ExportFormat.LITERT not in formats:
            raise ExportError("--quantize makes a quantized LiteRT file: add litert (or all) "
                              "to the formats.")
        targets.append(ExportTarget(ExportFormat.LITERT, quantized=True))
    return targets


def write_export(model: Any, target: ExportTarget, path: Path) -> None:
    """Write ``model`` (an inference copy) in the target's format at ``path``."""
    import tensorflow as tf

    options: dict[str, Any] = {}
    if target.quantized:
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    with _quiet_converters():
        model.export(str(path), format=target.format.spec.keras_format, verbose=False, **options)


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

