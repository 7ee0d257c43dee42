"""Roles and data roots enforced by the engine itself (a forged request skips the pages)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tuning_core.core.errors import AccessDeniedError, PermissionDeniedError
from tuning_core.data.dataset import ImageConfig
from tuning_core.jobs.registry import JobRegistry
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import AuditAction, AuditLog, Outcome
from tuning_core.lab.permissions import Action
from tuning_core.runs.catalogue import delete_run, prune_run
from tuning_core.runs.rundir import RunDir
from tuning_core.runs.schema import RunConfig, TunerSettings
from tuning_core.space.presets import get_preset


class Blocking:
    """A stand-in search that runs until asked to stop (no training)."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def __call__(self, run_dir: Path) -> str:
        from tuning_core.core import control

        self.started.set()
        search = control.get(str(RunDir(run_dir).path))
        while not search.should_end():
            search.stop.wait(0.02)
        return "stopped"


def _actor(name: str, role: Role, tmp_path: Path, roots: list[Path]) -> Actor:
    return Actor(User(name, role), "127.0.0.1", AuditLog(tmp_path / "audit.jsonl"), roots)


def _config(data: Path) -> RunConfig:
    return RunConfig(data_dir=str(data), space=get_preset("small"), image=ImageConfig(16, "rgb"),
                     tuner=TunerSettings(tuner="random", max_trials=2, epochs=1))


def test_roles_are_checked_by_the_engine_and_audited(image_folder: Path, tmp_path: Path) -> None:
    roots = [image_folder.parent]
    alice = _actor("alice", Role.MEMBER, tmp_path, roots)
    bob = _actor("bob", Role.MEMBER, tmp_path, roots)
    viewer = _actor("vera", Role.VIEWER, tmp_path, roots)
    admin = _actor("ada", Role.ADMIN, tmp_path, roots)
    search = Blocking()
    registry = JobRegistry(tmp_path / "runs", search=search)
    with pytest.raises(PermissionDeniedError, match="member role; you are viewer vera"):
        registry.start_search(_config(image_folder), viewer)
    run = registry.start_search(_config(image_folder), alice)
    assert search.started.wait(10)
    assert RunDir(run).config().owner == "alice"
    with pytest.raises(PermissionDeniedError, match="another member's run needs the admin"):
        registry.stop(run, bob)  # no button for bob, and a forged request is refused too
    assert registry.active_run() == run
    assert registry.stop(run, admin) and registry.wait(10)
    with pytest.raises(PermissionDeniedError):
        delete_run(run, tmp_path / "runs", bob)
    with pytest.raises(PermissionDeniedError):
        prune_run(run, 1, bob)
    with pytest.raises(PermissionDeniedError):
        registry.resume(run, viewer)
    delete_run(run, tmp_path / "runs", alice)
    events = [(e.action, e.outcome, e.user) for e in alice.audit.latest(20)]
    assert (AuditAction.LAUNCH, Outcome.DENIED, "vera") in events
    assert (AuditAction.LAUNCH, Outcome.OK, "alice") in events
    assert (AuditAction.STOP, Outcome.DENIED, "bob") in events
    assert (AuditAction.STOP, Outcome.OK, "ada") in events
    assert (AuditAction.DELETE, Outcome.OK, "alice") in events


def test_a_search_reads_images_only_inside_the_data_roots(image_folder: Path,
                                                         tmp_path: Path) -> None:
    elsewhere = tmp_path / "root"
    elsewhere.mkdir()
    alice = _actor("alice", Role.MEMBER, tmp_path, [elsewhere])
    registry = JobRegistry(tmp_path / "runs", search=Blocking())
    for path in (str(image_folder), f"{elsewhere}/../images", "/etc"):
        with pytest.raises(AccessDeniedError):
            registry.start_search(_config(Path(path)), alice)
    (elsewhere / "link").symlink_to(image_folder)
    with pytest.raises(AccessDeniedError):
        registry.start_search(_config(elsewhere / "link"), alice)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_local_mode_is_nobody_and_may_everything(image_folder: Path) -> None:
    local = Actor()
    assert local.name == "" and local.data_folder(image_folder) == image_folder.resolve()
    assert all(local.may(action, owner="somebody") for action in Action)
    local.record(Action.STOP)  # no audit log in local mode: nothing to write, nothing raised


def test_a_lab_search_scans_inside_the_data_roots_only(image_folder: Path, tmp_path: Path) -> None:
    """A link inside a dataset that leads out of the roots is skipped by the job's own scan."""
    from tuning_core.search.lifecycle import load_or_make_split

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes((image_folder / "cats" / "cats_000.png").read_bytes())
    (image_folder / "cats" / "linked.png").symlink_to(secret)
    alice = _actor("alice", Role.MEMBER, tmp_path, [image_folder.resolve()])
    registry = JobRegistry(tmp_path / "runs", search=lambda run_dir: None)
    run = RunDir(registry.start_search(_config(image_folder), alice))
    assert registry.wait(10)
    assert run.config().data_roots == [str(image_folder.resolve())]
    split = load_or_make_split(run)
    files = [path for path, _ in split.train + split.val + split.test]
    assert "cats/linked.png" not in files and len(files) == 24
