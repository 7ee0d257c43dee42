"""Lab accounts: users with a role and a salted scrypt hash, kept in ``<workspace>/lab/users.json``.

The password itself is never stored: each account keeps ``scrypt(password, salt)`` with the
scrypt parameters beside it, so they can be raised later without invalidating old hashes
(:meth:`PasswordHash.needs_upgrade`). Comparisons use ``hmac.compare_digest``. Each account
also keeps a random ``stamp``, renewed at every password change: sessions carry it, so a
password change (or removing the user) ends every session of that user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from tuning_core.core.errors import AccountError, LoginError
from tuning_core.lab.files import FileCache, lab_dir, locked, read_json, write_json

FORMAT_VERSION = 1
MIN_PASSWORD = 8
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")
WRONG_LOGIN = "the user name or the password is wrong."


class Role(Enum):
    """What a user may do, from least to most: viewer < member < admin."""

    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for member, 2 for admin."""
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        """True when this role holds every right of ``other``."""
        return self.rank >= other.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text``; AccountError names the roles when it is none."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = "|".join(r.value for r in cls)
            raise AccountError(f"expected a role {names}; got {text!r}.") from None


@dataclass(frozen=True)
class User:
    """Who is logged in: the identity pages and permission checks work with."""

    name: str
    role: Role

    def __str__(self) -> str:
        return f"{self.role.value} {self.name}"


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost: n (CPU/memory, a power of 2), r (block size), p (parallelism)."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    def maxmem(self) -> int:
        return 256 * self.n * self.r * self.p  # twice what scrypt needs: 128 * n * r * p


@dataclass(frozen=True)
class PasswordHash:
    """A salted scrypt hash with its parameters; never the password."""

    salt: bytes
    digest: bytes
    params: ScryptParams = ScryptParams()

    @classmethod
    def create(cls, password: str, params: ScryptParams = ScryptParams()) -> PasswordHash:
        """Hash ``password`` with a fresh 16-byte salt."""
        salt = secrets.token_bytes(16)
        return cls(salt, _scrypt(password, salt, params), params)

    def verify(self, password: str) -> bool:
        """True when ``password`` hashes to this digest (constant-time comparison)."""
        return hmac.compare_digest(_scrypt(password, self.salt, self.params), self.digest)

    def needs_upgrade(self, params: ScryptParams = ScryptParams()) -> bool:
        """True when this hash was made with weaker parameters than ``params``."""
        return (self.params.n, self.params.r, self.params.p) < (params.n, params.r, params.p)

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": "scrypt", "n": self.params.n, "r": self.params.r, "p": self.params.p,
                "salt": _b64(self.salt), "digest": _b64(self.digest)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PasswordHash:
        if data.get("algorithm") != "scrypt":
            raise AccountError(f"expected an scrypt password hash; got {data.get('algorithm')!r}.")
        params = ScryptParams(int(data["n"]), int(data["r"]), int(data["p"]))
        return cls(base64.b64decode(data["salt"]), base64.b64decode(data["digest"]), params)


@dataclass(frozen=True)
class Account:
    """A stored user: identity, password hash, session stamp and creation time."""

    user: User
    password: PasswordHash
    stamp: str = field(default_factory=lambda: secrets.token_hex(8))
    created: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.user.name, "role": self.user.role.value, "stamp": self.stamp,
                "created": self.created, "password": self.password.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Account:
        user = User(str(data["name"]), Role.parse(str(data["role"])))
        return cls(user, PasswordHash.from_dict(data["password"]), str(data["stamp"]),
                   float(data["created"]))


def _scrypt(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=params.n, r=params.r,
                          p=params.p, maxmem=params.maxmem(), dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_name(name: str) -> str:
    """``name`` if it is a valid user name, else AccountError saying what is expected."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise AccountError("expected a user name of 1 to 32 letters, digits, '_', '.' or '-', "
                           f"starting with a letter; got {name!r}.")
    return name


def check_password(password: str) -> str:
    """``password`` if it is long enough, else AccountError."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"expected a password of at least {MIN_PASSWORD} characters; "
                           f"got {len(password)}.")
    return password


class UserStore:
    """The accounts file; every change is locked and written atomically.

    Reads are cached while the file's modification time and size stay the same, so the
    web gate can look users up on every request.
    """

    def __init__(self, path: Path, params: ScryptParams = ScryptParams()) -> None:
        self.path = path
        self.params = params
        self._cache: FileCache[dict[str, Account]] = FileCache(path, self._load, {})
        self._dummy: PasswordHash | None = None  # hashed against for unknown users

    def accounts(self) -> dict[str, Account]:
        """Every account by name (a fresh dict; the accounts are immutable)."""
        return dict(self._cache.get())

    def _load(self) -> dict[str, Account]:
        data = read_json(self.path, {"version": FORMAT_VERSION, "users": []})
        if data.get("version") != FORMAT_VERSION:
            raise AccountError(f"expected accounts format {FORMAT_VERSION} in {self.path}; "
                               f"got {data.get('version')!r}.")
        return {a.user.name: a for a in map(Account.from_dict, data["users"])}

    def _save(self, accounts: dict[str, Account]) -> None:
        users = [a.to_dict() for a in sorted(accounts.values(), key=lambda a: a.user.name)]
        write_json(self.path, {"version": FORMAT_VERSION, "users": users})

    def users(self) -> list[User]:
        """Every user, sorted by name."""
        return [a.user for a in sorted(self.accounts().values(), key=lambda a: a.user.name)]

    def get(self, name: str) -> Account | None:
        """The account called ``name``, or None."""
        return self.accounts().get(name)

    def has_admin(self) -> bool:
        """True when at least one admin exists (lab mode refuses to start without one)."""
        return any(u.role is Role.ADMIN for u in self.users())

    def add(self, name: str, role: Role, password: str) -> User:
        """Add a user; AccountError if the name is taken or name/password are invalid."""
        user = User(check_name(name), role)
        account = Account(user, PasswordHash.create(check_password(password), self.params))
        with locked(self.path):
            accounts = self._load()
            if name in accounts:
                raise AccountError(f"user {name!r} already exists in {self.path}.")
            accounts[name] = account
            self._save(accounts)
        return user

    def remove(self, name: str) -> User:
        """Remove a user (their sessions end with it); AccountError if unknown."""
        with locked(self.path):
            accounts = self._load()
            account = self._known(accounts, name)
            del accounts[name]
            self._save(accounts)
        return account.user

    def set_password(self, name: str, password: str) -> User:
        """Set a new password and a new stamp, so the user's sessions end."""
        digest = PasswordHash.create(check_password(password), self.params)
        with locked(self.path):
            accounts = self._load()
            account = self._known(accounts, name)
            accounts[name] = replace(account, password=digest, stamp=secrets.token_hex(8))
            self._save(accounts)
        return account.user

    def verify(self, name: str, password: str) -> Account:
        """The account when ``password`` is right; LoginError (same words) for a wrong
        password or an unknown user, which also costs one hash so timing does not tell."""
        account = self.get(name)
        if account is None:
            self._dummy = self._dummy or PasswordHash.create(secrets.token_hex(8), self.params)
            self._dummy.verify(password)
            raise LoginError(WRONG_LOGIN)
        if not account.password.verify(password):
            raise LoginError(WRONG_LOGIN)
        return account

    def upgrade_hash(self, account: Account, password: str) -> bool:
        """After a right password: rehash it if its parameters are weaker than the store's.

        The stamp stays, so the user's sessions go on. True when it was rehashed.
        """
        if not account.password.needs_upgrade(self.params):
            return False
        with locked(self.path):
            accounts = self._load()
            current = accounts.get(account.user.name)
            if current is None or current.password != account.password:
                return False  # removed or changed meanwhile: leave it
            accounts[account.user.name] = replace(
                current, password=PasswordHash.create(password, self.params))
            self._save(accounts)
        return True

    def _known(self, accounts: dict[str, Account], name: str) -> Account:
        if name not in accounts:
            known = ", ".join(sorted(accounts)) or "none"
            raise AccountError(f"expected an existing user; got {name!r} (users: {known}).")
        return accounts[name]


def user_store(workspace: Path | None = None) -> UserStore:
    """The accounts of the workspace: ``<workspace>/lab/users.json``."""
    return UserStore(lab_dir(workspace) / "users.json")
