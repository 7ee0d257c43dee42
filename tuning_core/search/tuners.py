"""One factory for the four KerasTuner tuners, each extended with the dashboard's hooks.

The hooks write the trial log, add per-trial early stopping and the stop check, turn
any crash of a trial into a counted failure (KerasTuner only counts ``FailedTrialError``
towards its limit of consecutive failures), and keep only the best checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner import errors as kt_errors
from keras_tuner.src import config as kt_config

from tuning_core.core import atomic, control, diskspace
from tuning_core.core.control import SearchHalted
from tuning_core.core.states import LogEvent, SearchEnd, TrialStatus
from tuning_core.runs import pruning
from tuning_core.runs.rundir import PROJECT_DIR, RunDir
from tuning_core.runs.schema import TunerSettings
from tuning_core.runs.triallog import TrialLogWriter
from tuning_core.search import checkpoints, tfmemory
from tuning_core.search.callbacks import TrialLogCallback
from tuning_core.search.cost import COST_EVENT, measure


@dataclass(frozen=True)
class TunerKind:
    """A member of the tuner family (its explanation is ``schema.TUNER_HELP``)."""

    build: Callable[..., kt.Tuner]
    prunes_during_search: bool = True


@dataclass
class HookConfig:
    """Plain settings the hooks need (the tuner object itself is never deep-copied)."""

    run_dir: str
    settings: TunerSettings
    trial_cap: int | None = None  # stop after this many ended trials (Hyperband's max_trials)
    worker: str = ""  # a distributed search's worker id: it logs to its own file
    on_trial: Callable[[str], None] | None = None  # told each trial's id as it starts ("" at end)
    measure_cost: bool = True  # log each completed trial's cost (tuning_core.search.cost)

    @property
    def log_path(self) -> str:
        run = RunDir(self.run_dir)
        return str(run.worker_log_path(self.worker) if self.worker else run.log_path)

    def trial_number(self, trial_id: str) -> int:
        """The trial's number: from the log; a worker numbers a new trial by its id, since
        workers starting trials at once would all take one past the highest."""
        run = RunDir(self.run_dir)
        if self.worker and str(trial_id).isdigit():
            trials = run.reader().trials()
            known = trials.loc[trials["trial_id"] == str(trial_id), "number"].dropna() \
                if not trials.empty else trials
            return int(known.iloc[0]) if len(known) else int(trial_id) + 1
        return run.trial_number(trial_id)


# The type checker sees the mixin as a tuner (its super() calls, oracle, project_dir); at run
# time it is a plain mixin that ``_hooked`` places before a tuner class.
if TYPE_CHECKING:
    from keras_tuner import Tuner as _Tuner
else:
    _Tuner = object


class DashboardHooks(_Tuner):
    """Mixin for a KerasTuner tuner: logging, stop, failure accounting, pruning."""

    hooks: HookConfig
    _execution = 0
    _trial_started = 0.0

    def pre_create_trial(self) -> None:
        super().pre_create_trial()
        search = control.get(self.hooks.run_dir)
        if search is not None and search.should_end():
            raise SearchHalted(search.reason or SearchEnd.STOPPED.value)
        cap = self.hooks.trial_cap
        if cap is not None and len(self.oracle.end_order) >= cap:
            raise SearchHalted(SearchEnd.FINISHED.value)

    def on_trial_begin(self, trial: Any) -> None:
        super().on_trial_begin(trial)
        self._execution, self._trial_started = 0, time.time()
        self._gradients_before = tfmemory.gradient_names()
        # Numbers come from the log, so a resumed search goes on counting where it stopped.
        TrialLogWriter(self.hooks.log_path).write(
            LogEvent.TRIAL_START, trial_id=trial.trial_id,
            number=self.hooks.trial_number(trial.trial_id),
            hyperparameters=active_values(trial.hyperparameters),
            worker=self.hooks.worker or None,
        )
        if self.hooks.on_trial is not None:
            self.hooks.on_trial(str(trial.trial_id))

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            results = super().run_trial(trial, *args, **kwargs)
        except (kt_errors.FatalError, kt_errors.FailedTrialError, SearchHalted):
            raise
        except Exception as error:  # any crash of one trial is that trial's failure
            if diskspace.is_disk_full(error):
                raise self._disk_full(error) from error
            raise kt_errors.FailedTrialError(f"{type(error).__name__}: {error}") from error
        _check_finite(results, self.hooks.settings.objective)
        return results

    def _disk_full(self, error: Exception) -> kt_errors.FailedTrialError:
        """The trial fails with "disk full: N MB free on ..." and the search stops after it
        (its end line says stopped, reason disk full): the next trial would fail the same."""
        full = diskspace.as_disk_full(error, self.project_dir)
        control.request_stop(self.hooks.run_dir, diskspace.REASON)
        return kt_errors.FailedTrialError(str(full))

    def _build_and_fit_model(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        # KerasTuner calls this once per execution, after deep-copying the callbacks.
        settings = self.hooks.settings
        extra = [TrialLogCallback(self.hooks.log_path, trial.trial_id, self._execution,
                                  self.hooks.run_dir), keras.callbacks.TerminateOnNaN()]
        if settings.patience:
            extra.append(keras.callbacks.EarlyStopping(
                monitor=settings.objective, mode=settings.direction, patience=settings.patience))
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + extra
        kwargs.setdefault("verbose", 0)
        self._execution += 1
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def on_trial_end(self, trial: Any) -> None:
        try:
            super().on_trial_end(trial)
        finally:
            self._log_trial_end(trial)
            tfmemory.release_gradients(getattr(self, "_gradients_before", set()))
            if self.hooks.on_trial is not None:
                self.hooks.on_trial("")
        self._log_cost(trial)
        if TUNERS[self.hooks.settings.tuner].prunes_during_search:
            pruning.prune_checkpoints(self.project_dir, self.hooks.settings.keep_top,
                                      self.hooks.settings.direction)

    def _log_trial_end(self, trial: Any) -> None:
        ended = _oracle_view(self.oracle, trial)
        status = TrialStatus.parse(str(ended.status).lower())  # "invalid" reads as failed
        search = control.get(self.hooks.run_dir)
        if status is TrialStatus.COMPLETED and search is not None and search.stop.is_set():
            status = TrialStatus.STOPPED
        if search is not None and search.reason == control.CHIEF_GONE:
            status = TrialStatus.INTERRUPTED  # the oracle never heard its end: rerun on resume
        TrialLogWriter(self.hooks.log_path).write(
            LogEvent.TRIAL_END, trial_id=trial.trial_id, status=status.value, score=ended.score,
            seconds=round(time.time() - self._trial_started, 3),
            # a worker's view from the chief carries no message (KerasTuner's proto has none)
            error=error_summary(ended.message or trial.message)
            if status is TrialStatus.FAILED else None,
        )


    def _log_cost(self, trial: Any) -> None:
        """Measure a completed trial's model, rebuilt from its hyperparameters (the cost
        does not depend on the weights), and log it; a failure is logged, never raised."""
        search = control.get(self.hooks.run_dir)
        if not self.hooks.measure_cost or (search is not None and search.should_end()) or \
                str(_oracle_view(self.oracle, trial).status) != "COMPLETED":
            return  # a stop must not wait for it: `python -m tuning_core cost` fills it later
        writer, started = TrialLogWriter(self.hooks.log_path), time.perf_counter()
        try:
            cost = measure(self.hypermodel.build(trial.hyperparameters), started=started)
        except Exception as error:  # a cost is a help, not a reason to end the search
            writer.write(COST_EVENT, trial_id=trial.trial_id,
                         error=f"{type(error).__name__}: {error}")
            return
        writer.write(COST_EVENT, trial_id=trial.trial_id, **cost.to_dict())


def _oracle_view(oracle: Any, trial: Any) -> Any:
    """The oracle's record of an ended trial (its score); a worker asks the chief for it."""
    if hasattr(oracle, "trials"):
        return oracle.trials.get(trial.trial_id, trial)
    try:
        return oracle.get_trial(trial.trial_id)
    except Exception:  # the chief is gone: log what this worker knows
        return trial


def active_values(hp: kt.HyperParameters) -> dict[str, Any]:
    """The hyperparameter values a trial actually used (inactive conditional ones left out)."""
    return {name: value for name, value in hp.values.items()
            if not name.startswith("tuner/") and hp.is_active(name)}


def error_summary(message: str | None) -> str:
    """The last meaningful line of a KerasTuner failure traceback, for people."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return "the trial failed without a message"
    last = lines[-1]
    for prefix in ("keras_tuner.src.errors.FailedTrialError: ", "FailedTrialError: "):
        last = last.removeprefix(prefix)
    return last[:500]


def _check_finite(results: Any, objective: str) -> None:
    histories = results if isinstance(results, list) else [results]
    for history in histories:
        values = getattr(history, "history", {}).get(objective) or []
        if values and not np.all(np.isfinite(values)):
            raise kt_errors.FailedTrialError(
                f"diverged: {objective} became NaN or infinite; try a lower learning rate")
        losses = getattr(history, "history", {}).get("loss") or []
        if losses and not np.isfinite(losses[-1]):
            raise kt_errors.FailedTrialError(
                "diverged: the training loss became NaN; try a lower learning rate")


def _common(settings: TunerSettings, hypermodel: kt.HyperModel, run_dir: Path) -> dict[str, Any]:
    return dict(
        hypermodel=hypermodel, objective=kt.Objective(settings.objective, settings.direction),
        executions_per_trial=settings.executions_per_trial, seed=settings.seed,
        max_consecutive_failed_trials=settings.max_consecutive_failed,
        directory=str(run_dir), project_name=PROJECT_DIR, overwrite=False,
        distribution_strategy=distribution_strategy(settings.distribution),
    )


def distribution_strategy(name: str) -> Any:
    """The tf.distribute strategy each trial trains under (None: TensorFlow's default)."""
    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()  # every visible GPU, else the one CPU device
    return None


def _hooked(base: type) -> type:
    return type(f"Dashboard{base.__name__}", (DashboardHooks, base), {})


_RANDOM, _BAYES = _hooked(kt.RandomSearch), _hooked(kt.BayesianOptimization)
_HYPERBAND, _GRID = _hooked(kt.Hyperband), _hooked(kt.GridSearch)


def _random(s: TunerSettings, hm: kt.HyperModel, run_dir: Path) -> kt.Tuner:
    return _RANDOM(max_trials=s.max_trials, **_common(s, hm, run_dir))


def _bayesian(s: TunerSettings, hm: kt.HyperModel, run_dir: Path) -> kt.Tuner:
    return _BAYES(max_trials=s.max_trials, **_common(s, hm, run_dir))


def _hyperband(s: TunerSettings, hm: kt.HyperModel, run_dir: Path) -> kt.Tuner:
    # Brackets repeat until max_trials (the cap in DashboardHooks), so max_trials means the
    # same for every tuner; one Hyperband iteration alone may be only a couple of trials.
    return _HYPERBAND(max_epochs=s.epochs, factor=s.hyperband_factor, hyperband_iterations=None,
                      **_common(s, hm, run_dir))


def _grid(s: TunerSettings, hm: kt.HyperModel, run_dir: Path) -> kt.Tuner:
    return _GRID(max_trials=s.max_trials, **_common(s, hm, run_dir))


TUNERS: dict[str, TunerKind] = {
    "random": TunerKind(_random),
    "bayesian": TunerKind(_bayesian),
    # Hyperband reloads earlier trials' checkpoints while it runs: prune only at the end.
    "hyperband": TunerKind(_hyperband, prunes_during_search=False),
    "grid": TunerKind(_grid),
}


def build_tuner(settings: TunerSettings, hypermodel: kt.HyperModel, run: RunDir,
                worker: str = "", on_trial: Callable[[str], None] | None = None) -> kt.Tuner:
    """Build (or reload, since overwrite is off) the run's tuner with the dashboard hooks.

    ``worker``: this process is a worker of a distributed search (KerasTuner reads its
    chief's address from the environment); it logs to its own file, and the chief, which
    holds the oracle, enforces Hyperband's trial cap.
    """
    atomic.patch_keras_tuner()  # a kill mid-save must leave a project that still reloads
    checkpoints.patch_save_best_epoch()  # a full disk must fail a trial, not kill the process
    kt_config.DEBUG = False  # a failed trial's traceback goes to the log, not to stderr
    tuner = TUNERS[settings.tuner].build(settings, hypermodel, run.path)
    cap = settings.max_trials if settings.tuner == "hyperband" and not worker else None
    tuner.hooks = HookConfig(run_dir=str(run.path), settings=settings, trial_cap=cap,
                             worker=worker, on_trial=on_trial)
    return tuner

