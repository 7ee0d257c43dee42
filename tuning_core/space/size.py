"""The size of a search space: discrete combinations, counting conditional blocks exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tuning_core.space.backbones import NONE
from tuning_core.space.schema import ConvBlockSpace, DenseBlockSpace, IntRange, SearchSpace


@dataclass(frozen=True)
class SpaceSize:
    """How big a space is: discrete combinations, and whether a continuous range exists."""

    combinations: int
    continuous: bool

    def describe(self) -> str:
        """E.g. "1,536 combinations x a continuous learning rate"."""
        noun = "combination" if self.combinations == 1 else "combinations"
        text = f"{self.combinations:,} {noun}"
        return f"{text} x a continuous learning rate" if self.continuous else text


def _conv_choices(b: ConvBlockSpace) -> int:
    n = len(set(b.filters)) * len(set(b.kernel_sizes)) * len(set(b.activations))
    return n * len(b.batch_norm.choices()) * len(b.dropout.values()) * len(set(b.pooling))


def _dense_choices(b: DenseBlockSpace) -> int:
    return len(set(b.units)) * len(set(b.activations)) * len(b.dropout.values())


def _stacks(per_block: list[int], counts: IntRange) -> int:
    """Sum over block counts n of the product of the first n blocks' choices."""
    return sum(math.prod(per_block[:n]) for n in counts.values())


def space_size(space: SearchSpace) -> SpaceSize:
    """The exact number of discrete combinations, counting each block only when it exists.

    Each pretrained backbone counts once per trainable-top choice and replaces the conv
    blocks; "none" among the backbone choices counts the conv stacks.
    """
    t = space.training
    training = len(set(t.optimizers)) * len(set(t.batch_sizes))
    training *= math.prod(len(x.choices()) for x in (t.flip, t.rotation, t.zoom))
    b = space.backbone
    with_conv = NONE in b.choices
    conv = _stacks([_conv_choices(c) for c in space.conv], space.conv_blocks) if with_conv else 0
    features = conv + len(set(b.names)) * len(set(b.trainable_top))  # a backbone skips conv
    dense = _stacks([_dense_choices(d) for d in space.dense], space.dense_blocks)
    continuous = (with_conv and t.learning_rate_min < t.learning_rate_max) or (
        b.active and b.learning_rate_min < b.learning_rate_max)
    return SpaceSize(combinations=features * dense * training, continuous=continuous)
