"""Keep a long-lived process from growing with every model it trains.

Keras 3's TensorFlow optimizer all-reduces gradients through ``tf.distribute``, whose
``grad_wrapper`` is a ``tf.custom_gradient``. In graph mode every trace registers it in
TensorFlow's global gradient registry as ``CustomGradient-<n>`` and never removes it, and
its closure holds the whole traced train step: about 10 MiB per model that stays after
``clear_session()`` (measured in bench/, figure 5: 1.22x growth over 20 trials, 1.01x
with this). The entry is looked up only while its trace computes gradients, so it can go
once the fit has returned. The registry is private TensorFlow state: if it moves, this
does nothing rather than fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

PREFIX = "CustomGradient-"


def _registry() -> dict | None:
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None


def gradient_names() -> set[str]:
    """Names of the custom gradients TensorFlow holds now."""
    registry = _registry()
    return set() if registry is None else {k for k in registry if k.startswith(PREFIX)}


def release_gradients(keep: set[str]) -> int:
    """Drop the custom gradients registered since ``keep`` was taken; returns how many."""
    registry = _registry()
    if registry is None:
        return 0
    stale = [k for k in list(registry) if k.startswith(PREFIX) and k not in keep]
    for name in stale:
        registry.pop(name, None)
    return len(stale)


@contextmanager
def released_gradients() -> Iterator[None]:
    """Around one training: what it registers in TensorFlow's gradient registry goes after."""
    before = gradient_names()
    try:
        yield
    finally:
        release_gradients(before)
