"""Signed session tokens of lab mode, their verification and their revocation.

A token is ``base64url(JSON claims) "." base64url(HMAC-SHA256(secret, claims))``. The secret
is 32 random bytes in ``<workspace>/lab/secret.key`` (mode 0600), made on first use. A token
is accepted only when its signature matches, it has not expired, its session id was not
revoked (logout), its user still exists and its stamp equals the user's current stamp (a
password change renews the stamp). The web gate and the page scripts verify with this same
code, so nothing either side reads is trusted unverified.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tuning_core.core import atomic
from tuning_core.core.errors import LabConfigError, SessionError
from tuning_core.lab.accounts import Account, User, UserStore, user_store
from tuning_core.lab.files import PRIVATE, FileCache, lab_dir, locked, read_json, write_json

SECRET_BYTES = 32
COOKIE_NAME = "tuning_lab_session"  # the session cookie, read by the web gate and by the pages
Clock = Callable[[], float]


def load_secret(folder: Path) -> bytes:
    """The signing secret in ``folder/secret.key``, created (0600) on first use.

    It is written to a temporary file and hard-linked into place, so a second process
    racing to create it never reads half a key: the link fails and it reads the winner's.
    """
    path = folder / "secret.key"
    if not path.exists():
        fd, temp = tempfile.mkstemp(prefix=".secret.", dir=folder)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES))
            os.fsync(fd)
            os.close(fd)
            os.chmod(temp, PRIVATE)
            os.link(temp, path)
            atomic.fsync_dir(folder)  # the name on disk too, before any token is signed
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    data = path.read_bytes()
    if len(data) < SECRET_BYTES:
        raise LabConfigError(f"expected {SECRET_BYTES} bytes in {path}; got {len(data)}.")
    return data


@dataclass(frozen=True)
class SessionClaims:
    """What a token says: user, issued-at and expiry (epoch seconds), session id, stamp."""

    user: str
    issued: float
    expires: float
    sid: str
    stamp: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SessionClaims:
        return cls(str(data["user"]), float(data["issued"]),  # type: ignore[arg-type]
                   float(data["expires"]), str(data["sid"]),  # type: ignore[arg-type]
                   str(data["stamp"]))


class Signer:
    """HMAC-SHA256 signing of small JSON payloads with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def mac(self, data: bytes) -> bytes:
        """The HMAC-SHA256 of ``data``."""
        return hmac.new(self._secret, data, hashlib.sha256).digest()

    def sign(self, claims: SessionClaims) -> str:
        """A token carrying ``claims``."""
        body = json.dumps(claims.to_dict(), separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(body)}.{_b64(self.mac(body))}"

    def unsign(self, token: str) -> SessionClaims:
        """The claims of a token whose signature is right; SessionError otherwise."""
        try:
            body_text, mac_text = token.split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (ValueError, AttributeError):
            raise SessionError("expected a session token 'claims.signature'; "
                               "got something else.") from None
        if not hmac.compare_digest(self.mac(body), mac):
            raise SessionError("the session token's signature does not match; it was altered.")
        try:
            return SessionClaims.from_dict(json.loads(body))
        except (ValueError, KeyError, TypeError):
            raise SessionError("the session token's claims are not the expected fields.") from None


class Revocations:
    """Session ids ended by logout, kept until they would have expired anyway."""

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        self.path = path
        self.clock = clock
        self._cache: FileCache[dict[str, float]] = FileCache(
            path, lambda: dict(read_json(path, {})), {})

    def revoked(self, sid: str) -> bool:
        """True when ``sid`` was revoked."""
        return sid in self._current()

    def revoke(self, sid: str, expires: float) -> None:
        """Revoke ``sid``; expired entries are dropped as the file is rewritten."""
        with locked(self.path):
            now = self.clock()
            kept = {k: v for k, v in read_json(self.path, {}).items() if v > now}
            kept[sid] = expires
            write_json(self.path, kept)

    def _current(self) -> dict[str, float]:
        return self._cache.get()


class SessionManager:
    """Issues, verifies and revokes sessions of the users in one UserStore."""

    def __init__(self, store: UserStore, signer: Signer, revocations: Revocations,
                 session_seconds: int = 12 * 3600, clock: Clock = time.time) -> None:
        self.store = store
        self.signer = signer
        self.revocations = revocations
        self.session_seconds = session_seconds
        self.clock = clock

    def issue(self, account: Account) -> tuple[str, SessionClaims]:
        """A new token for a user who just proved their password, and its claims."""
        now = self.clock()
        claims = SessionClaims(account.user.name, now, now + self.session_seconds,
                               secrets.token_urlsafe(12), account.stamp)
        return self.signer.sign(claims), claims

    def verify(self, token: str | None) -> User:
        """The user of a valid token; SessionError says why it is not valid."""
        if not token:
            raise SessionError("no session: log in first.")
        claims = self.signer.unsign(token)
        if self.clock() >= claims.expires:
            raise SessionError(f"the session of {claims.user} expired; log in again.")
        if self.revocations.revoked(claims.sid):
            raise SessionError(f"the session of {claims.user} was ended by logout.")
        account = self.store.get(claims.user)
        if account is None or not hmac.compare_digest(account.stamp, claims.stamp):
            raise SessionError(f"the session of {claims.user} ended: the user was removed "
                               "or changed their password.")
        return account.user

    def revoke(self, token: str | None) -> SessionClaims | None:
        """End the session of a validly signed token; its claims, or None if it was not one."""
        try:
            claims = self.signer.unsign(token or "")
        except SessionError:
            return None
        self.revocations.revoke(claims.sid, claims.expires)
        return claims


def session_manager(workspace: Path | None = None, session_seconds: int = 12 * 3600,
                    clock: Clock = time.time) -> SessionManager:
    """The session manager of a workspace's lab folder (secret, users, revocations)."""
    folder = lab_dir(workspace)
    return SessionManager(user_store(workspace), Signer(load_secret(folder)),
                          Revocations(folder / "revoked.json", clock), session_seconds, clock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
