"""The trial log's checkpoint (issue 29): a fresh reader that starts from it holds exactly
what a full replay of the log holds, and anything doubtful about it means a replay."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.workloads.labyear import Shape, make_workspace
from tests.disks import Mount, fill
from tuning_core.core import diskspace
from tuning_core.runs import logcheckpoint, triallog
from tuning_core.runs.layout import LOG_FILE, WORKER_LOG
from tuning_core.runs.triallog import TrialLogReader, TrialLogWriter


@pytest.fixture(autouse=True)
def few_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint every 10 events, not 10,000 (then up to 50,000): the logs here are small."""
    monkeypatch.setattr(triallog, "CHECKPOINT_LINES", 10)
    monkeypatch.setattr(triallog, "CHECKPOINT_MAX_LINES", 10)


def test_checkpoints_come_less_often_as_a_log_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first after CHECKPOINT_LINES events, then once half as many again as held were
    read, never more than CHECKPOINT_MAX_LINES apart; a 634,000-line log (50,000 trials of
    10 epochs) read as it grows saves 16 times (13 at a fixed 50,000), a finished one once."""
    monkeypatch.setattr(triallog, "CHECKPOINT_LINES", 10_000)
    monkeypatch.setattr(triallog, "CHECKPOINT_MAX_LINES", 50_000)
    due = triallog.checkpoint_due
    assert not due(9_999, 9_999) and due(10_000, 10_000)
    assert not due(9_999, 29_999) and due(10_000, 30_000)  # 20,000 held before: every 10,000
    assert not due(14_999, 44_999) and due(15_000, 45_000)  # 30,000 before: half of it
    assert not due(49_999, 549_999) and due(50_000, 550_000)  # capped
    assert due(634_000, 634_000)
    held, saves = 0, 0
    unsaved = 0
    for _ in range(0, 634_000, 500):  # polls of 500 lines as the search writes them
        held += 500
        unsaved += 500
        if due(unsaved, held):
            saves, unsaved = saves + 1, 0
    assert saves == 16


def replayed(path: Path) -> TrialLogReader:
    """A reader that replayed the whole log (no checkpoint read, none written)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logcheckpoint, "load", lambda log: None)
        patch.setattr(triallog, "CHECKPOINT_LINES", 10**12)
        reader = TrialLogReader(path)
        reader.poll()
    return reader


def assert_same(reader: TrialLogReader, path: Path) -> None:
    """Everything ``reader`` exposes equals what a full replay of ``path`` gives."""
    full = replayed(path)
    pd.testing.assert_frame_equal(reader.trials(), full.trials())
    pd.testing.assert_frame_equal(reader.epochs(), full.epochs())
    assert reader.search_status == full.search_status
    assert (reader.last_start, reader.last_end) == (full.last_start, full.last_end)
    assert reader.unknown == full.unknown
    assert (reader.size, reader.version) == (full.size, full.version)
    assert reader.events() == full.events()


def restored(path: Path) -> TrialLogReader:
    """A fresh reader of ``path`` that started from its checkpoint (asserted)."""
    state = logcheckpoint.load(path)
    assert state is not None, "the checkpoint should fit the log"
    reader = TrialLogReader(path, WORKER_LOG.format("*"))  # as a run's pages read it
    assert reader.poll() is True
    assert reader.size >= state.count and reader.version[1] >= state.offset
    return reader


def checkpointed(path: Path) -> TrialLogReader:
    reader = TrialLogReader(path)
    reader.poll()
    assert logcheckpoint.path_for(path).is_file()
    return reader


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small runs and a 300-trial sweep as the bench's lab makes them: failed and stopped
    trials, costs, a run that never ended."""
    root = tmp_path_factory.mktemp("lab")
    sweeps = make_workspace(root, Shape(runs=2, sweeps=(300,), epochs=4))
    runs = sorted(p for p in (root / "runs").iterdir() if p not in sweeps.values())
    return {"sweep": sweeps["sweep-300"], "small": runs[0], "other": runs[1]}


def test_a_reader_from_the_checkpoint_holds_what_a_replay_holds(
        lab: dict[str, Path], tmp_path: Path) -> None:
    for name, run in lab.items():
        log = tmp_path / name / LOG_FILE
        log.parent.mkdir()
        log.write_bytes((run / LOG_FILE).read_bytes())
        checkpointed(log)
        reader = restored(log)
        assert_same(reader, log)
        assert reader.poll() is False  # nothing new: nothing read again


def _hand_edited(path: Path) -> None:
    writer = TrialLogWriter(path)
    writer.write("search_start", tuner="random", max_trials=9)
    for number in range(6):
        trial_id = f"{number:02d}"
        writer.write("trial_start", trial_id=trial_id, number=number,
                     hyperparameters={"lr": 0.01 * number, "opt": ["adam", "sgd"][number % 2],
                                      "big": 2**70 + number,  # past int64: kept as JSON
                                      "mix": number if number % 2 else number / 3,
                                      "flag": number == 3})
        for epoch in range(3):
            metrics = {"loss": 1.0 / (epoch + 1), "val_accuracy": 0.1 * number}
            if number == 4:
                metrics["late"] = epoch  # a metric first seen halfway
            writer.write("epoch_end", trial_id=trial_id, execution=0, epoch=epoch,
                         seconds=0.5, metrics=metrics)
        if number == 2:  # killed mid-trial: retried under the same id
            writer.write("search_start", tuner="random", max_trials=9)
            writer.write("trial_start", trial_id=trial_id, number=number, hyperparameters={})
            writer.write("epoch_end", trial_id=trial_id, execution=0, epoch=0, seconds=1.0,
                         metrics={"loss": 0.3})
        writer.write("trial_end", trial_id=trial_id, status="completed", score=0.1 * number,
                     seconds=2.0, error=None)
        writer.write("trial_cost", trial_id=trial_id, params=1000 + number,
                     macs=None if number == 1 else 5000 * number,
                     model_bytes=4000, latency_ms=1.5, error=None)
    with open(path, "a") as handle:
        handle.write(json.dumps({"event": "from_the_future", "time": 5.0}) + "\n")
        handle.write('{"event": "epoch_end", "trial_id": "05", "epo\n')  # torn mid-log
        handle.write(json.dumps({"event": "epoch_end", "time": 6.0, "trial_id": "05",
                                 "epoch": "three", "metrics": {"loss": "n/a"}}) + "\n")
        handle.write('{"event": "trial_end", "trial_id": "05"')  # torn last line


def test_a_hand_edited_log_restores_exactly_and_reads_on(tmp_path: Path) -> None:
    """A retry, an unknown event, torn lines and columns of strings (lists, not floats) come
    back as a replay has them; the torn last line is read once its end comes."""
    log = tmp_path / LOG_FILE
    _hand_edited(log)
    checkpointed(log)
    reader = restored(log)
    assert reader.unknown == {"from_the_future": 1}
    assert reader.epochs()["loss"].dtype == object  # the string made it a list column
    assert_same(reader, log)
    with open(log, "a") as handle:  # the torn line's end, then more
        handle.write(', "status": "failed", "time": 7.0}\n')
    TrialLogWriter(log).write("search_end", status="stopped")
    assert reader.poll() is True
    assert reader.trials().set_index("trial_id").loc["05", "status"] == "failed"
    assert_same(reader, log)


def test_lines_appended_after_the_checkpoint_are_read_and_checkpointed(
        lab: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / LOG_FILE
    text = (lab["sweep"] / LOG_FILE).read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(text[:len(text) // 2]))
    first = checkpointed(log)
    reader = restored(log)
    with open(log, "ab") as handle:
        handle.write(b"".join(text[len(text) // 2:]))
    assert reader.poll() is True
    assert_same(reader, log)
    assert first.poll() is True  # the reader that wrote the first one goes on too
    assert logcheckpoint.load(log).offset == log.stat().st_size  # type: ignore[union-attr]
    assert_same(restored(log), log)  # the newer checkpoint: the whole log


def test_a_replaced_or_changed_log_is_replayed(lab: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / LOG_FILE
    data = (lab["sweep"] / LOG_FILE).read_bytes()
    log.write_bytes(data)
    checkpointed(log)
    offset = len(data)
    changed = data.replace(b'"status": "completed"', b'"status": "failed"\x20\x20\x20', 1)
    assert len(changed) == offset and changed != data
    # another file of the same size under the name (a new inode), then a larger one
    for other in (changed, changed + data[:200] + b"\n"):
        fresh = tmp_path / "fresh"
        fresh.write_bytes(other)
        os.replace(fresh, log)
        assert logcheckpoint.load(log) is None
        reader = TrialLogReader(log)
        assert reader.poll() is True
        assert_same(reader, log)
    # the same file written over in place near its end: its inode kept, its bytes not
    log.write_bytes(data)
    checkpointed(log)
    with open(log, "r+b") as handle:
        handle.seek(offset - 100)
        handle.write(b"x")
    assert logcheckpoint.load(log) is None
    reader = TrialLogReader(log)
    reader.poll()
    assert_same(reader, log)
    log.write_bytes(data[:offset // 2])  # cut short: its checkpoint is past its end
    assert logcheckpoint.load(log) is None


@pytest.mark.parametrize("damage", ["cut", "garbage", "version", "missing", "empty"])
def test_a_damaged_checkpoint_means_a_replay(lab: dict[str, Path], tmp_path: Path,
                                             damage: str) -> None:
    log = tmp_path / LOG_FILE
    log.write_bytes((lab["sweep"] / LOG_FILE).read_bytes())
    checkpointed(log)
    kept = logcheckpoint.path_for(log)
    data = kept.read_bytes()
    if damage == "cut":
        kept.write_bytes(data[:len(data) // 2])
    elif damage == "garbage":
        kept.write_bytes(data[:100] + bytes(range(256)) * 8 + data[2148:])
    elif damage in ("version", "missing"):
        with np.load(kept, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if damage == "version":
            arrays["version"] = np.array(logcheckpoint.FORMAT_VERSION + 1)
        else:
            del arrays["codes"]
        with open(kept, "wb") as handle:
            np.savez(handle, **arrays)
    else:
        kept.write_bytes(b"")
    assert logcheckpoint.load(log) is None
    reader = TrialLogReader(log)
    assert reader.poll() is True
    assert_same(reader, log)


def test_a_checkpoint_holds_no_pickle(lab: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / LOG_FILE
    log.write_bytes((lab["sweep"] / LOG_FILE).read_bytes())
    checkpointed(log)
    with zipfile.ZipFile(logcheckpoint.path_for(log)) as archive:
        names = archive.namelist()
    assert {"version.npy", "codes.npy", "meta.npy"} <= set(names)
    with np.load(logcheckpoint.path_for(log), allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)


def test_a_full_or_read_only_disk_skips_the_checkpoint_quietly(
        lab: dict[str, Path], small_disk: Mount, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (lab["sweep"] / LOG_FILE).read_bytes()
    roomy = small_disk("4m")  # room for it, but not for it and what must stay free
    log = roomy / LOG_FILE
    log.write_bytes(data)
    monkeypatch.setattr(logcheckpoint, "KEEP_FREE_BYTES", diskspace.free_bytes(roomy) - 2000)
    checked = TrialLogReader(log)
    assert checked.poll() is True
    assert [p.name for p in roomy.iterdir()] == [LOG_FILE]
    monkeypatch.setattr(logcheckpoint, "KEEP_FREE_BYTES", 1 << 20)
    checkpointed(log)
    monkeypatch.setattr(logcheckpoint, "KEEP_FREE_BYTES", 0)  # the write itself fails
    full = small_disk("2m")
    log = full / LOG_FILE
    log.write_bytes(data)
    fill(full)
    reader = TrialLogReader(log)
    assert reader.poll() is True  # no error
    assert sorted(p.name for p in full.iterdir()) == ["filler", LOG_FILE]  # nothing left
    assert_same(reader, log)
    read_only = small_disk("2m")
    log = read_only / LOG_FILE
    log.write_bytes(data)
    subprocess.run(["mount", "-o", "remount,ro", str(read_only)], check=True)
    reader = TrialLogReader(log)
    assert reader.poll() is True
    assert [p.name for p in read_only.iterdir()] == [LOG_FILE]
    assert_same(reader, log)


def test_a_dead_savers_temporary_is_removed_by_the_next_save(
        lab: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / LOG_FILE
    log.write_bytes((lab["sweep"] / LOG_FILE).read_bytes())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    target = logcheckpoint.path_for(log)
    leftover = target.with_name(f"{target.name}+{socket.gethostname()}+{dead}+partial")
    leftover.write_bytes(b"half a checkpoint")
    checkpointed(log)
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name, LOG_FILE]


def test_a_distributed_searchs_logs_are_not_checkpointed(tmp_path: Path) -> None:
    """The sibling logs merge in time order a poll at a time: one stamp cannot stand for
    how their lines arrived, so a reader of several logs replays them."""
    _hand_edited(tmp_path / LOG_FILE)
    writer = TrialLogWriter(tmp_path / "trials-w1.jsonl")
    for epoch in range(50):
        writer.write("epoch_end", trial_id="w1-00", execution=0, epoch=epoch, seconds=0.1,
                     metrics={"loss": 0.5})
    reader = TrialLogReader(tmp_path / LOG_FILE, WORKER_LOG.format("*"))
    assert reader.poll() is True and reader.size > 90
    assert not logcheckpoint.path_for(tmp_path / LOG_FILE).exists()
