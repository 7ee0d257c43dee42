"""Command line of lab mode: ``user add|list|remove|passwd`` and ``serve``.

A password is asked twice with getpass on a terminal; from a pipe, one line is read from
stdin (for scripts). Every account change is written to the audit log.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from tuning_core.core.errors import AccountError
from tuning_core.lab.accounts import Role, user_store
from tuning_core.lab.audit import AuditAction, audit_log

ROLES = [r.value for r in Role]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``user`` and ``serve`` commands to the main parser's subcommands."""
    user = sub.add_parser("user", help="lab accounts: add, list, remove, passwd")
    verbs = user.add_subparsers(dest="verb", required=True, parser_class=type(user))
    add = verbs.add_parser("add", help="add a user (password asked twice, or one stdin line)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    verbs.add_parser("list", help="users and their roles")
    verbs.add_parser("remove", help="remove a user (ends their sessions)").add_argument("name")
    verbs.add_parser("passwd", help="set a new password (ends their sessions)").add_argument("name")
    serve = sub.add_parser("serve", help="start the dashboard (local, or lab mode with logins)")
    serve.add_argument("--address", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--lab", action="store_true", help="listen on the network behind logins")
    serve.add_argument("--workspace", type=Path, default=argparse.SUPPRESS,
                       help="the workspace folder (default: $TUNING_WORKSPACE, else workspace/ "
                            "in a checkout or the per-user data folder when installed)")


def read_password(stream=None) -> str:
    """A new password: typed twice on a terminal, else the first line of stdin."""
    stream = stream or sys.stdin
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise AccountError("expected the same password twice; the two differ.")
        return first
    line = stream.readline()
    if not line:
        raise AccountError("expected the password as one line on stdin; got nothing.")
    return line.rstrip("\r\n")


def cmd_user(args: argparse.Namespace) -> int:
    store, log = user_store(), audit_log()
    if args.verb == "list":
        for user in store.users():
            print(f"{user.name}\t{user.role.value}")
        return 0
    if args.verb == "add":
        user = store.add(args.name, Role.parse(args.role), read_password())
        log.record(AuditAction.USER_ADD, target=f"{user.name} ({user.role.value})",
                   detail="command line")
        print(f"added {user}")
    elif args.verb == "remove":
        user = store.remove(args.name)
        log.record(AuditAction.USER_REMOVE, target=user.name, detail="command line")
        print(f"removed {user}; their sessions have ended")
    else:
        user = store.set_password(args.name, read_password())
        log.record(AuditAction.USER_PASSWD, target=user.name, detail="command line")
        print(f"new password for {user}; their other sessions have ended")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tuning_core.cli.serve import ServeOptions, serve

    serve(ServeOptions(address=args.address, port=args.port, lab=args.lab,
                       workspace=getattr(args, "workspace", None)))
    return 0  # not reached: serve replaces this process


COMMANDS = {"user": cmd_user, "serve": cmd_serve}
