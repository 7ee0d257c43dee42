"""The search space: its schema, the presets, its size and the pretrained backbones.

* ``backbones``: pretrained backbones: one registry of Keras applications, and where their
  weights live.
* ``presets``: ready-made search spaces: one registry, one small function per preset.
* ``schema``: the CNN search space as data: dataclasses, JSON round trip, validation and size.
* ``size``: the size of a search space: discrete combinations, counting conditional blocks
  exactly.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "backbones": ("BACKBONES", "NONE", "WEIGHTS", "check_weights", "fetch_weights",
                  "keras_models_dir", "weights_status"),
    "presets": ("PRESETS", "get_preset"),
    "schema": ("ACTIVATIONS", "BackboneSpace", "ConvBlockSpace", "DEFAULT_PRESET",
               "DenseBlockSpace", "DropoutRange", "FLATTEN_MAX_FEATURES", "IntRange",
               "MAX_BLOCKS", "OPTIMIZERS", "POOLINGS", "SearchSpace", "Toggle", "TrainingSpace",
               "backbone_issues_for_image", "check", "check_for_image", "validate",
               "validate_for_image"),
    "size": ("SpaceSize", "space_size"),
})
