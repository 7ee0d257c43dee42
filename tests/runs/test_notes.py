"""Run notes: the file round-trips, limits say what broke them, only the launcher or an admin
edits (checked and audited by the engine), and the runs list filters by them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuning_core.core.errors import NotesError, PermissionDeniedError, RunError
from tuning_core.core.states import RunStatus
from tuning_core.data.dataset import ImageConfig
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import AuditAction, AuditLog, Outcome
from tuning_core.runs.catalogue import create_run, edit_notes, filter_runs, list_runs, summarize
from tuning_core.runs.notes import RunNotes, clean_tags, parse_tags
from tuning_core.runs.rundir import NOTES_FILE, RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.runs.triallog import TrialLogWriter
from tuning_core.space.presets import get_preset


def _run(runs: Path, owner: str = "", data: str = "/data/digits", name: str = "") -> Path:
    config = RunConfig(data_dir=data, space=get_preset("small"), image=ImageConfig(16, "rgb"),
                       tuner=TunerSettings(tuner="random", max_trials=2), owner=owner, name=name)
    return create_run(runs, config)


def _actor(name: str, role: Role, log: AuditLog) -> Actor:
    return Actor(User(name, role), "10.0.0.7", log)


def test_notes_round_trip_and_default_to_empty(tmp_path: Path) -> None:
    run = RunDir(_run(tmp_path, name="from run.json"))
    assert run.notes() == RunNotes() and run.display_name() == "from run.json"
    notes = RunNotes("Baseline", "first try\nwith flips", ("cnn", "small"), 12.5, "alice")
    run.write_notes(notes)
    assert RunNotes.from_dict(notes.to_dict()) == notes
    assert run.notes() == notes and run.display_name() == "Baseline"
    assert json.loads(run.file(NOTES_FILE).read_text())["schema_version"] == 1
    assert RunDir(_run(tmp_path)).display_name().endswith("-random")  # the folder name


def test_unreadable_notes_are_a_run_error_but_the_run_stays_listed(tmp_path: Path) -> None:
    run = RunDir(_run(tmp_path))
    run.file(NOTES_FILE).write_text("{broken")
    with pytest.raises(RunError, match=r"notes\.json cannot be read"):
        run.notes()
    run.file(NOTES_FILE).write_text(json.dumps({"schema_version": 7}))
    with pytest.raises(RunError, match="schema_version must be 1; got 7"):
        run.notes()
    assert [s.run for s in list_runs(tmp_path)] == [run]


@pytest.mark.parametrize("notes, message", [
    (RunNotes(name="x" * 81), "at most 80 characters; got 81"),
    (RunNotes(name="two\nlines"), "one line"),
    (RunNotes(notes="n" * 10_001), "at most 10,000 characters; got 10,001"),
    (RunNotes(tags=("ok", "no spaces")), "got 'no spaces'"),
    (RunNotes(tags=("t" * 33,)), "1 to 32 letters"),
    (RunNotes(tags=("",)), "got ''"),
    (RunNotes(tags=("café",)), "got 'café'"),
    (RunNotes(tags=tuple(f"t{i}" for i in range(21))), "at most 20 tags; got 21"),
])
def test_limits_say_what_broke_them(notes: RunNotes, message: str) -> None:
    with pytest.raises(NotesError, match=message):
        notes.validated()


def test_tags_are_lowercased_deduplicated_and_parsed_from_a_line() -> None:
    assert parse_tags(" CNN, baseline  small,,cnn ") == ["CNN", "baseline", "small", "cnn"]
    assert clean_tags(parse_tags("CNN, baseline small cnn")) == ["cnn", "baseline", "small"]
    assert clean_tags([f"t{i % 20}" for i in range(40)]) == [f"t{i}" for i in range(20)]
    assert RunNotes(name="  padded  ", tags=("A_b-1",)).validated() == RunNotes("padded",
                                                                               tags=("a_b-1",))


@pytest.mark.parametrize("role, own, may", [
    (Role.VIEWER, True, False), (Role.VIEWER, False, False),
    (Role.MEMBER, True, True), (Role.MEMBER, False, False),
    (Role.ADMIN, True, True), (Role.ADMIN, False, True),
])
def test_who_may_edit_notes(tmp_path: Path, role: Role, own: bool, may: bool) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    run = _run(tmp_path / "runs", owner="alice" if own else "bob")
    alice = _actor("alice", role, log)
    if may:
        written = edit_notes(run, "Mine", "why", ["Tag"], alice, clock=lambda: 5.0)
        assert written == RunNotes("Mine", "why", ("tag",), 5.0, "alice")
        assert RunDir(run).notes() == written
    else:
        with pytest.raises(PermissionDeniedError, match="editing the notes of"):
            edit_notes(run, "Mine", "why", ["tag"], alice)
        assert RunDir(run).notes() == RunNotes()
    event = log.latest(1)[0]
    assert event.action is AuditAction.EDIT_NOTES and event.target == run.name
    assert event.outcome is (Outcome.OK if may else Outcome.DENIED)


def test_a_forged_edit_by_another_member_is_refused_and_audited(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    run = _run(tmp_path / "runs", owner="alice")
    edit_notes(run, "Alice's", "", [], _actor("alice", Role.MEMBER, log))
    with pytest.raises(PermissionDeniedError, match=r"^editing the notes of another member's "
                       r"run needs the admin role; you are member bob\.$"):
        edit_notes(run, "Bob was here", "", [], _actor("bob", Role.MEMBER, log))
    assert RunDir(run).notes().name == "Alice's"
    assert [(e.user, e.outcome) for e in log.latest(5)] == [("alice", Outcome.OK),
                                                           ("bob", Outcome.DENIED)]


def test_bad_notes_write_nothing_and_local_mode_may_edit(tmp_path: Path) -> None:
    run = _run(tmp_path, owner="alice")
    with pytest.raises(NotesError):
        edit_notes(run, "ok", "", ["bad tag!"])
    assert not RunDir(run).file(NOTES_FILE).exists()
    assert edit_notes(run, "ok", "", []).updated_by == ""  # Actor(): local mode, nobody
    assert edit_notes(run, "ok", "", "CNN, small").tags == ("cnn", "small")


def test_summary_carries_name_tags_notes_and_dataset(tmp_path: Path) -> None:
    run = _run(tmp_path, data="/srv/data/flowers/", name="launch name")
    assert summarize(run).name == "launch name"
    edit_notes(run, "Flowers baseline", "lr too high", ["flowers"])
    info = summarize(run)
    assert (info.name, info.tags, info.notes, info.dataset) == (
        "Flowers baseline", ("flowers",), "lr too high", "flowers")


def test_filter_runs_by_every_field(tmp_path: Path) -> None:
    a = _run(tmp_path, owner="alice", data="/d/digits")
    b = _run(tmp_path, owner="bob", data="/d/flowers")
    c = _run(tmp_path, owner="", data="/d/digits")
    edit_notes(a, "Digits baseline", "Adam works", ["baseline", "cnn"])
    edit_notes(b, "Flowers", "needs more epochs", ["cnn"])
    TrialLogWriter(RunDir(c).log_path).write("search_end", status="finished")
    runs = list_runs(tmp_path)

    def names(**filters: object) -> set[str]:
        return {s.run.name for s in filter_runs(runs, **filters)}

    assert names() == {a.name, b.name, c.name}
    assert names(owner="alice") == {a.name} and names(owner="") == {c.name}
    assert names(dataset="digits") == {a.name, c.name} and names(dataset="") == names()
    assert names(tag="cnn") == {a.name, b.name} and names(tag="CNN") == {a.name, b.name}
    assert names(status=RunStatus.FINISHED) == {c.name}
    assert names(status=RunStatus.NEW, tag="cnn", owner="bob") == {b.name}
    assert names(text="adam") == {a.name} and names(text="  FLOWERS ") == {b.name}
    assert names(text=c.name[-8:]) == {c.name}  # the folder name is searched too
    assert names(text="nothing like it") == set()
