"""What the gate and the login routes share: config, sessions, throttle, audit log, CSRF."""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from tuning_core.core.errors import SessionError
from tuning_core.lab.accounts import User
from tuning_core.lab.audit import AuditLog, audit_log
from tuning_core.lab.config import LabConfig, load_lab_config
from tuning_core.lab.ratelimit import LoginThrottle
from tuning_core.lab.sessions import SessionManager, session_manager


@dataclass
class LabContext:
    """One per server process; built from the workspace by :meth:`from_workspace`."""

    config: LabConfig
    sessions: SessionManager
    audit: AuditLog
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def from_workspace(cls, workspace: Path | None = None) -> LabContext:
        """The lab context of ``workspace`` (default: the current workspace)."""
        config = load_lab_config(workspace)
        return cls(config, session_manager(workspace, config.session_seconds), audit_log(workspace))

    def user_of(self, token: str | None) -> User | None:
        """The user of a valid session token, else None."""
        try:
            return self.sessions.verify(token)
        except SessionError:
            return None

    def host_allowed(self, host_header: str | None) -> bool:
        """True when the Host header names an allowed host (any, when none are listed)."""
        if not self.config.allowed_hosts:
            return True
        host = _host_name(host_header or "")
        return any(_host_matches(host, pattern.lower()) for pattern in self.config.allowed_hosts)

    def new_csrf(self) -> tuple[str, str]:
        """A fresh (cookie value, form token) pair; the token is the cookie's HMAC."""
        cookie = secrets.token_urlsafe(24)
        return cookie, self._csrf_token(cookie)

    def csrf_ok(self, cookie: str | None, token: str | None) -> bool:
        """True when the form's token belongs to the browser's CSRF cookie."""
        if not cookie or not token:
            return False
        return hmac.compare_digest(self._csrf_token(cookie), token)

    def _csrf_token(self, cookie: str) -> str:
        mac = self.sessions.signer.mac(b"csrf|" + cookie.encode())
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _host_name(header: str) -> str:
    """The host of a Host header, without its port ("[::1]:8501" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else ""
    return header.split(":", 1)[0]


def _host_matches(host: str, pattern: str) -> bool:
    if pattern == "*":
        return bool(host)
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
