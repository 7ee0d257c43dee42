"""Signed sessions and the login throttle."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tuning_core.core.errors import LoginError, SessionError
from tuning_core.lab.accounts import Role, ScryptParams, UserStore
from tuning_core.lab.ratelimit import LoginThrottle
from tuning_core.lab.sessions import Revocations, SessionManager, Signer, load_secret


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def manager(tmp_path: Path, clock: Clock) -> SessionManager:
    store = UserStore(tmp_path / "users.json", ScryptParams(n=2**10))
    store.add("alice", Role.MEMBER, "alice-password")
    signer = Signer(load_secret(tmp_path))
    return SessionManager(store, signer, Revocations(tmp_path / "revoked.json", clock), 3600, clock)


def test_secret_is_made_once_and_private(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert len(first) == 32 and load_secret(tmp_path) == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_a_session_verifies_until_it_expires(manager: SessionManager, clock: Clock) -> None:
    token, claims = manager.issue(manager.store.verify("alice", "alice-password"))
    assert manager.verify(token).name == "alice"
    assert claims.expires - claims.issued == 3600
    clock.now += 3599
    assert manager.verify(token).role is Role.MEMBER
    clock.now += 1
    with pytest.raises(SessionError, match="expired"):
        manager.verify(token)


def test_tampered_and_forged_tokens_are_refused(manager: SessionManager, tmp_path: Path) -> None:
    token, _ = manager.issue(manager.store.get("alice"))
    body, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["user"] = "admin"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    for bad in (f"{forged_body}.{mac}", token[:-2] + "xx", "garbage", "", None, "a.b.c"):
        with pytest.raises(SessionError):
            manager.verify(bad)
    other = Signer(b"x" * 32)
    with pytest.raises(SessionError, match="signature"):
        other.unsign(token)


def test_logout_password_change_and_removal_end_sessions(manager: SessionManager) -> None:
    account = manager.store.get("alice")
    first, _ = manager.issue(account)
    second, _ = manager.issue(account)
    manager.revoke(first)
    with pytest.raises(SessionError, match="logout"):
        manager.verify(first)
    assert manager.verify(second).name == "alice"  # only that session ended
    manager.store.set_password("alice", "new-password")
    with pytest.raises(SessionError, match="changed their password"):
        manager.verify(second)
    third, _ = manager.issue(manager.store.get("alice"))
    manager.store.remove("alice")
    with pytest.raises(SessionError, match="removed"):
        manager.verify(third)


def test_throttle_locks_user_and_address_with_a_growing_delay(clock: Clock) -> None:
    throttle = LoginThrottle(max_failures=3, window=60, base_lock=10, clock=clock)
    for _ in range(3):
        throttle.check("alice", "10.0.0.1")
        throttle.failure("alice", "10.0.0.1")
    with pytest.raises(LoginError, match="try again in 11 s") as locked:
        throttle.check("alice", "10.0.0.2")  # the user is locked from anywhere
    assert locked.value.retry_after == 10
    with pytest.raises(LoginError):
        throttle.check("bob", "10.0.0.1")  # and the address for anyone
    throttle.check("bob", "10.0.0.3")
    clock.now += 10
    throttle.check("alice", "10.0.0.1")
    for _ in range(3):
        throttle.failure("alice", "10.0.0.9")
    with pytest.raises(LoginError) as again:
        throttle.check("alice", "10.0.0.9")
    assert again.value.retry_after == 20  # the second lockout lasts twice as long


def test_throttle_forgets_old_failures_and_a_success_clears_the_user(clock: Clock) -> None:
    throttle = LoginThrottle(max_failures=2, window=60, base_lock=10, clock=clock)
    throttle.failure("alice", "a")
    clock.now += 61
    throttle.failure("alice", "b")
    throttle.check("alice", "c")  # the first failure left the window
    throttle.success("alice")
    throttle.failure("alice", "d")
    throttle.check("alice", "e")
