"""The CNN search space as data: dataclasses, JSON round trip, validation and size.

A :class:`SearchSpace` says *what to try*; :mod:`tuning_core.search.hypermodel` turns it into
KerasTuner hyperparameters. This module never imports TensorFlow, so pages and the
command line can edit and check a space cheaply. The presets live in
:mod:`tuning_core.space.presets` and the size count in :mod:`tuning_core.space.size`; both import
this module, never the other way round.
"""

from __future__ import annotations

import json
import math
from dataclasses import Field, dataclass, field, fields
from enum import Enum
from typing import Any, ClassVar, Self

from tuning_core.core.errors import SearchSpaceError
from tuning_core.core.records import (
    Reader,
    bad_value,
    choice_issues,
    exact_keys,
    field_at,
    known_issues,
    list_of,
    number,
    plain,
    positive_issues,
    text_value,
    whole_number,
)
from tuning_core.space.backbones import BACKBONES, NONE, WEIGHTS

__all__ = [
    "ACTIVATIONS", "OPTIMIZERS", "POOLINGS", "MAX_BLOCKS", "DEFAULT_PRESET", "Toggle",
    "IntRange", "DropoutRange", "ConvBlockSpace", "DenseBlockSpace", "TrainingSpace",
    "BackboneSpace", "SearchSpace", "validate", "check", "validate_for_image",
]  # fmt: skip

ACTIVATIONS = ("relu", "elu", "gelu", "selu", "swish", "tanh", "sigmoid", "leaky_relu")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw", "nadam")
POOLINGS = ("max", "average", "none")
MAX_BLOCKS = 8
# The head: Flatten when the last conv map holds at most this many values, else global
# average pooling (hypermodel.py builds it; planner.py counts its cost).
FLATTEN_MAX_FEATURES = 8192
DEFAULT_PRESET = "small"

Issue = tuple[str, str]


class Toggle(str, Enum):
    """A switch that is off, on, or left to the tuner (a boolean hyperparameter)."""

    OFF = "off"
    ON = "on"
    TUNED = "tuned"

    def choices(self) -> tuple[bool, ...]:
        """The boolean values a trial may take: one when fixed, two when tuned."""
        return {Toggle.OFF: (False,), Toggle.ON: (True,), Toggle.TUNED: (False, True)}[self]


# ---------------------------------------------------------------- reading dicts


def _toggle(v: Any, path: str) -> Toggle:
    if v not in [t.value for t in Toggle]:
        raise bad_value(path, "one of 'off', 'on', 'tuned'", v)
    return Toggle(v)


def _reader(annotation: str) -> Reader:
    """The reader for a field's annotation ("int", "list[str]", "Toggle", "IntRange", ...)."""
    if annotation.startswith("list["):
        return list_of(_reader(annotation[5:-1]))
    simple = {"int": whole_number, "float": number, "str": text_value, "Toggle": _toggle}
    return simple.get(annotation) or globals()[annotation].from_dict


class _Record:
    """to_dict/from_dict for the dataclasses below; each field is read as its annotation says."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # every subclass is a dataclass

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (toggles as "off"/"on"/"tuned")."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Any, path: str = "") -> Self:
        """Read what to_dict wrote; SearchSpaceError naming the field when its shape is wrong."""
        d = exact_keys(d, [f.name for f in fields(cls)], path)
        # annotations are postponed, so each field's type is its text ("int", "list[str]")
        return cls(**{f.name: _reader(str(f.type))(d[f.name], field_at(path, f.name))
                      for f in fields(cls)})


# ---------------------------------------------------------------- dataclasses


@dataclass
class IntRange(_Record):
    """An inclusive range of whole numbers (a block count)."""

    min: int
    max: int

    def values(self) -> list[int]:
        """Every count in the range, smallest first."""
        return list(range(self.min, self.max + 1))


@dataclass
class DropoutRange(_Record):
    """A dropout rate: fixed when min == max, else every ``step`` from min to max."""

    min: float = 0.0
    max: float = 0.0
    step: float = 0.1

    @property
    def fixed(self) -> bool:
        """True when there is one rate only."""
        return self.min == self.max

    def values(self) -> list[float]:
        """The rates a trial may take: floor((max - min) / step) + 1 of them, rounded.

        Counting with a small tolerance keeps ``max`` in: KerasTuner's own
        ``Float(0, 0.5, step=0.1)`` floors 0.5 // 0.1 to 4 and never samples 0.5.
        """
        if self.fixed or self.step <= 0:
            return [float(self.min)]
        count = math.floor((self.max - self.min) / self.step + 1e-9) + 1
        return [round(self.min + k * self.step, 10) for k in range(count)]


@dataclass
class ConvBlockSpace(_Record):
    """One conv block's choices: Conv2D -> BatchNorm -> Activation -> pooling -> Dropout."""

    filters: list[int]
    kernel_sizes: list[int]
    activations: list[str]
    batch_norm: Toggle
    dropout: DropoutRange
    pooling: list[str]


@dataclass
class DenseBlockSpace(_Record):
    """One dense block's choices: Dense -> Activation -> Dropout."""

    units: list[int]
    activations: list[str]
    dropout: DropoutRange


@dataclass
class TrainingSpace(_Record):
    """Optimizer, log-scale learning-rate range, batch sizes, augmentation switches, and for
    messy folders label smoothing (several values: tuned) and balanced class weights."""

    optimizers: list[str]
    learning_rate_min: float
    learning_rate_max: float
    batch_sizes: list[int]
    flip: Toggle = Toggle.OFF
    rotation: Toggle = Toggle.OFF
    zoom: Toggle = Toggle.OFF
    label_smoothing: list[float] = field(default_factory=lambda: [0.0])
    class_weights: Toggle = Toggle.OFF


@dataclass
class BackboneSpace(_Record):
    """Which pretrained backbones to try before the dense head ("none": the conv blocks).

    ``trainable_top`` lists the fine-tuning choices (0: frozen, k: the last k layers
    train); a trial with a backbone samples its learning rate from ``learning_rate_min``
    to ``learning_rate_max`` (log scale) instead of the training range.
    """

    choices: list[str] = field(default_factory=lambda: [NONE])
    weights: str = "imagenet"
    trainable_top: list[int] = field(default_factory=lambda: [0])
    learning_rate_min: float = 1e-5
    learning_rate_max: float = 1e-3

    @property
    def active(self) -> bool:
        """True when some trial uses a pretrained backbone."""
        return any(c != NONE for c in self.choices)

    @property
    def names(self) -> list[str]:
        """The pretrained backbones chosen ("none" left out)."""
        return [c for c in self.choices if c != NONE]


@dataclass
class SearchSpace(_Record):
    """The whole space. ``conv[i]`` holds block i's choices; len(conv) == conv_blocks.max.

    ``backbone`` defaults to "none" (the conv blocks only), which is also what a space
    written before backbones existed (schema version 1) means.
    """

    conv_blocks: IntRange
    conv: list[ConvBlockSpace]
    dense_blocks: IntRange
    dense: list[DenseBlockSpace]
    training: TrainingSpace
    backbone: BackboneSpace = field(default_factory=BackboneSpace)
    SCHEMA_VERSION: ClassVar[int] = 3
    READABLE_VERSIONS: ClassVar[tuple[int, ...]] = (1, 2, 3)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values with a leading ``"schema_version"``."""
        return {"schema_version": self.SCHEMA_VERSION, **plain(self)}

    @classmethod
    def from_dict(cls, d: Any, path: str = "") -> SearchSpace:
        """Read what :meth:`to_dict` wrote.

        SearchSpaceError names the field for an unknown version, missing or unknown keys or
        wrong types (not sense: :func:`validate`). Older versions read as what they lacked
        meant: no backbone (1), no label smoothing and no class weights (1 and 2).
        """
        version = d.get("schema_version") if isinstance(d, dict) else None
        if isinstance(d, dict) and "schema_version" in d and version not in cls.READABLE_VERSIONS:
            known = " or ".join(str(v) for v in cls.READABLE_VERSIONS)
            raise SearchSpaceError([(field_at(path, "schema_version"),
                                     f"unsupported version: expected {known}; got {version!r}")])
        if isinstance(d, dict) and "backbone" not in d:
            d = {**d, "backbone": BackboneSpace().to_dict()}
        if isinstance(d, dict) and isinstance(d.get("training"), dict) and version in (None, 1, 2):
            d = {**d, "training": {"label_smoothing": [0.0], "class_weights": "off",
                                   **d["training"]}}
        exact_keys(d, ["schema_version", *(f.name for f in fields(cls))], path)
        return super().from_dict({k: v for k, v in d.items() if k != "schema_version"}, path)

    def to_json(self) -> str:
        """The space as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        """Parse JSON text; SearchSpaceError when it is not JSON or not a valid shape."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SearchSpaceError([("json", f"not valid JSON: {exc}")]) from exc
        return cls.from_dict(data)


# ---------------------------------------------------------------- validation


def _dropout(r: DropoutRange, path: str) -> list[Issue]:
    issues = [
        (field_at(path, k), f"must be at least 0 and below 1; got {v}")
        for k, v in (("min", r.min), ("max", r.max))
        if not 0 <= v < 1
    ]
    if r.min > r.max:
        issues.append((path, f"min ({r.min}) is above max ({r.max})"))
    if r.step <= 0:
        issues.append((field_at(path, "step"), f"must be above 0; got {r.step}"))
    return issues


def _count(r: IntRange, path: str, least: int, why: str) -> list[Issue]:
    issues = [(path, f"min ({r.min}) is above max ({r.max})")] if r.min > r.max else []
    if r.min < least:
        issues.append((field_at(path, "min"), f"{why}; got {r.min}"))
    if r.max > MAX_BLOCKS:
        issues.append((field_at(path, "max"),
                       f"at most {MAX_BLOCKS} blocks are supported; got {r.max}"))
    return issues


def _length(blocks: list[Any], r: IntRange, path: str) -> list[Issue]:
    if len(blocks) == r.max:
        return []
    msg = f"expected {r.max} {path} block settings, one per block up to {path}_blocks.max"
    return [(path, f"{msg} = {r.max}; got {len(blocks)}")]


def _conv_block(b: ConvBlockSpace, path: str) -> list[Issue]:
    return (
        positive_issues(b.filters, field_at(path, "filters"), "filters")
        + positive_issues(b.kernel_sizes, field_at(path, "kernel_sizes"), "kernel sizes")
        + known_issues(b.activations, field_at(path, "activations"), "activation", ACTIVATIONS)
        + _dropout(b.dropout, field_at(path, "dropout"))
        + known_issues(b.pooling, field_at(path, "pooling"), "pooling", POOLINGS)
    )


def _dense_block(b: DenseBlockSpace, path: str) -> list[Issue]:
    return (
        positive_issues(b.units, field_at(path, "units"), "units")
        + known_issues(b.activations, field_at(path, "activations"), "activation", ACTIVATIONS)
        + _dropout(b.dropout, field_at(path, "dropout"))
    )


def _rates(r: TrainingSpace | BackboneSpace, path: str) -> list[Issue]:
    issues = []
    for key in ("learning_rate_min", "learning_rate_max"):
        value = getattr(r, key)
        if not 0 < value <= 1:
            issues.append((f"{path}.{key}", f"must be above 0 and at most 1; got {value}"))
    if r.learning_rate_min > r.learning_rate_max:
        msg = f"learning_rate_min ({r.learning_rate_min}) is above learning_rate_max"
        issues.append((f"{path}.learning_rate_min", f"{msg} ({r.learning_rate_max})"))
    return issues


def _training(t: TrainingSpace) -> list[Issue]:
    issues = known_issues(t.optimizers, "training.optimizers", "optimizer", OPTIMIZERS)
    issues += _rates(t, "training")
    bad = ", ".join(repr(v) for v in t.label_smoothing if not 0.0 <= v < 1.0)
    issues += choice_issues(t.label_smoothing, "training.label_smoothing") + ([(
        "training.label_smoothing", f"label smoothing must be from 0 up to (not including) 1; "
                                    f"got {bad}")]
        if bad else [])
    return issues + positive_issues(t.batch_sizes, "training.batch_sizes", "batch sizes")


def _backbone(b: BackboneSpace) -> list[Issue]:
    issues = known_issues(b.choices, "backbone.choices", "backbone", (NONE, *BACKBONES))
    if b.weights not in WEIGHTS:
        issues.append(("backbone.weights", f"expected one of {', '.join(WEIGHTS)}; "
                                           f"got {b.weights!r}"))
    bad = [repr(v) for v in b.trainable_top if isinstance(v, bool) or v < 0]
    issues += choice_issues(b.trainable_top, "backbone.trainable_top")
    if bad:
        msg = f"layer counts must be 0 (frozen) or more; got {', '.join(bad)}"
        issues.append(("backbone.trainable_top", msg))
    return issues + _rates(b, "backbone")


def validate(space: SearchSpace) -> list[Issue]:
    """Every problem of ``space`` as (field path like "conv[1].filters", message); [] if valid."""
    issues = _count(space.conv_blocks, "conv_blocks", 1, "a CNN needs at least one conv block")
    issues += _length(space.conv, space.conv_blocks, "conv")
    for i, block in enumerate(space.conv):
        issues += _conv_block(block, field_at("conv", i))
    issues += _count(space.dense_blocks, "dense_blocks", 0, "cannot be negative")
    issues += _length(space.dense, space.dense_blocks, "dense")
    for i, dense in enumerate(space.dense):
        issues += _dense_block(dense, field_at("dense", i))
    return issues + _training(space.training) + _backbone(space.backbone)


def check(space: SearchSpace) -> None:
    """Raise SearchSpaceError listing every problem when ``space`` is not valid."""
    issues = validate(space)
    if issues:
        raise SearchSpaceError(issues)


def backbone_issues_for_image(space: SearchSpace, image_size: int) -> list[Issue]:
    """Errors for one image size: each chosen backbone that needs larger images.

    Grayscale needs no check: the model repeats the channel three times.
    """
    small = [BACKBONES[n] for n in space.backbone.names
             if n in BACKBONES and image_size < BACKBONES[n].min_size]
    return [("backbone.choices", f"{b.name} needs images of at least {b.min_size}x"
             f"{b.min_size} pixels; the image size is {image_size}") for b in small]


def check_for_image(space: SearchSpace, image_size: int) -> None:
    """Raise SearchSpaceError when a chosen backbone needs larger images than ``image_size``."""
    issues = backbone_issues_for_image(space, image_size)
    if issues:
        raise SearchSpaceError(issues)


def validate_for_image(space: SearchSpace, image_size: int) -> list[Issue]:
    """Warnings for one image size: [] or one issue when pooling would shrink it below 1 pixel.

    Counts the pooling layers of the deepest model (every block up to conv_blocks.max
    that may pool) and halves the size once per layer. The model itself skips a
    pooling layer that would leave a map smaller than 2x2, so this is a warning. [] when
    no trial builds conv blocks (every backbone choice is a pretrained one).
    """
    if NONE not in space.backbone.choices:
        return []
    blocks = space.conv[: space.conv_blocks.max]
    pools = sum(1 for b in blocks if any(p != "none" for p in b.pooling))
    if image_size >= 2**pools:
        return []
    msg = (
        f"{pools} pooling layers would shrink a {image_size}x{image_size} image below 1 pixel "
        f"({image_size} / 2^{pools} = {image_size / 2**pools:g}); the model skips pooling "
        "layers that would leave a map smaller than 2x2"
    )
    return [("conv_blocks.max", msg)]
