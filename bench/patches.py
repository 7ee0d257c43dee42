"""Engine changes proposed by the benchmarks, as monkeypatches to measure them before adoption.

``python -m bench --only 5 --patch release_gradients`` applies one in every figure process.
Each patch is small on purpose: it is the change proposed for the named engine function.
"""

from __future__ import annotations

from collections.abc import Callable

PATCHES: dict[str, Callable[[], None]] = {}


def patch(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def add(apply: Callable[[], None]) -> Callable[[], None]:
        PATCHES[name] = apply
        return apply
    return add


def custom_gradient_names() -> set[str]:
    """Names of the graph-mode custom gradients TensorFlow has registered (never removed)."""
    from tensorflow.python.framework import ops

    return {k for k in ops._gradient_registry._registry if k.startswith("CustomGradient-")}


def release_custom_gradients(keep: set[str]) -> int:
    """Drop the custom gradients registered since ``keep`` was taken; returns how many.

    Keras 3's TensorFlow optimizer all-reduces gradients through tf.distribute, whose
    ``grad_wrapper`` is a ``tf.custom_gradient``; in graph mode each trace registers it in
    TensorFlow's global gradient registry, and its closure holds the traced train step:
    every model ever trained stays in memory (about 10 MiB for the default preset's model).
    The entry is only looked up while that trace computes its gradients, so it can go
    once the trial's fit has returned.
    """
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    stale = [k for k in registry if k.startswith("CustomGradient-") and k not in keep]
    for name in stale:
        del registry[name]
    return len(stale)


@patch("release_gradients")
def _release_gradients() -> None:
    """tuning_core/tuners.py DashboardHooks: release the trial's traced gradients at its end."""
    from tuning_core.tuners import DashboardHooks

    begin, end = DashboardHooks.on_trial_begin, DashboardHooks.on_trial_end

    def on_trial_begin(self, trial):  # type: ignore[no-untyped-def]
        self._gradients_before = custom_gradient_names()
        begin(self, trial)

    def on_trial_end(self, trial):  # type: ignore[no-untyped-def]
        try:
            end(self, trial)
        finally:
            release_custom_gradients(getattr(self, "_gradients_before", set()))

    DashboardHooks.on_trial_begin, DashboardHooks.on_trial_end = on_trial_begin, on_trial_end


def apply(names: list[str]) -> None:
    """Apply the named patches; KeyError naming the known ones for an unknown name."""
    for name in names:
        if name not in PATCHES:
            raise KeyError(f"unknown patch {name!r}; known: {', '.join(PATCHES)}")
        PATCHES[name]()
