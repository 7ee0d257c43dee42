"""The trial log: writer lines, incremental reads, half-written lines, DataFrames."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tuning_core.runs.triallog import TrialLogReader, TrialLogWriter, clean_metrics


def _write_trial(writer: TrialLogWriter, trial_id: str, number: int, epochs: int,
                 score: float) -> None:
    writer.write("trial_start", trial_id=trial_id, number=number,
                 hyperparameters={"lr": 0.01 * number})
    for epoch in range(epochs):
        writer.write("epoch_end", trial_id=trial_id, execution=0, epoch=epoch, seconds=0.5,
                     metrics={"loss": 1.0 / (epoch + 1), "val_accuracy": score})
    writer.write("trial_end", trial_id=trial_id, status="completed", score=score, seconds=2.0,
                 error=None)


def test_reader_builds_trials_and_epochs(tmp_path: Path) -> None:
    writer = TrialLogWriter(tmp_path / "trials.jsonl")
    writer.write("search_start", tuner="random", max_trials=2)
    _write_trial(writer, "00", 1, 3, 0.5)
    _write_trial(writer, "01", 2, 2, 0.7)
    writer.write("search_end", status="finished", message=None)
    reader = TrialLogReader(tmp_path / "trials.jsonl")
    assert reader.poll() is True
    trials = reader.trials()
    assert list(trials["trial_id"]) == ["00", "01"]
    assert list(trials["status"]) == ["completed", "completed"]
    assert list(trials["epochs"]) == [3, 2]
    assert trials["hp:lr"].tolist() == pytest.approx([0.01, 0.02])
    epochs = reader.epochs()
    assert len(epochs) == 5 and {"loss", "val_accuracy", "epoch", "seconds"} <= set(epochs.columns)
    assert reader.search_status == "finished"


def test_poll_reads_only_appended_bytes_and_waits_for_half_lines(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    writer = TrialLogWriter(path)
    writer.write("search_start", tuner="random", max_trials=1)
    reader = TrialLogReader(path)
    assert reader.poll() and reader.search_status == "running"
    assert reader.poll() is False  # nothing new
    half = json.dumps({"event": "trial_start", "time": 1.0, "trial_id": "00", "number": 1})
    with open(path, "a") as handle:
        handle.write(half[:20])
    assert reader.poll() is False and reader.trials().empty
    with open(path, "a") as handle:
        handle.write(half[20:] + "\n")
    assert reader.poll() is True
    assert reader.trials()["status"].tolist() == ["running"]


def test_damaged_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_text('{"event": "search_start", "time": 1}\n{not json\n')
    TrialLogWriter(path).write("search_end", status="stopped")
    reader = TrialLogReader(path)
    reader.poll()
    assert reader.search_status == "stopped"


def test_a_line_after_a_torn_one_is_never_lost(tmp_path: Path) -> None:
    """A kill mid-append leaves an epoch line cut short; the resume's next line starts afresh
    instead of gluing onto it (the pair read as one bad line: the trial's end was lost)."""
    path = tmp_path / "trials.jsonl"
    writer = TrialLogWriter(path)
    writer.write("search_start", tuner="random", max_trials=1)
    writer.write("trial_start", trial_id="00", number=1, hyperparameters={})
    watching = TrialLogReader(path)
    watching.poll()  # a page that read up to the torn line and waits for its end
    torn = json.dumps({"event": "epoch_end", "trial_id": "00", "epoch": 0, "metrics": {}})
    with open(path, "a") as handle:
        handle.write(torn[:25])
    watching.poll()
    writer.write("trial_end", trial_id="00", status="completed", score=0.9, seconds=1.0)
    for reader in (watching, TrialLogReader(path)):
        reader.poll()
        assert reader.trials()["status"].tolist() == ["completed"]
        assert reader.trials()["score"].tolist() == [0.9]
    assert path.read_text().splitlines()[2] == torn[:25]  # kept, as a line of its own


def test_running_trial_becomes_stopped_when_search_ends(tmp_path: Path) -> None:
    writer = TrialLogWriter(tmp_path / "t.jsonl")
    writer.write("trial_start", trial_id="00", number=1, hyperparameters={})
    writer.write("search_end", status="stopped")
    reader = TrialLogReader(tmp_path / "t.jsonl")
    reader.poll()
    assert reader.trials()["status"].tolist() == ["stopped"]


def test_missing_file_polls_empty(tmp_path: Path) -> None:
    reader = TrialLogReader(tmp_path / "absent.jsonl")
    assert reader.poll() is False
    assert reader.trials().empty and reader.search_status is None
    assert "trial_id" in reader.trials().columns


def test_nan_metrics_are_written_as_null(tmp_path: Path) -> None:
    assert clean_metrics({"loss": float("nan"), "accuracy": 0.5, "name": "x"}) == {
        "loss": None, "accuracy": 0.5}
    TrialLogWriter(tmp_path / "t.jsonl").write("epoch_end",
                                               metrics=clean_metrics({"loss": float("inf")}))
    assert json.loads((tmp_path / "t.jsonl").read_text())["metrics"]["loss"] is None


def test_replaced_file_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TrialLogWriter(path)
    for i in range(3):
        writer.write("trial_start", trial_id=f"0{i}", number=i + 1, hyperparameters={})
    reader = TrialLogReader(path)
    reader.poll()
    path.unlink()
    TrialLogWriter(path).write("trial_start", trial_id="09", number=1, hyperparameters={})
    reader.poll()
    assert reader.trials()["trial_id"].tolist() == ["09"]


def test_every_event_has_a_replay_and_writers_write_only_known_events(tmp_path: Path) -> None:
    from tuning_core.core.states import LogEvent
    from tuning_core.runs.triallog import REPLAY

    assert set(REPLAY) == set(LogEvent)  # a new event must say how it is replayed
    with pytest.raises(ValueError):
        TrialLogWriter(tmp_path / "t.jsonl").write("trial_ended", trial_id="0")


def test_events_without_a_table_and_unknown_ones_are_kept_and_counted(tmp_path: Path) -> None:
    """``chief_start`` changes no table but stays among the events (it was dropped from the
    reader's view of the run before it had a name); a name this version does not know (a
    newer writer) is kept and counted, never silently lost."""
    log = tmp_path / "trials.jsonl"
    writer = TrialLogWriter(log)
    writer.write("search_start", max_trials=2)
    writer.write("chief_start", port=8000, host="lab-1")
    with log.open("a") as out:
        out.write(json.dumps({"event": "trial_paused", "time": 1.0, "trial_id": "0"}) + "\n")
    reader = TrialLogReader(log)
    reader.poll()
    assert [e["event"] for e in reader.events()] == ["search_start", "chief_start",
                                                      "trial_paused"]
    assert reader.unknown == {"trial_paused": 1} and reader.search_status == "running"


def test_the_epoch_table_is_the_one_row_dicts_gave_with_a_retry_and_uneven_metrics(
        tmp_path: Path) -> None:
    lines = [  # times are floats, as the writer writes them (a number column is float64)
        {"event": "trial_start", "time": 1.5, "trial_id": "a", "number": 1},
        {"event": "epoch_end", "time": 2.5, "trial_id": "a", "execution": 0, "epoch": 0,
         "seconds": 1.5, "metrics": {"loss": 1.0, "acc": 0.5}},  # killed after this epoch
        {"event": "search_start", "time": 3},
        {"event": "trial_start", "time": 4.5, "trial_id": "a", "number": 1},  # its retry
        {"event": "epoch_end", "time": 5.5, "trial_id": "a", "execution": 0, "epoch": 0,
         "seconds": 1.5, "metrics": {"loss": None, "acc": 0.6}},
        {"event": "epoch_end", "time": 6.5, "trial_id": "a", "execution": 0, "epoch": 1,
         "seconds": 2, "metrics": {"loss": 0.5, "val_acc": 0.1}},  # a metric new here
        {"event": "epoch_end", "time": 7.5, "trial_id": "b", "epoch": 0, "metrics": {}},
    ]
    path = tmp_path / "trials.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    reader = TrialLogReader(path)
    reader.poll()
    rows = [{"trial_id": e["trial_id"], "execution": e.get("execution", 0),
             "epoch": e["epoch"], "seconds": e.get("seconds"), "time": e["time"],
             **e["metrics"]} for e in lines[4:]]
    pd.testing.assert_frame_equal(reader.epochs(), pd.DataFrame(rows))
    assert reader.events() == lines and reader.size == len(lines)


def test_a_long_replay_and_its_frames_give_their_garbage_back(tmp_path: Path,
                                                              monkeypatch) -> None:
    from tuning_core.runs import triallog
    calls: list[bool] = []
    monkeypatch.setattr(triallog, "GIVE_BACK_LINES", 5)
    monkeypatch.setattr(triallog.memory, "give_back", lambda collect: calls.append(collect))
    writer = TrialLogWriter(tmp_path / "trials.jsonl")
    _write_trial(writer, "00", 1, 1, 0.5)  # 3 lines: short, nothing given back
    reader = TrialLogReader(tmp_path / "trials.jsonl")
    reader.poll()
    reader.trials()
    assert calls == []
    _write_trial(writer, "01", 2, 4, 0.7)  # 6 lines in one poll, 9 held
    reader.poll()
    assert calls == [False]  # no garbage collection: the dicts went by reference counts
    reader.epochs()
    assert calls == [False, False]


def test_a_log_read_a_block_at_a_time_gives_what_one_read_gives(tmp_path: Path,
                                                                  monkeypatch) -> None:
    from tuning_core.runs import triallog
    writer = TrialLogWriter(tmp_path / "trials.jsonl")
    writer.write("search_start", tuner="random", max_trials=3)
    for n in range(3):
        _write_trial(writer, f"0{n}", n + 1, 4, 0.1 * n)
    whole = TrialLogReader(tmp_path / "trials.jsonl")
    whole.poll()
    with open(tmp_path / "trials.jsonl", "ab") as handle:
        handle.write(b'{"event": "epoch_end", "trial_id": "02", "ep')  # half-written
    monkeypatch.setattr(triallog, "_READ_BYTES", 64)  # every line is longer than a block
    blocks = TrialLogReader(tmp_path / "trials.jsonl")
    assert blocks.poll() is True
    pd.testing.assert_frame_equal(blocks.trials(), whole.trials())
    pd.testing.assert_frame_equal(blocks.epochs(), whole.epochs())
    assert blocks.events() == whole.events() and blocks.size == whole.size == 19
    with open(tmp_path / "trials.jsonl", "ab") as handle:  # the line's end comes
        handle.write(b'och": 4, "metrics": {"loss": 0.1}}\n')
    assert blocks.poll() is True and len(blocks.epochs()) == 13
    assert blocks.events()[-1]["metrics"] == {"loss": 0.1}
