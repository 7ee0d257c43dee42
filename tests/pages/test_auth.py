"""pages/common/auth.py: nobody in local mode; in lab mode only a session it verified itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import auth
from tuning_core.lab.accounts import Role, user_store
from tuning_core.lab.config import LAB_ENV
from tuning_core.lab.sessions import session_manager

SCRIPT = """
import streamlit as st
from pages.common import auth
st.write(f"user={auth.current_user()}")
auth.logout_button()
auth.require_login()
st.write("app content")
"""


@pytest.fixture
def lab(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Lab mode on, with alice (member); returns a valid session token of hers."""
    monkeypatch.setenv(LAB_ENV, "1")
    auth._sessions.clear()
    store = user_store()
    store.add("alice", Role.MEMBER, "alice-password")
    token, _ = session_manager().issue(store.get("alice"))
    yield token
    auth._sessions.clear()


def _run() -> AppTest:
    return AppTest.from_string(SCRIPT, default_timeout=60).run()


def _texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


def test_local_mode_has_no_user_and_no_login(workspace: Path, monkeypatch) -> None:
    monkeypatch.delenv(LAB_ENV, raising=False)
    at = _run()
    assert "user=None" in _texts(at) and "app content" in _texts(at)
    assert not any("Log out" in t for t in _texts(at))


def test_lab_mode_without_a_valid_cookie_stops_the_page(lab: str, monkeypatch) -> None:
    for cookie in (None, lab + "x"):
        monkeypatch.setattr(auth, "_session_cookie", lambda cookie=cookie: cookie)
        at = _run()
        assert "user=None" in _texts(at) and "app content" not in _texts(at)
        assert at.warning[0].value == "Your session has ended."


def test_lab_mode_with_a_valid_cookie_knows_the_user(lab: str, monkeypatch) -> None:
    monkeypatch.setattr(auth, "_session_cookie", lambda: lab)
    at = _run()
    texts = _texts(at)
    assert "user=member alice" in texts and "app content" in texts
    assert any("Logged in as **alice** (member)" in t for t in texts)
    assert any('href="/_lab/logout" target="_self"' in t for t in texts)
