"""A worker of a distributed search: runs trials the chief's oracle hands it.

The worker holds its own lock in the run folder (``worker-<id>.lock``, its record says
host, device and the trial it runs), so the pages list it and the chief notices its death.
It logs to its own file (``trials-<id>.jsonl``), and stops at the next batch when the
run's stop-request file appears (the chief writes it on a stop, a spent time budget or a
failure). Before loading TensorFlow it waits for the chief with backoff, and gives up with
:class:`DistributedError` (the CLI's one line and exit code 2).

Its chief may be alive and still out of reach (the lab network cut, the shared disk not):
the worker asks the chief for the search space every ``LINK_PROBE_S``, and after
``LINK_TIMEOUT_S`` without an answer gives its trial up as it does for a dead chief (ended
at the next batch, logged interrupted, exit code 2). Its lock frees, so the chief puts the
trial back in the retry queue for another worker (an agent starts this one again), and a
late answer from the cut-off worker can no longer count the trial twice.

A full disk under the worker (its checkpoints, its cache) fails its trial as a plain
search's does ("disk full: N MB free on <filesystem>"); the worker tells the chief so on
that trial's end (gRPC metadata, ``chief.DISK_FULL_KEY``), the chief stops the whole search
with the reason disk full, and the worker ends with :class:`DiskFullError` (exit code 2 and
one line) instead of taking trial after trial that would fail the same.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tuning_core.core import control, diskspace
from tuning_core.core.control import SearchHalted
from tuning_core.core.errors import DiskFullError, DistributedError, LockHeldError
from tuning_core.core.states import SearchEnd
from tuning_core.runs.locks import FileLock, LockHolder, machine_slot, this_host
from tuning_core.runs.rundir import RunDir
from tuning_core.search import precision

CALL_TIMEOUT_S = 120.0  # a gRPC call to the chief (KerasTuner's own: an hour, #990's hang)
CHIEF_CHECK_S = 1.0
CHIEF_GRACE_S = 3.0  # the run's lock free this long: the chief is gone
LINK_PROBE_S = 5.0  # ask the chief something this often, to know the network still joins us
LINK_TIMEOUT_S = 20.0  # no answer for this long: the chief is out of reach


@dataclass(frozen=True)
class WorkerOptions:
    """Who the worker is and where its chief listens."""

    chief: str  # "host:port"
    worker: str = ""  # its tuner id ("": <host>-<k>, the first k whose lock is free)
    device: str = ""
    cpus: tuple[int, ...] = ()
    connect_timeout_s: float = 30.0
    use_slot: bool = True  # take this machine's training slot (local workers: the chief has it)


def parse_address(address: str) -> tuple[str, int]:
    """("host", port) of "host:port"; DistributedError when it is not one."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributedError(f"expected the chief as HOST:PORT (say 127.0.0.1:8470); "
                               f"got {address!r}.")
    return host.strip("[]"), int(port)


def wait_for_chief(address: str, timeout_s: float, first_wait_s: float = 0.5) -> int:
    """Wait until the chief's gRPC port answers, backing off; returns the tries it took.

    DistributedError, naming the address and how long it tried, when it never does.
    """
    import grpc

    parse_address(address)
    started, wait, tries = time.monotonic(), first_wait_s, 0
    while True:
        tries += 1
        left = timeout_s - (time.monotonic() - started)
        channel = grpc.insecure_channel(address)
        try:
            grpc.channel_ready_future(channel).result(timeout=max(0.05, min(wait, left)))
            return tries
        except grpc.FutureTimeoutError:
            pass
        finally:
            channel.close()
        if time.monotonic() - started >= timeout_s:
            raise DistributedError(
                f"cannot reach the chief at {address} after {tries} tries in {timeout_s:.0f} s; "
                "is its search running (python -m tuning_core search ... --workers)?")
        wait = min(wait * 2, 8.0)


def take_worker_lock(run: RunDir, options: WorkerOptions) -> tuple[str, FileLock]:
    """The worker's id and its held lock; LockHeldError when that id is already alive."""
    holder = LockHolder.mine("worker", target=run.name, device=options.device or _device(options))
    if options.worker:
        lock = run.worker_lock(options.worker)
        lock.acquire(holder)
        return options.worker, lock
    base = "".join(c if c.isalnum() or c in "-_" else "-" for c in this_host())[:40] or "worker"
    for k in range(64):
        lock = run.worker_lock(f"{base}-{k}")
        try:
            lock.acquire(holder)
            return f"{base}-{k}", lock
        except LockHeldError:
            continue
    raise DistributedError(f"64 workers of {run.name} on {this_host()} already run; "
                           "give this one an --id.")


def run_worker(run_dir: str | Path, options: WorkerOptions) -> str:
    """Join the run's search and run trials until the chief says it is over; returns why
    this worker ended ("finished", "stopped", ...). DistributedError when the chief cannot
    be reached or is lost, LockHeldError when this worker id (or the slot) is taken."""
    run = RunDir(run_dir)
    config = run.config()
    host, port = parse_address(options.chief)
    if options.cpus:
        os.sched_setaffinity(0, options.cpus)
    worker, lock = take_worker_lock(run, options)
    slot = machine_slot() if options.use_slot else None
    key = str(run.path)
    try:
        if slot is not None:
            slot.acquire(LockHolder.mine("worker", target=run.name))
        wait_for_chief(options.chief, options.connect_timeout_s)
        os.environ.update(KERASTUNER_TUNER_ID=worker, KERASTUNER_ORACLE_IP=host,
                          KERASTUNER_ORACLE_PORT=str(port))
        import grpc

        search = control.register(key, stop_file=str(run.stop_path))
        channel = grpc.insecure_channel(options.chief)
        from tuning_core.distributed.token import authorised_channel

        calls = authorised_channel(channel, run)  # the run's token on every call
        watch = _ChiefWatch(run, search, channel, calls)
        watch.start()
        try:
            return _search(run, config, worker, lock, search, options, calls)
        except DistributedError:
            if watch.unreachable:
                raise DistributedError(
                    f"no answer from the chief at {options.chief} for {LINK_TIMEOUT_S:.0f} s "
                    "(is the network between them down?); this worker's trial goes back to "
                    "the search for another worker.") from None
            raise
        finally:
            watch.done.set()
            channel.close()
    finally:
        control.unregister(key)
        if slot is not None:
            slot.release()
        lock.release()


def _search(run: RunDir, config, worker: str, lock: FileLock, search: control.SearchControl,
            options: WorkerOptions, channel) -> str:
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_client

    from tuning_core.distributed.chief import quiet_condition_protos
    from tuning_core.search.lifecycle import build_hypermodel, prepare_data, search_with_frozen_gc
    from tuning_core.search.tuners import build_tuner

    oracle_client.TIMEOUT = CALL_TIMEOUT_S
    quiet_condition_protos()
    if options.cpus:
        _limit_threads(len(options.cpus))
    data, _ = prepare_data(run, full_train=False, cache_dir=run.cache_dir / f"worker-{worker}")
    hypermodel = build_hypermodel(config, data.num_classes)
    tuner = build_tuner(config.tuner, hypermodel, run, worker=worker,
                        on_trial=lambda trial_id: lock.update_holder(trial=trial_id))
    # KerasTuner's client keeps no handle on its channel: talk through one the watch can close
    tuner.oracle.stub = protos.get_service_grpc().OracleStub(channel)
    full = _report_disk_full(tuner.oracle, worker)
    try:
        with precision.training_policy(precision.choose(config.tuner)):
            search_with_frozen_gc(tuner, data.training, config.tuner.epochs)
    except SearchHalted as halt:
        if halt.reason == control.CHIEF_GONE and not _search_ended(run):
            raise _gone(options) from None
        if halt.reason == diskspace.REASON:
            raise _disk_full(full, tuner.project_dir) from None
        return halt.reason
    except (grpc.RpcError, ValueError) as error:  # ValueError: the watch closed the channel
        if _search_ended(run):
            return search.reason or SearchEnd.FINISHED.value
        if search.reason == control.CHIEF_GONE:
            raise _gone(options) from None
        if not isinstance(error, grpc.RpcError):
            raise
        raise DistributedError(f"lost the chief at {options.chief} during the search "
                               f"({error.code().name}); resume the run and start the worker "
                               "again.") from error
    return SearchEnd.FINISHED.value


def _report_disk_full(client, worker: str) -> list[str]:
    """Make the oracle client's ``end_trial`` tell the chief when the trial failed because
    the disk is full (``chief.DISK_FULL_KEY``, the failure's line and this worker's id);
    returns the list those lines are kept in."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_client

    from tuning_core.distributed.chief import DISK_FULL_KEY

    said: list[str] = []
    plain = client.end_trial

    def end_trial(trial) -> None:
        full = disk_full_line(getattr(trial, "message", None))
        if not full or not client.should_report:
            return plain(trial)
        said.append(full)
        note = f"{full} (worker {worker})".encode("ascii", "replace").decode()
        client.stub.EndTrial(protos.get_service().EndTrialRequest(trial=trial.to_proto()),
                             wait_for_ready=True, timeout=oracle_client.TIMEOUT,
                             metadata=((DISK_FULL_KEY, note),))
        return None

    client.end_trial = end_trial
    return said


def disk_full_line(message: str | None) -> str | None:
    """The "disk full: ..." line of a failed trial's message (a traceback), or None."""
    for line in reversed((message or "").splitlines()):
        at = line.find("disk full: ")
        if at >= 0:
            return line[at:].strip()
    return None


def _disk_full(said: list[str], project_dir: str | Path) -> DiskFullError:
    free = diskspace.free_bytes(project_dir)
    where = str(diskspace.filesystem(project_dir))
    first = said[0] if said else f"disk full: {diskspace.megabytes(free)} free on {where}"
    return DiskFullError(f"{first}; the chief stops the search: free space there and resume "
                         "the run.", free, where)


class _ChiefWatch(threading.Thread):
    """Ends the worker's trial at its next batch once the chief is gone (its run lock is
    free: at once on this host, after the heartbeat goes stale from another), and closes
    the channel to it, so a call in flight or to come fails at once instead of waiting
    ``CALL_TIMEOUT_S``. The same once the chief has not answered for ``LINK_TIMEOUT_S``
    (``unreachable``)."""

    def __init__(self, run: RunDir, search: control.SearchControl, channel, calls) -> None:
        super().__init__(daemon=True, name="chief-watch")
        self.rundir, self.search, self.done = run, search, threading.Event()
        self.channel, self.calls = channel, calls
        self.unreachable = False

    def run(self) -> None:
        gone_since, answered, probed = None, time.monotonic(), 0.0
        while not self.done.wait(CHIEF_CHECK_S):
            now = time.monotonic()
            if now - probed >= LINK_PROBE_S:
                probed = now
                answered = time.monotonic() if self._answers() else answered
            if time.monotonic() - answered >= LINK_TIMEOUT_S and not self.done.is_set():
                self.unreachable = True
                return self._give_up()
            if self.rundir.holder() is not None:
                gone_since = None
                continue
            gone_since = gone_since or now
            if now - gone_since >= CHIEF_GRACE_S:
                return self._give_up()

    def _answers(self) -> bool:
        """True when the chief answers a cheap call (its space) within ``LINK_PROBE_S``."""
        import grpc
        from keras_tuner.src import protos

        stub = protos.get_service_grpc().OracleStub(self.calls)
        try:
            stub.GetSpace(protos.get_service().GetSpaceRequest(), timeout=LINK_PROBE_S)
            return True
        except grpc.RpcError:
            return False
        except ValueError:  # the channel is closed: the worker is ending
            return True

    def _give_up(self) -> None:
        from keras_tuner.src.distribute import oracle_client

        self.search.reason = control.CHIEF_GONE
        self.search.stop.set()
        oracle_client.TIMEOUT = 2.0
        self.channel.close()  # a call waiting on the lost chief fails now


def _gone(options: WorkerOptions) -> DistributedError:
    return DistributedError(f"the chief at {options.chief} is gone (its run lock is free); "
                            "resume the run to go on.")


def _search_ended(run: RunDir) -> bool:
    reader = run.reader()
    return reader.search_status not in (None, "running")


def _device(options: WorkerOptions) -> str:
    if options.cpus:
        return f"CPU {options.cpus[0]}" + (f"-{options.cpus[-1]}" if len(options.cpus) > 1 else "")
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return f"GPU {gpus}" if gpus.strip() and gpus.strip() != "-1" else "CPU"


def _limit_threads(count: int) -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, count))
    except RuntimeError:
        pass  # TensorFlow already started: it keeps its own thread counts
