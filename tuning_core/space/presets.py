"""Ready-made search spaces: one registry, one small function per preset.

Adding a preset is a function that returns a :class:`SearchSpace` and one line in
``PRESETS``. Every preset passes :func:`tuning_core.space.schema.validate` (tested). Also
importable from :mod:`tuning_core.space.schema`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from tuning_core.core.errors import SettingsError
from tuning_core.space.schema import (
    DEFAULT_PRESET,
    BackboneSpace,
    ConvBlockSpace,
    DenseBlockSpace,
    DropoutRange,
    IntRange,
    SearchSpace,
    Toggle,
    TrainingSpace,
)

__all__ = ["DEFAULT_PRESET", "PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """A named search space; ``build()`` returns a fresh copy to edit freely."""

    name: str
    title: str
    description: str
    build: Callable[[], SearchSpace]


def tutorial() -> SearchSpace:
    """The KerasTuner image-classification tutorial's family.

    1-3 conv blocks (32-128 filters, kernel 3 or 5, relu or tanh, tuned batch norm,
    dropout 0-0.5, max pooling), one dense block of 64-256 units, adam, batch 32.
    """
    conv = [
        ConvBlockSpace(
            filters=[32, 64, 128],
            kernel_sizes=[3, 5],
            activations=["relu", "tanh"],
            batch_norm=Toggle.TUNED,
            dropout=DropoutRange(0.0, 0.5, 0.1),
            pooling=["max"],
        )
        for _ in range(3)
    ]
    dense = [
        DenseBlockSpace(
            units=[64, 128, 256], activations=["relu"], dropout=DropoutRange(0.0, 0.5, 0.1)
        )
    ]
    training = TrainingSpace(
        optimizers=["adam"], learning_rate_min=1e-4, learning_rate_max=1e-2, batch_sizes=[32]
    )
    return SearchSpace(IntRange(1, 3), conv, IntRange(1, 1), dense, training)


def small() -> SearchSpace:
    """Fast, the default: for a first search, demos and tests.

    1-2 conv blocks of 16 or 32 filters (3x3, relu, max pooling), an optional dense
    block of 64 units, adam, batch 32 or 64, label smoothing 0.1: a few minutes on a CPU.
    Label smoothing because users' folders hold some wrong labels: on the benchmark's set
    with 10% of them it took the held-out accuracy from 0.912 to 0.956 (median of 5), and
    changed nothing measurable on the clean sets (bench/notes.md, "Messy labels").
    """
    conv = [
        ConvBlockSpace(
            filters=[16, 32],
            kernel_sizes=[3],
            activations=["relu"],
            batch_norm=Toggle.OFF,
            dropout=DropoutRange(0.0, 0.0),
            pooling=["max"],
        )
        for _ in range(2)
    ]
    dense = [DenseBlockSpace(units=[64], activations=["relu"], dropout=DropoutRange(0.0, 0.0))]
    training = TrainingSpace(
        optimizers=["adam"], learning_rate_min=1e-3, learning_rate_max=1e-2, batch_sizes=[32, 64],
        label_smoothing=[0.1],
    )
    return SearchSpace(IntRange(1, 2), conv, IntRange(0, 1), dense, training)


def _large_block(filters: list[int]) -> ConvBlockSpace:
    return ConvBlockSpace(
        filters=filters,
        kernel_sizes=[3, 5],
        activations=["relu", "gelu", "swish"],
        batch_norm=Toggle.TUNED,
        dropout=DropoutRange(0.0, 0.3, 0.1),
        pooling=["max", "average"],
    )


def large() -> SearchSpace:
    """Wide: for a GPU or a long run.

    2-4 conv blocks up to 256 filters with tuned kernel, activation, batch norm,
    dropout and pooling; 0-2 dense blocks; adam, adamw, rmsprop or sgd; tuned flip,
    rotation and zoom augmentation.
    """
    conv = [_large_block(f) for f in ([32, 64], [64, 128], [128, 256], [128, 256])]
    dense = [
        DenseBlockSpace(
            units=[64, 128, 256], activations=["relu", "gelu"], dropout=DropoutRange(0.0, 0.5, 0.1)
        )
        for _ in range(2)
    ]
    training = TrainingSpace(
        optimizers=["adam", "adamw", "rmsprop", "sgd"],
        learning_rate_min=1e-4,
        learning_rate_max=1e-2,
        batch_sizes=[32, 64],
        flip=Toggle.TUNED,
        rotation=Toggle.TUNED,
        zoom=Toggle.TUNED,
    )
    return SearchSpace(IntRange(2, 4), conv, IntRange(0, 2), dense, training)


def pretrained() -> SearchSpace:
    """A pretrained MobileNetV3Small with ImageNet weights: for few images per class.

    The backbone frozen or its last 20 layers fine-tuned (tuned), learning rate 1e-5 to
    1e-3, an optional dense block of 128 units, adam, batch 32. Images of at least 32 px;
    the weights file must be in Keras' cache (the Search space page says where).
    """
    space = small()
    space.dense = [DenseBlockSpace(units=[128], activations=["relu"],
                                   dropout=DropoutRange(0.0, 0.2, 0.2))]
    space.training.batch_sizes = [32]
    space.backbone = BackboneSpace(choices=["MobileNetV3Small"], weights="imagenet",
                                   trainable_top=[0, 20], learning_rate_min=1e-5,
                                   learning_rate_max=1e-3)
    return space


def _preset(name: str, title: str, build: Callable[[], SearchSpace]) -> Preset:
    return Preset(name, title, inspect.cleandoc(build.__doc__ or ""), build)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _preset("small", "Small (fast)", small),
        _preset("tutorial", "KerasTuner tutorial", tutorial),
        _preset("large", "Large", large),
        _preset("pretrained", "Pretrained (MobileNetV3Small)", pretrained),
    )
}


def get_preset(name: str) -> SearchSpace:
    """A fresh SearchSpace for the preset ``name``; SettingsError listing the known names."""
    if name not in PRESETS:
        known = ", ".join(PRESETS)
        raise SettingsError(f"unknown search-space preset {name!r}; known presets: {known}")
    return PRESETS[name].build()
