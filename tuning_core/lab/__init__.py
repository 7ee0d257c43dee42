"""Lab mode: accounts, sessions, roles and permissions, the actor, the audit log, data roots,
the lab's files and login throttling.

* ``accounts``: lab accounts: users with a role and a salted scrypt hash, kept in
  ``<workspace>/lab/users.json``.
* ``actor``: who asks for an action: the engine checks their role and records what they did.
* ``audit``: the audit log: ``<workspace>/audit.jsonl``, one JSON line per security-relevant
  event.
* ``config``: lab mode's settings: ``<workspace>/lab/config.json`` as a dataclass that round-
  trips JSON.
* ``files``: files of lab mode: the ``lab/`` folder of the workspace, atomic writes and a file
  lock.
* ``permissions``: what each role may do, checked by the engine (not only by hiding buttons).
* ``ratelimit``: failed-login throttling, per user name and per client address.
* ``roots``: data roots: in lab mode the server reads images only under these folders.
* ``sessions``: signed session tokens of lab mode, their verification and their revocation.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "accounts": ("PasswordHash", "Role", "ScryptParams", "User", "UserStore", "user_store"),
    "actor": ("Actor",),
    "audit": ("AuditAction", "AuditEvent", "AuditLog", "Outcome", "audit_log"),
    "config": ("LAB_ENV", "LabConfig", "config_path", "lab_mode_active", "load_lab_config",
               "save_lab_config"),
    "files": ("atomic_write_text", "lab_dir"),
    "permissions": ("Action", "allowed", "require"),
    "ratelimit": ("LoginThrottle",),
    "roots": ("Expect", "data_roots", "list_roots", "resolve_inside"),
    "sessions": ("COOKIE_NAME", "Revocations", "SessionClaims", "SessionManager", "Signer",
                 "load_secret", "session_manager"),
})
