"""One search and its trials: the lifecycle, the tuners, the hypermodel, callbacks, precision
and what each trial's model costs.

* ``callbacks``: keras callbacks used inside trials.
* ``checkpoints``: trial checkpoints that a full disk cannot turn into a crash or a torn file.
* ``cost``: what a trial's model costs to run: parameters, multiply-adds, saved size, CPU
  latency.
* ``diskneeds``: what a search or a retrain will write, estimated before it starts, and the
  refusal in one line when the disk cannot hold it.
* ``hypermodel``: a KerasTuner HyperModel that builds a compiled Keras CNN from a
  :class:`SearchSpace`.
* ``lifecycle``: one search's lifecycle, shared by the plain search, a distributed search's
  chief and its workers: the data, the hypermodel, the start and end lines, and how trials
  train.
* ``precision``: mixed precision for a search or a retrain, only where the hardware gains from
  it.
* ``tfmemory``: keep a long-lived process from growing with every model it trains.
* ``tuners``: one factory for the four KerasTuner tuners, each extended with the dashboard's
  hooks.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "callbacks": ("TrialLogCallback",),
    "checkpoints": ("BestWeights", "patch_save_best_epoch", "save_weights", "weights_bytes"),
    "cost": ("COST_EVENT", "TrialCost", "measure", "measure_trial", "multiply_adds"),
    "diskneeds": ("DiskNeed", "check_retrain", "check_search", "largest_parameters",
                  "search_needs"),
    "hypermodel": ("CNNHyperModel", "OPTIMIZER_FACTORIES", "fit_options"),
    "lifecycle": ("build_hypermodel", "load_or_make_split", "prepare_data", "run_search",
                  "search_lifecycle", "search_with_frozen_gc"),
    "precision": ("MIXED", "Precision", "training_policy"),
    "tfmemory": (),
    "tuners": ("build_tuner",),
})
