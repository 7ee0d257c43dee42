"""One download per export: the model, its classes, its input contract and an example.

A lab handing a model to another team hands a zip: the model file (or the SavedModel's
folder), ``labels.txt`` (line k is output k), ``model.json`` (:class:`ModelCard`),
``classify_folder.py`` (classifies an image folder with only that runtime, numpy and
Pillow installed; :mod:`.example_template` with its runtime filled in) and a README.
Where the format has a place for them the classes also travel inside the file: ONNX
``metadata_props`` (:func:`label_inside`; the SavedModel's ``classify`` signature is
written by :mod:`.formats`).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import replace
from pathlib import Path

from tuning_core.core import leftovers
from tuning_core.model.exports.card import CARD_FILE, LABELS_FILE, ModelCard, Quantization
from tuning_core.model.exports.formats import ExportFormat, ExportTarget

__all__ = ["EXAMPLE_FILE", "README_FILE", "RUNTIME_PACKAGES", "example_text", "label_inside",
           "quantized_card", "write_bundle"]

EXAMPLE_FILE = "classify_folder.py"
README_FILE = "README.txt"
# What the example needs besides numpy and pillow: the pip name of each format's runtime.
RUNTIME_PACKAGES = {ExportFormat.ONNX: "onnxruntime", ExportFormat.LITERT: "ai-edge-litert",
                    ExportFormat.SAVED_MODEL: "tensorflow"}


def label_inside(target: ExportTarget, path: Path, card: ModelCard) -> None:
    """Write the classes and the card into the file itself where the format has a place:
    ONNX ``metadata_props`` (``classes``: a JSON list; ``model_json``: the card), read by
    ``InferenceSession.get_modelmeta().custom_metadata_map``. Other formats: nothing."""
    if target.format is not ExportFormat.ONNX:
        return
    import onnx

    model = onnx.load(str(path))
    entries = {"classes": json.dumps(card.classes), "model_json": json.dumps(card.to_dict()),
               "input": card.describe_input()}
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def quantized_card(card: ModelCard, path: Path) -> ModelCard:
    """The card of a full-integer LiteRT file: its input and output quantization, read from
    the file, so the example (and any other reader) can feed int8 pixels and read real
    probabilities."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if source["dtype"].__name__ != "int8":
        return card
    return replace(card, input_dtype="int8", input_quantization=_quantization(source),
                   output_quantization=_quantization(target))


def _quantization(detail: dict) -> Quantization:
    scale, zero_point = detail["quantization"]
    return Quantization(float(scale), int(zero_point))


def example_text(target: ExportTarget) -> str:
    """The example script for this export's runtime."""
    template = Path(__file__).with_name("example_template.py").read_text()
    default = 'RUNTIME = "onnx"'
    return template.replace(default, f'RUNTIME = "{target.format.value}"', 1)


def readme_text(target: ExportTarget, card: ModelCard) -> str:
    """What the download holds and how to use it, for the person who receives it."""
    accuracy = ("not tested" if card.test_accuracy is None else
                f"{card.test_accuracy:.3f} on {card.test_images} test images" +
                (" (95% interval {:.3f}-{:.3f})".format(*card.test_accuracy_95)
                 if card.test_accuracy_95 else ""))
    package = RUNTIME_PACKAGES[target.format]
    return "\n".join([
        f"{target.label} export of run {card.run}",
        "",
        f"{card.file}: the model. Outputs: one probability per class, in this order:",
        *(f"  {k}: {name}" for k, name in enumerate(card.classes)),
        f"{LABELS_FILE}: the same class names, line k is output k.",
        f"{CARD_FILE}: classes, input contract and test accuracy, as JSON.",
        f"{EXAMPLE_FILE}: classifies a folder of images and prints each one's class.",
        "",
        f"Input: {card.describe_input()}.",
        f"Test accuracy: {accuracy}.",
        *([f"SHA-256 of the model file: {card.sha256}."] if card.sha256 else []),
        "",
        "Run the example:",
        f"  pip install numpy pillow {package}",
        f"  python {EXAMPLE_FILE} FOLDER [--csv results.csv]",
        "",
    ])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_bundle(path: Path, target: ExportTarget, card: ModelCard, dest: Path) -> None:
    """Zip the model at ``path`` (a file, or the SavedModel's folder) with its labels, card,
    example and README into ``dest``: written to a hidden temporary name beside it, flushed
    to the disk and renamed, so a kill or a full disk never leaves a zip cut short under
    ``dest``'s name (the temporary is removed on a failure; one a kill left is removed by
    the next export: :mod:`tuning_core.core.leftovers`)."""
    partial = leftovers.temporary_file(dest)
    card = replace(card, sha256=_sha256(path / "saved_model.pb" if path.is_dir() else path))
    try:
        with open(partial, "wb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as bundle:
                if path.is_dir():
                    for item in sorted(path.rglob("*")):
                        if item.is_file():
                            bundle.write(item, f"{card.file}/{item.relative_to(path).as_posix()}")
                else:
                    bundle.write(path, card.file)
                bundle.writestr(LABELS_FILE, card.labels_text())
                bundle.writestr(CARD_FILE, card.to_json())
                bundle.writestr(EXAMPLE_FILE, example_text(target))
                bundle.writestr(README_FILE, readme_text(target, card))
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
