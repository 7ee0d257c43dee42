"""Who is logged in, for the pages (lab mode); nobody in local mode.

The web gate already refused every request without a valid session before a page runs;
the page script re-verifies the same signed cookie (``st.context.cookies``, from the
websocket handshake) with the same code (:mod:`tuning_core.lab.sessions`), so it trusts
nothing it did not check itself. A session that ends while the page is open (logout
elsewhere, expiry, the user removed or their password changed) reads as None here.
"""

from __future__ import annotations

import streamlit as st

from tuning_core.core.errors import SessionError
from tuning_core.lab.accounts import User
from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import audit_log
from tuning_core.lab.config import lab_mode_active, load_lab_config
from tuning_core.lab.permissions import Action
from tuning_core.lab.roots import data_roots
from tuning_core.lab.sessions import COOKIE_NAME, SessionManager, session_manager

LOGIN_URL = "/_lab/login"
LOGOUT_URL = "/_lab/logout"


@st.cache_resource(show_spinner=False)
def _sessions() -> SessionManager:
    """One session manager per server process (it caches the accounts file by mtime)."""
    return session_manager(session_seconds=load_lab_config().session_seconds)


def current_user() -> User | None:
    """The logged-in user in lab mode; None in local mode or when the session is not valid."""
    if not lab_mode_active():
        return None
    return _verified(_session_cookie())


def actor() -> Actor:
    """Who is asking, for the engine: nobody in local mode; in lab mode the logged-in user,
    their address, the audit log and the data roots the server may read images from."""
    if not lab_mode_active():
        return Actor()
    # In lab mode nobody is never "everybody": without a valid session the page stops here.
    return Actor(user=require_login(), address=_address(), audit=audit_log(),
                 roots=tuple(data_roots(load_lab_config())))


def _address() -> str:
    """The client's address for the audit log (streamlit reports a loopback client as None)."""
    return st.context.ip_address or "127.0.0.1"


def _session_cookie() -> str | None:
    """The session cookie the browser sent with the websocket handshake (HttpOnly is fine:
    the server reads it, the page's JavaScript cannot)."""
    return st.context.cookies.get(COOKIE_NAME)


def _verified(token: str | None) -> User | None:
    try:
        return _sessions().verify(token)
    except SessionError:
        return None


def require_login() -> User | None:
    """``current_user()``; in lab mode without a valid session, a login link and ``st.stop()``."""
    user = current_user()
    if lab_mode_active() and user is None:
        st.warning("Your session has ended.")
        st.markdown(f'<a href="{LOGIN_URL}" target="_self">Log in again</a>',
                    unsafe_allow_html=True)
        st.stop()
    return user


def logout_button() -> None:
    """In lab mode, who is logged in and a "Log out" link (same tab); nothing in local mode.

    The link goes to ``/_lab/logout``, which revokes the session server-side, clears the
    HttpOnly cookie (a script cannot) and shows the login form.
    """
    user = current_user()
    if user is None:
        return
    st.caption(f"Logged in as **{user.name}** ({user.role.value})")
    st.markdown(f'<a href="{LOGOUT_URL}" target="_self">Log out</a>', unsafe_allow_html=True)


def admin_pages() -> list:
    """The pages only an admin sees (lab mode): the audit log and the accounts."""
    user = current_user()
    if user is None or not actor().may(Action.VIEW_AUDIT):
        return []
    return [st.Page("pages/audit.py", title="Audit log", icon=":material/policy:")]


def refused(action: Action, owner: str | None = None) -> str | None:
    """Why the current user may not do ``action`` (None when they may): a button's help."""
    who = actor()
    if who.may(action, owner):
        return None
    role = action.needed_role(who.user is not None and owner == who.user.name).value
    return f"Needs the {role} role (you are {who.user.role.value})."
