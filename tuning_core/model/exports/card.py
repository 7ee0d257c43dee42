"""What an export needs to stand alone: its classes and its input contract, as ``model.json``.

A colleague handed ``model.onnx`` alone gets ten numbers per image and no way to tell which
class each is. Every export's download therefore carries a :class:`ModelCard` (classes in
output order, input size, colour mode, pixel range, the run and its test accuracy with its
95% interval) as ``model.json`` and ``labels.txt``, and the formats that have a place for
it keep the same inside the file (ONNX ``metadata_props``, the SavedModel's ``classify``
signature). The card is read back by the example script with ``json`` alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tuning_core.core.errors import ExportError
from tuning_core.model.exports.records import InputSpec

__all__ = ["CARD_VERSION", "CARD_FILE", "LABELS_FILE", "ModelCard", "Quantization",
           "card_for"]

CARD_VERSION = 1
CARD_FILE = "model.json"
LABELS_FILE = "labels.txt"


@dataclass(frozen=True)
class Quantization:
    """How an int8 tensor maps to real values: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class ModelCard:
    """The classes and input contract of one exported file, as written to ``model.json``."""

    format: str  # the export's key: saved_model, onnx, litert, litert_int8
    file: str  # the model inside the bundle (a folder for the SavedModel)
    classes: list[str]
    input: InputSpec
    run: str
    test_accuracy: float | None = None
    test_accuracy_95: list[float] | None = None
    test_images: int = 0
    input_dtype: str = "float32"  # "int8" for a fully quantized LiteRT file
    input_quantization: Quantization | None = None
    output_quantization: Quantization | None = None
    outputs: str = "probabilities"  # one per class, in the order of ``classes``
    created: float = 0.0
    sha256: str = ""  # of the model file (the SavedModel's saved_model.pb): is it the one sent?
    exported_with: dict[str, str] = field(default_factory=dict)  # library versions
    version: int = field(default=CARD_VERSION)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """The card written by :meth:`to_dict`; ExportError for another version."""
        if data.get("version") != CARD_VERSION:
            raise ExportError(f"model.json version must be {CARD_VERSION}; got "
                              f"{data.get('version')!r}.")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["input"] = InputSpec(**values["input"])
        for key in ("input_quantization", "output_quantization"):
            if values.get(key) is not None:
                values[key] = Quantization(**values[key])
        return cls(**values)

    def labels_text(self) -> str:
        """``labels.txt``: one class name a line, line k is output k."""
        return "".join(f"{name}\n" for name in self.classes)

    def describe_input(self) -> str:
        """The input contract for people (the README of the download)."""
        text = self.input.describe()
        if self.input_quantization is None:
            return text
        q = self.input_quantization
        return (text.replace(self.input.dtype, "int8", 1) + f"; quantized: "
                f"q = round(pixel / {q.scale:.6g}) + {q.zero_point}")


def card_for(run_dir: str | Path, key: str, file: str, created: float = 0.0) -> ModelCard:
    """The card of ``run_dir``'s best model exported as ``key`` (the input, classes and
    test evaluation read from the run folder)."""
    from tuning_core.analysis.margin import evaluation_accuracy
    from tuning_core.model.best import load_evaluation
    from tuning_core.model.predict import class_names
    from tuning_core.runs.rundir import RunDir

    run = RunDir(run_dir)
    evaluation = load_evaluation(run.path) or {}
    accuracy = evaluation_accuracy(evaluation)
    image = run.config().image
    spec = InputSpec(size=image.image_size, color_mode=image.color_mode, channels=image.channels)
    return ModelCard(format=key, file=file, classes=class_names(run.path), input=spec,
                     run=run.name,
                     test_accuracy=evaluation.get("test_accuracy"),
                     test_accuracy_95=list(accuracy.interval) if accuracy else None,
                     test_images=int(evaluation.get("test_images") or 0), created=created,
                     exported_with=_versions())


def _versions() -> dict[str, str]:
    """The versions the file was written with, for the team that receives it."""
    from importlib import metadata

    found = {}
    for name in ("tensorflow", "keras", "tf2onnx", "onnx"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
