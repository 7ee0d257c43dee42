"""The chief of a distributed search: serves KerasTuner's oracle to workers, never trains.

KerasTuner's own chief (``oracle_chief.start_server``) blocks until every worker has
been told to stop, with no timeout and no stop check, so a worker killed mid-trial or a
stop request leaves it waiting for ever (keras-tuner #915, #645). This chief serves the
same ``OracleServicer`` on its own loop, which every ``POLL_S``:

- ends the search when the run is asked to stop or its time budget is spent: it writes
  the run's stop-request file (every worker checks it at each batch) and answers every
  further ``CreateTrial`` with KerasTuner's STOPPED;
- notices a dead worker through its lock (``worker-<id>.lock``: the OS lock on this host,
  the heartbeat across hosts). Its trial goes back to KerasTuner's retry queue once, so
  another worker (or the same one restarted: KerasTuner hands a tuner id its ongoing
  trial) reruns it: a killed process is not the trial's fault, and a plain search's
  resume reruns a trial cut off by a crash too. A trial whose worker dies a second time
  is ended as failed (it may be what kills them, say by exhausting memory);
- stops the search when a worker's disk is full (its failed trial's end carries
  ``DISK_FULL_KEY``): the next trial of any worker sharing that disk would fail the same, so
  the search ends stopped with the reason disk full and the worker's message, as a plain
  search does, instead of failing trial after trial (or a restarted worker for ever);
- gives up waiting: no live worker for ``no_worker_timeout_s`` ends the search as failed
  (resumable), and workers that do not finish their trials within ``stop_timeout_s`` of a
  stop are left behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

from tuning_core.core import atomic, control, diskspace
from tuning_core.core.errors import DistributedError
from tuning_core.core.states import LogEvent, SearchEnd, TrialStatus
from tuning_core.runs.locks import this_host
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.triallog import TrialLogWriter

CHIEF_ID = "chief"
# gRPC metadata on a worker's EndTrial: its trial failed because its disk is full (the
# message, "disk full: N MB free on <filesystem>"); KerasTuner's Trial proto has no message.
DISK_FULL_KEY = "tuning-disk-full"
POLL_S = 0.5
DEAD_GRACE_S = 2.0  # a worker's lock must be free this long: a restarted worker may take it
DRAIN_S = 10.0  # after the last trial, how long live workers have to hear "stopped"


def worker_alive(run: RunDir, worker: str) -> bool:
    """True while the worker's process holds its lock (fresh heartbeat from other hosts)."""
    return run.worker_lock(worker).holder() is not None


class Chief:
    """Serves a tuner's oracle on ``host:port`` until the search ends; see the module."""

    def __init__(self, oracle: Any, run: RunDir, search: control.SearchControl,
                 trial_cap: int | None = None, no_worker_timeout_s: float = 120.0,
                 stop_timeout_s: float = 120.0) -> None:
        self.oracle, self.run, self.search = oracle, run, search
        self.trial_cap = trial_cap
        self.no_worker_timeout_s, self.stop_timeout_s = no_worker_timeout_s, stop_timeout_s
        self.failure: str | None = None
        self.disk_full: str | None = None  # a worker's "disk full: N MB free on ..."
        self.stop_triggered = False
        self._server: Any = None
        self.access: Any = None  # the token check, once serving (distributed.token)
        self._lost: dict[str, int] = {}
        self._dead_since: dict[str, float] = {}
        self._log = TrialLogWriter(run.log_path)

    # --- serving -------------------------------------------------------------------------
    def start(self, host: str, port: int = 0, agents: int = 0) -> int:
        """Listen on ``host:port`` (0: a free port); returns the port. DistributedError
        when it cannot be bound. ``agents``: the workers it asks of the lab's agents (0: none,
        -1: every free slot), said in ``chief.json``, which the agents read."""
        import grpc
        from keras_tuner.src import protos

        from tuning_core.distributed.token import REFUSED_FILE, TokenCheck, issue_token

        quiet_condition_protos()
        self.access = TokenCheck(issue_token(self.run), self.run.path / REFUSED_FILE)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                   interceptors=[self.access])
        protos.get_service_grpc().add_OracleServicer_to_server(oracle_servicer(self), self._server)
        try:
            bound = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as error:
            bound, reason = 0, str(error)
        else:
            reason = "the port is taken"
        if not bound:
            raise DistributedError(f"cannot serve the oracle on {host}:{port}: {reason}.")
        self._server.start()
        atomic.write_json(self.run.chief_path, {"host": this_host(), "bind": host,
                                                "port": bound, "started": time.time(),
                                                "agents": agents})
        return bound

    def close(self) -> None:
        """Stop serving (calls in flight get a second to finish)."""
        if self._server is not None:
            self._server.stop(grace=1.0).wait(5.0)
            self._server = None
        self.run.chief_path.unlink(missing_ok=True)

    def ending(self) -> bool:
        """True once no new trial may start: failed, stopped, budget spent, or cap reached."""
        if self.failure is not None or self.disk_full is not None or self.search.should_end():
            return True
        return self.trial_cap is not None and len(self.oracle.end_order) >= self.trial_cap

    def fail(self, message: str) -> None:
        """End the search as failed (the oracle raised: say, too many consecutive failures)."""
        self.failure = self.failure or message

    def worker_disk_full(self, message: str) -> None:
        """Stop the search: a worker's trial failed because its disk is full."""
        self.disk_full = self.disk_full or message

    # --- waiting -------------------------------------------------------------------------
    def wait(self, alive: Callable[[], bool] = lambda: True) -> tuple[SearchEnd, str | None]:
        """Block until the search ends; returns how it ended and why, for the log.

        ``alive``: False once every local worker process has exited (a quicker end than
        the no-worker timeout when no remote worker was meant to join).
        """
        stop_asked: float | None = None
        idle_since, done_since = time.time(), None
        while True:
            time.sleep(POLL_S)
            now = time.time()
            if stop_asked is None and (self.failure or self.disk_full or
                                       self.search.should_end()):
                stop_asked = now
                self._ask_workers_to_stop(now)
            self._reap_dead(now)
            ongoing = dict(self.oracle.ongoing_trials)
            live = [w for w in self.run.worker_ids() if worker_alive(self.run, w)]
            idle_since = now if live or ongoing else idle_since
            if stop_asked is not None:
                if not ongoing or now - stop_asked > self.stop_timeout_s:
                    return self._stopped_end(ongoing)
            elif self.stop_triggered and not ongoing and not self.oracle._retry_queue:
                done_since = done_since or now
                told = not (set(self.oracle.tuner_ids) & set(live))
                if told or not alive() or now - done_since > DRAIN_S:
                    return SearchEnd.FINISHED, None
            if stop_asked is None and now - idle_since > self.no_worker_timeout_s:
                return SearchEnd.FAILED, (
                    f"no worker was alive for {self.no_worker_timeout_s:.0f} s; start one "
                    f"(python -m tuning_core worker {self.run.path} --chief HOST:PORT) after "
                    "resuming the run.")
            if stop_asked is None and not live and not ongoing and not alive() \
                    and now - idle_since > DEAD_GRACE_S:
                return SearchEnd.FAILED, (
                    "every local worker exited before the search ended; their output is in "
                    f"{self.run.path}/worker-*.out.")

    def _ask_workers_to_stop(self, now: float) -> None:
        """The run's stop-request file, every worker's batch check. A full disk may refuse
        even that: workers then hear STOPPED at their next CreateTrial."""
        try:
            atomic.write_text(self.run.stop_path, str(now))
        except OSError as error:
            if not diskspace.is_disk_full(error):
                raise

    def _stopped_end(self, ongoing: dict) -> tuple[SearchEnd, str | None]:
        if self.failure:
            return SearchEnd.FAILED, self.failure
        if self.disk_full:
            return SearchEnd.STOPPED, self.disk_full
        late = f"{len(ongoing)} worker(s) did not end their trial within " \
               f"{self.stop_timeout_s:.0f} s of the stop." if ongoing else None
        return SearchEnd.parse(self.search.reason or SearchEnd.STOPPED.value), late

    def _reap_dead(self, now: float) -> None:
        for worker, trial in list(self.oracle.ongoing_trials.items()):
            if worker_alive(self.run, worker):
                self._dead_since.pop(worker, None)
            elif now - self._dead_since.setdefault(worker, now) >= DEAD_GRACE_S:
                self._dead_since.pop(worker, None)
                self._lose(worker, trial)

    def _lose(self, worker: str, trial: Any) -> None:
        trial_id = str(trial.trial_id)
        self._lost[trial_id] = self._lost.get(trial_id, 0) + 1
        requeue = self._lost[trial_id] == 1 and self.failure is None
        if requeue:  # logged first: the worker that reruns it logs its start after this
            self._log.write(LogEvent.TRIAL_LOST, trial_id=trial_id, worker=worker, requeued=True)
        try:
            _drop_trial(self.oracle, worker, trial, requeue)
        except Exception as error:  # the oracle's own limit of consecutive failures
            self.fail(_oracle_error(error))
        if not requeue:
            self._log.write(LogEvent.TRIAL_END, trial_id=trial_id, status=TrialStatus.FAILED.value,
                            score=None, seconds=None, worker=worker,
                            error=f"its worker ({worker}) died during it, twice")


def _drop_trial(oracle: Any, worker: str, trial: Any, requeue: bool) -> None:
    from keras_tuner.src.engine import oracle as oracle_module
    from keras_tuner.src.engine import trial as trial_module

    @oracle_module.synchronized
    def requeue_trial(oracle: Any) -> None:
        # What KerasTuner's Oracle.reload does with a dead chief's ongoing trials.
        oracle.ongoing_trials.pop(worker, None)
        oracle.tuner_ids.discard(worker)
        oracle._retry_queue.append(trial.trial_id)
        oracle.save()

    if requeue:
        return unlocking(oracle, requeue_trial, oracle)
    oracle.tuner_ids.discard(worker)
    trial.status = trial_module.TrialStatus.FAILED
    trial.message = f"its worker ({worker}) died during it, twice"
    unlocking(oracle, oracle.end_trial, trial)
    oracle.ongoing_trials.pop(worker, None)
    unlocking(oracle, _save_oracle, oracle)


def _save_oracle(oracle: Any) -> None:
    """Save the oracle once its ended trial is off ``ongoing_trials``.

    ``Oracle.end_trial`` saves before it drops the trial from ``ongoing_trials``; a plain
    tuner saves again right after, a chief does not, so a resume would rerun the last
    trial each worker ended.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    oracle_module.synchronized(lambda oracle: oracle.save())(oracle)


def unlocking(oracle: Any, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)``, repairing KerasTuner's oracle lock when it raises.

    ``keras_tuner.synchronized`` does not release the oracle's lock when the method raises
    (as ``end_trial`` does past the limit of consecutive failures): every later call of
    every worker would then wait for ever.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    try:
        return call(*args)
    except BaseException:
        if oracle_module.THREADS[oracle] == threading.current_thread().name:
            oracle_module.THREADS[oracle] = None
            oracle_module.LOCKS[oracle].release()
        raise


def _oracle_error(error: Exception) -> str:
    text = str(error).strip()
    first, _, rest = text.partition("\n")
    last = [line for line in rest.splitlines() if line.strip()]
    return f"{first} Last error: {last[-1].strip()}" if last else first


def quiet_condition_protos() -> None:
    """Drop the stray ``print`` in KerasTuner 1.4's ``conditions.Parent.to_proto``.

    Every trial sent over gRPC printed each condition's first value (a bare "1" or "2"
    line per conditional hyperparameter) to the chief's and workers' stdout.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.engine import conditions

    if getattr(conditions.Parent.to_proto, "_quiet", False):
        return

    def to_proto(self: Any) -> Any:
        proto = protos.get_proto()
        first = self.values[0]
        kind = ("string_value" if isinstance(first, str) else "boolean_value"
                if isinstance(first, bool) else "int_value" if isinstance(first, int)
                else "float_value")
        values = [proto.Value(**{kind: v}) for v in self.values]
        return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))

    to_proto._quiet = True  # type: ignore[attr-defined]
    conditions.Parent.to_proto = to_proto


def oracle_servicer(chief: Chief) -> Any:
    """The gRPC servicer a chief serves its oracle with (public: the tests drive it directly)."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import trial as trial_module

    service = protos.get_service()

    class Servicer(oracle_chief.OracleServicer):
        """KerasTuner's servicer, answering STOPPED once the search ends and never leaving
        the oracle's lock held after an error."""

        def CreateTrial(self, request: Any, context: Any) -> Any:
            if chief.ending():
                chief.stop_triggered = True  # Hyperband's cap: the search is done
                chief.oracle.tuner_ids.discard(request.tuner_id)
                stopped = trial_module.Trial(chief.oracle.get_space(),
                                             status=trial_module.TrialStatus.STOPPED)
                return service.CreateTrialResponse(trial=stopped.to_proto())
            response = unlocking(chief.oracle, super().CreateTrial, request, context)
            if self.stop_triggered:
                chief.stop_triggered = True
            return response

        def EndTrial(self, request: Any, context: Any) -> Any:
            full = dict(context.invocation_metadata() or ()).get(DISK_FULL_KEY)
            if full:  # before the oracle hears it: no worker gets a next trial now
                chief.worker_disk_full(str(full))
            try:
                response = unlocking(chief.oracle, super().EndTrial, request, context)
                unlocking(chief.oracle, _save_oracle, chief.oracle)
                return response
            except Exception as error:  # the oracle's verdict on the search, not a worker's
                trial_id = request.trial.trial_id
                for worker, trial in list(chief.oracle.ongoing_trials.items()):
                    if trial.trial_id == trial_id:
                        chief.oracle.ongoing_trials.pop(worker, None)
                chief.fail(_oracle_error(error))
                return service.EndTrialResponse()

        def UpdateTrial(self, request: Any, context: Any) -> Any:
            return unlocking(chief.oracle, super().UpdateTrial, request, context)

    return Servicer(chief.oracle)
