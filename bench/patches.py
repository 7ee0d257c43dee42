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


@patch("freeze_gc")
def _freeze_gc() -> None:
    """tuning_core/search.py run_search: freeze the long-lived objects while the tuner runs.

    KerasTuner starts every trial with ``clear_session()`` and ``gc.collect()``: two full
    collections that walk the ~400,000 objects TensorFlow and Keras keep alive (0.2 s each
    here). ``gc.freeze()`` before ``tuner.search`` moves them out of the collector's sight;
    ``gc.unfreeze()`` in the ``finally`` gives them back when the search ends.
    """
    import gc

    from tuning_core import search
    from tuning_core.tuners import DashboardHooks

    run_search = search.run_search

    def on_search_begin(self):  # type: ignore[no-untyped-def]
        super(DashboardHooks, self).on_search_begin()
        gc.collect()
        gc.freeze()

    def frozen_run_search(run_dir):  # type: ignore[no-untyped-def]
        try:
            return run_search(run_dir)
        finally:
            gc.unfreeze()

    DashboardHooks.on_search_begin, search.run_search = on_search_begin, frozen_run_search


@patch("batch_json")
def _batch_json() -> None:
    """tuning_core/triallog.py TrialLogReader._read_from_offset: parse the chunk at once.

    One ``json.loads`` of the whole appended chunk as a JSON array instead of one call per
    line (per-call overhead dominates for short lines); a chunk with a damaged line falls
    back to the line-by-line path, which skips that line as before.
    """
    import json

    from tuning_core.triallog import TrialLogReader

    def read_from_offset(self):  # type: ignore[no-untyped-def]
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        end = chunk.rfind(b"\n") + 1
        if end == 0:
            return False
        self._offset += end
        lines = [line for line in chunk[:end].splitlines() if line.strip()]
        try:
            records = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError:
            added = sum(self._ingest_line(raw) for raw in lines)
        else:
            added = sum(_ingest_record(self, record) for record in records)
        if added:
            self._frames = None
        return added > 0

    TrialLogReader._read_from_offset = read_from_offset


def _ingest_record(reader, record) -> int:  # type: ignore[no-untyped-def]
    if not isinstance(record, dict) or "event" not in record:
        return 0
    reader._events.append(record)
    handler = getattr(reader, "_on_" + str(record["event"]), None)
    if handler is not None:
        handler(record)
    return 1


def apply(names: list[str]) -> None:
    """Apply the named patches; KeyError naming the known ones for an unknown name."""
    for name in names:
        if name not in PATCHES:
            raise KeyError(f"unknown patch {name!r}; known: {', '.join(PATCHES)}")
        PATCHES[name]()
