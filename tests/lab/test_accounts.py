"""Lab accounts: the store, the hashes, and the ``user`` command line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuning_core.cli.lab import read_password
from tuning_core.cli.main import main
from tuning_core.core.errors import AccountError, LoginError
from tuning_core.lab import files
from tuning_core.lab.accounts import PasswordHash, Role, ScryptParams, User, UserStore, user_store
from tuning_core.lab.audit import audit_log

ROOT = Path(__file__).resolve().parents[2]
FAST = ScryptParams(n=2**10)


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path / "users.json", FAST)


def test_add_list_remove_and_passwd(store: UserStore) -> None:
    store.add("alice", Role.ADMIN, "first-password")
    store.add("bob", Role.VIEWER, "bobs-password")
    assert store.users() == [User("alice", Role.ADMIN), User("bob", Role.VIEWER)]
    assert store.has_admin()
    stamp = store.get("bob").stamp
    store.set_password("bob", "another-password")
    assert store.verify("bob", "another-password").user.name == "bob"
    assert store.get("bob").stamp != stamp  # sessions carrying the old stamp end
    with pytest.raises(LoginError, match="wrong"):
        store.verify("bob", "bobs-password")
    store.remove("alice")
    assert [u.name for u in store.users()] == ["bob"] and not store.has_admin()


def test_wrong_password_and_unknown_user_read_the_same(store: UserStore) -> None:
    store.add("alice", Role.MEMBER, "right-password")
    with pytest.raises(LoginError) as wrong:
        store.verify("alice", "wrong-password")
    with pytest.raises(LoginError) as unknown:
        store.verify("mallory", "right-password")
    assert str(wrong.value) == str(unknown.value)


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.add("alice", Role.ADMIN, "another-pass"), "already exists"),
    (lambda s: s.add("9lives", Role.ADMIN, "long-enough"), "user name"),
    (lambda s: s.add("bob", Role.ADMIN, "short"), "at least 8"),
    (lambda s: s.remove("nobody"), "existing user; got 'nobody'"),
    (lambda s: s.set_password("nobody", "long-enough"), "existing user"),
])
def test_bad_changes_say_what_was_expected(store: UserStore, call, message: str) -> None:
    store.add("alice", Role.ADMIN, "alice-password")
    with pytest.raises(AccountError, match=message):
        call(store)


def test_the_file_never_holds_the_password_and_salts_differ(store: UserStore) -> None:
    store.add("alice", Role.ADMIN, "same-password-1")
    store.add("bob", Role.MEMBER, "same-password-1")
    text = store.path.read_text()
    assert "same-password-1" not in text
    users = {u["name"]: u["password"] for u in json.loads(text)["users"]}
    assert users["alice"]["salt"] != users["bob"]["salt"]
    assert users["alice"]["digest"] != users["bob"]["digest"]
    assert users["alice"]["n"] == FAST.n  # parameters are kept per hash
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_hash_round_trips_and_knows_weaker_parameters() -> None:
    digest = PasswordHash.create("a-password", FAST)
    again = PasswordHash.from_dict(json.loads(json.dumps(digest.to_dict())))
    assert again == digest and again.verify("a-password") and not again.verify("a-passwore")
    assert digest.needs_upgrade(ScryptParams()) and not digest.needs_upgrade(FAST)


def test_a_weak_hash_is_raised_at_the_next_right_password(tmp_path: Path) -> None:
    old = UserStore(tmp_path / "users.json", FAST)
    old.add("alice", Role.MEMBER, "alice-password")
    stronger = UserStore(old.path, ScryptParams(n=2**11))
    account = stronger.verify("alice", "alice-password")
    assert stronger.upgrade_hash(account, "alice-password")
    upgraded = stronger.get("alice")
    assert upgraded.password.params.n == 2**11 and upgraded.stamp == account.stamp
    assert not stronger.upgrade_hash(upgraded, "alice-password")
    assert stronger.verify("alice", "alice-password")


def test_role_parse_and_order() -> None:
    assert Role.parse(" Admin ") is Role.ADMIN
    assert Role.ADMIN.at_least(Role.MEMBER) and not Role.VIEWER.at_least(Role.MEMBER)
    with pytest.raises(AccountError, match=r"viewer|member|admin"):
        Role.parse("root")


def test_writes_are_atomic(store: UserStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("alice", Role.ADMIN, "alice-password")
    before = store.path.read_text()

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError):
        store.add("bob", Role.MEMBER, "bobs-password")
    assert store.path.read_text() == before  # the old file is whole
    assert [p.name for p in store.path.parent.iterdir() if p.name.startswith(".users")] == []


def test_two_processes_adding_at_once_lose_nobody(tmp_path: Path) -> None:
    env = {**os.environ, "TUNING_WORKSPACE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-m", "tuning_core", "user", "add", f"user{i}",
                               "--role", "member"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(4)]
    for proc in procs:
        proc.communicate(b"a-long-password\n", timeout=60)
        assert proc.returncode == 0
    assert len(user_store(tmp_path).users()) == 4


def test_cli_user_commands_and_exit_codes(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    def run(argv: list[str], stdin: str = "") -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return main(argv)

    assert run(["user", "add", "alice", "--role", "admin"], "alice-password\n") == 0
    assert run(["user", "add", "bob", "--role", "viewer"], "bob-password\n") == 0
    capsys.readouterr()
    assert run(["user", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["alice\tadmin", "bob\tviewer"]
    assert run(["user", "passwd", "bob"], "bob-new-password\n") == 0
    assert user_store(workspace).verify("bob", "bob-new-password")
    assert run(["user", "remove", "bob"]) == 0
    add_carl = ["user", "add", "carl", "--role", "member"]
    for argv, stdin in ((["user", "remove", "bob"], ""), (add_carl, ""), (add_carl, "short\n")):
        capsys.readouterr()
        assert run(argv, stdin) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as bad_role:
        run(["user", "add", "carl", "--role", "root"])
    assert bad_role.value.code == 2
    actions = [e.action.value for e in audit_log(workspace).latest(10)]
    assert actions == ["user add", "user add", "user passwd", "user remove"]


def test_password_from_a_terminal_is_asked_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["typed-once", "typed-twice"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    with pytest.raises(AccountError, match="same password twice"):
        read_password(Tty())
    answers = iter(["same-password", "same-password"])
    assert read_password(Tty()) == "same-password"
    assert read_password(io.StringIO("from-a-pipe \n")) == "from-a-pipe "
