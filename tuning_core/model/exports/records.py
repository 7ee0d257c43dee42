"""What an export's check found, as records that round-trip to ``exports/manifest.json``.

The thresholds live here with the verdict (:func:`judge`), so the pages, the command line,
the report and the benchmark all read the same pass/fail for the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from tuning_core.core.errors import ExportError

__all__ = ["FLOAT_MAX_DIFF", "QUANTIZED_MIN_TOP1", "MIN_SPREAD", "MIN_IMAGES", "InputSpec",
           "Agreement", "ExportRecord", "ExportManifest", "judge", "MANIFEST_VERSION"]

FLOAT_MAX_DIFF = 1e-4  # largest |export - model.predict| allowed for a float file
QUANTIZED_MIN_TOP1 = 0.99  # share of images whose top class a quantized file must keep
MIN_SPREAD = 1e-3  # a model whose every output moves less than this across images is constant
MIN_IMAGES = 32
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class InputSpec:
    """The input an exported model expects: a batch of square images, pixels 0..255."""

    size: int
    color_mode: str  # "rgb" or "grayscale"
    channels: int
    dtype: str = "float32"
    pixel_range: str = "0..255"

    def describe(self) -> str:
        """"[batch, 32, 32, 3] float32, RGB, pixels 0..255 (scaling is inside the model)"."""
        colour = "RGB" if self.color_mode == "rgb" else "grayscale"
        return (f"[batch, {self.size}, {self.size}, {self.channels}] {self.dtype}, {colour}, "
                f"pixels {self.pixel_range} (scaling is inside the model)")


@dataclass(frozen=True)
class Agreement:
    """How an export's outputs compare with ``model.predict`` on the same images."""

    images: int
    max_abs_diff: float
    top1_agreement: float
    spread: float  # the largest range of one output across the images

    @classmethod
    def of(cls, reference: np.ndarray, outputs: np.ndarray) -> Agreement:
        """Compare two (images, classes) arrays; ExportError when their shapes differ."""
        if reference.shape != outputs.shape:
            raise ExportError(f"the export gives outputs of shape {outputs.shape}; "
                              f"the model gives {reference.shape}.")
        return cls(images=len(reference),
                   max_abs_diff=float(np.abs(reference - outputs).max()),
                   top1_agreement=float((reference.argmax(1) == outputs.argmax(1)).mean()),
                   spread=float(np.ptp(outputs, axis=0).max()))


def judge(agreement: Agreement, quantized: bool, reference_spread: float) -> str:
    """"" when the export passes its check, else the reason, for people."""
    if agreement.images < MIN_IMAGES:
        return f"checked on {agreement.images} images; at least {MIN_IMAGES} are needed."
    if reference_spread < MIN_SPREAD:
        return (f"the model gives the same output for every image (outputs move at most "
                f"{reference_spread:.2g}): a constant model is not offered.")
    if agreement.spread < MIN_SPREAD:
        return (f"the export gives the same output for every image (outputs move at most "
                f"{agreement.spread:.2g}) while the model does not.")
    if quantized and agreement.top1_agreement < QUANTIZED_MIN_TOP1:
        return (f"the top class agrees with the model on {agreement.top1_agreement:.1%} of "
                f"the images; at least {QUANTIZED_MIN_TOP1:.0%} is needed.")
    if not quantized and not agreement.max_abs_diff < FLOAT_MAX_DIFF:
        return (f"outputs differ from the model's by up to {agreement.max_abs_diff:.3g}; "
                f"less than {FLOAT_MAX_DIFF:g} is needed.")
    return ""


@dataclass
class ExportRecord:
    """One export: its file, its check and its speed. ``reason`` is "" when it passed."""

    key: str  # ExportTarget.key
    label: str
    runtime: str
    file: str  # the model's file inside exports/ ("" when the check failed)
    bytes: int  # the model file's size
    input: InputSpec
    model_stamp: list[int]  # (mtime ns, size) of the best model it was made from
    agreement: Agreement | None = None
    ms_per_image: float | None = None
    threads: int = 1
    export_seconds: float = 0.0
    reason: str = ""
    created: float = 0.0
    bundle: str = ""  # the download: a zip of the model, labels.txt, model.json, the example
    bundle_bytes: int = 0

    @property
    def passed(self) -> bool:
        return not self.reason

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["input"] = InputSpec(**values["input"])
        if values.get("agreement") is not None:
            values["agreement"] = Agreement(**values["agreement"])
        return cls(**values)


@dataclass
class ExportManifest:
    """Every export of a run's best model, by target key (the latest of each)."""

    records: dict[str, ExportRecord] = field(default_factory=dict)
    images_source: str = ""  # which images the checks ran on, for people

    def to_dict(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "images_source": self.images_source,
                "records": {k: r.to_dict() for k, r in self.records.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportManifest:
        if data.get("version") != MANIFEST_VERSION:
            raise ExportError(f"exports manifest version must be {MANIFEST_VERSION}; got "
                              f"{data.get('version')!r}.")
        return cls({k: ExportRecord.from_dict(v) for k, v in data["records"].items()},
                   data.get("images_source", ""))

    def current(self, model_stamp: list[int] | None) -> list[ExportRecord]:
        """The records made from the best model as it is now (a retrain makes older stale)."""
        return [r for r in self.records.values() if model_stamp and r.model_stamp == model_stamp]
