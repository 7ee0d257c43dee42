"""The process's readers of trial logs: shared while asked for, bounded in what they hold."""

from __future__ import annotations

from pathlib import Path

from tuning_core.runs import readers
from tuning_core.runs.triallog import TrialLogReader, TrialLogWriter


def _log(path: Path, lines: int) -> Path:
    writer = TrialLogWriter(path)
    for i in range(lines):
        writer.write("trial_start", trial_id=str(i), number=i + 1, hyperparameters={})
    return path


def test_readers_are_shared_and_the_least_recently_asked_go_past_the_bound(tmp_path: Path,
                                                                          monkeypatch) -> None:
    now = [0.0]
    monkeypatch.setattr(readers, "_READERS", type(readers._READERS)())
    monkeypatch.setattr(readers, "_ASKED", {})
    monkeypatch.setattr(readers, "_clock", lambda: now[0])
    monkeypatch.setattr(readers, "READER_LINES", 25)

    def ask(path: Path) -> TrialLogReader:  # pages asking a few seconds apart
        now[0] += readers.READER_BUSY_S
        return readers.shared_reader(path)

    a, b, c = (_log(tmp_path / f"{n}.jsonl", 10) for n in "abc")
    first = ask(a)
    assert ask(a) is first  # one reader per log while kept
    ask(b)
    ask(a)  # a is asked again: b is now the least recent
    ask(c)  # 30 lines > 25: b goes
    assert set(readers._READERS) == {a.resolve(), c.resolve()}
    big = ask(_log(tmp_path / "big.jsonl", 40))  # larger than the bound
    assert list(readers._READERS.values()) == [big] and len(big.trials()) == 40
    readers.shared_reader(a)  # asked by the same page run just after the big one
    assert next(iter(readers._READERS.values())) is big  # kept: not replayed at every run
    assert ask(a) is not first  # replayed once when asked again
    assert list(readers._READERS) == [a.resolve()]  # the big one, not asked since, went


def test_a_reader_no_page_asked_for_in_a_while_goes_however_small(tmp_path: Path,
                                                                  monkeypatch) -> None:
    now = [0.0]
    monkeypatch.setattr(readers, "_READERS", type(readers._READERS)())
    monkeypatch.setattr(readers, "_ASKED", {})
    monkeypatch.setattr(readers, "_clock", lambda: now[0])
    watched, left = _log(tmp_path / "watched.jsonl", 3), _log(tmp_path / "left.jsonl", 3)
    readers.shared_reader(left)
    for _ in range(4):  # a page watching one run asks every few seconds
        now[0] += readers.READER_IDLE_S / 3
        readers.shared_reader(watched)
    assert list(readers.kept()) == [watched.resolve()]  # gone while the other was asked
    now[0] += readers.READER_IDLE_S + 1  # its page closed too: the reaper's look drops it
    assert readers.reap() == 1 and readers.kept() == {}


def test_what_a_dropped_reader_held_is_given_back(tmp_path: Path, monkeypatch) -> None:
    """A reap or an eviction that dropped a reader gives the memory back (outside the lock);
    one that dropped none does not spend the time."""
    now, calls = [0.0], []
    monkeypatch.setattr(readers, "_READERS", type(readers._READERS)())
    monkeypatch.setattr(readers, "_ASKED", {})
    monkeypatch.setattr(readers, "_clock", lambda: now[0])
    monkeypatch.setattr(readers, "READER_LINES", 15)
    monkeypatch.setattr(readers.memory, "give_back",
                        lambda: calls.append(readers._READERS_LOCK.locked()))
    a, b = _log(tmp_path / "a.jsonl", 10), _log(tmp_path / "b.jsonl", 10)
    readers.shared_reader(a)
    assert readers.reap() == 0 and calls == []
    now[0] += readers.READER_BUSY_S + 1
    readers.shared_reader(b)  # 20 lines > 15: a goes
    assert list(readers.kept()) == [b.resolve()] and calls == [False]
    now[0] += readers.READER_IDLE_S + 1
    assert readers.reap() == 1 and calls == [False, False]
