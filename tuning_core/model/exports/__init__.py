"""Checked exports of a run's best model: SavedModel, ONNX and LiteRT (optionally int8).

Each file is built from the model's inference copy (:mod:`.inference`), reloaded in its
own runtime (:mod:`.runtimes`), compared with ``model.predict`` (:mod:`.records`) and
offered only when it agrees (:mod:`.service`), as one zip with its classes, ``model.json``
(:mod:`.card`) and an example script (:mod:`.bundle`, :mod:`.example_template`).
Importing this package does not import TensorFlow.
"""

from __future__ import annotations

from tuning_core.model.exports.bundle import EXAMPLE_FILE, RUNTIME_PACKAGES, write_bundle
from tuning_core.model.exports.card import CARD_FILE, LABELS_FILE, ModelCard, card_for
from tuning_core.model.exports.formats import (
                                               ALL,
                                               FORMATS,
                                               ExportFormat,
                                               ExportTarget,
                                               WriteContext,
                                               parse_targets,
                                               write_export,
)
from tuning_core.model.exports.inference import inference_copy, is_training_only
from tuning_core.model.exports.records import (
                                               FLOAT_MAX_DIFF,
                                               MIN_IMAGES,
                                               MIN_SPREAD,
                                               QUANTIZED_MIN_TOP1,
                                               Agreement,
                                               ExportManifest,
                                               ExportRecord,
                                               InputSpec,
                                               judge,
)
from tuning_core.model.exports.service import (
                                               check_images,
                                               current_exports,
                                               download,
                                               export_run,
                                               input_spec,
                                               load_manifest,
                                               representative_images,
)

__all__ = [
    "ALL", "FORMATS", "ExportFormat", "ExportTarget", "parse_targets", "write_export",
    "inference_copy", "is_training_only", "FLOAT_MAX_DIFF", "MIN_IMAGES", "MIN_SPREAD",
    "QUANTIZED_MIN_TOP1", "Agreement", "ExportManifest", "ExportRecord", "InputSpec", "judge",
    "check_images", "current_exports", "download", "export_run", "input_spec", "load_manifest",
    "representative_images", "WriteContext", "EXAMPLE_FILE", "RUNTIME_PACKAGES", "write_bundle",
    "CARD_FILE", "LABELS_FILE", "ModelCard", "card_for",
]
