"""Only the lab's own workers talk to a search's oracle: a per-run secret on every gRPC call.

KerasTuner's oracle service has no login: anyone who reaches the chief's port could ask for
trials, end them with made-up scores or read the space. So each chief writes a fresh random
token into its run folder (``oracle.token``, readable by the account that owns the workspace
only) before it listens, and serves through :class:`TokenCheck`, a gRPC server interceptor:
a call whose metadata does not carry that token is answered UNAUTHENTICATED before KerasTuner
sees it, and is logged (``oracle-refused.log`` in the run folder, at most one line per peer
every few seconds, so a flood cannot fill the disk). A worker reads the token from the shared
run folder and adds it to every call (:class:`TokenMetadata`). Someone who can read the run
folder can already change the run, so the token guards the network, not the disk.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from tuning_core.core.errors import DistributedError
from tuning_core.runs.rundir import RunDir

METADATA_KEY = "x-tuning-oracle-token"  # gRPC metadata keys are lower case
TOKEN_FILE, REFUSED_FILE = "oracle.token", "oracle-refused.log"
LOG_EVERY_S = 5.0  # one refusal line per peer this often at most


def token_path(run: RunDir) -> Path:
    return run.path / TOKEN_FILE


def issue_token(run: RunDir) -> str:
    """A new token for this chief, written with mode 0600 (replacing any earlier one)."""
    token = secrets.token_urlsafe(32)
    path = token_path(run)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    return token


def read_token(run: RunDir) -> str:
    """The token of the run's chief; DistributedError when no chief has written one."""
    try:
        return token_path(run).read_text().strip()
    except OSError as error:
        raise DistributedError(
            f"cannot read the oracle token {token_path(run)}: {error.strerror}; a worker needs "
            "the run folder on the shared disk, written by a running chief.") from error


class TokenCheck(grpc.ServerInterceptor):
    """Refuses (UNAUTHENTICATED) and logs every call that lacks the run's token."""

    def __init__(self, token: str, log_path: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self._token = token.encode()
        self._log_path, self._clock = log_path, clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def intercept_service(self, continuation: Callable[[Any], Any],
                          handler_call_details: Any) -> Any:
        given = dict(handler_call_details.invocation_metadata or ()).get(METADATA_KEY, "")
        if isinstance(given, str) and hmac.compare_digest(given.encode(), self._token):
            return continuation(handler_call_details)
        method = handler_call_details.method

        def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
            self._record(context.peer(), method)
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "this oracle answers the run's own workers only")

        return grpc.unary_unary_rpc_method_handler(refuse)

    def _record(self, peer: str, method: str) -> None:
        now = self._clock()
        with self._lock:
            self.refused += 1
            if now - self._last.get(peer, float("-inf")) < LOG_EVERY_S:
                return
            self._last[peer] = now
            with self._log_path.open("a") as out:
                out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(now))} refused "
                          f"{method} from {peer}: no or wrong token ({self.refused} so far)\n")


class _Details(grpc.ClientCallDetails):
    def __init__(self, details: Any, metadata: list[tuple[str, str]]) -> None:
        self.method, self.timeout = details.method, details.timeout
        self.credentials, self.wait_for_ready = details.credentials, details.wait_for_ready
        self.compression, self.metadata = details.compression, metadata


class TokenMetadata(grpc.UnaryUnaryClientInterceptor):
    """Adds the run's token to every call a worker makes."""

    def __init__(self, token: str) -> None:
        self._token = token

    def intercept_unary_unary(self, continuation: Callable[[Any, Any], Any],
                              client_call_details: Any, request: Any) -> Any:
        metadata = [*(client_call_details.metadata or ()), (METADATA_KEY, self._token)]
        return continuation(_Details(client_call_details, metadata), request)


def authorised_channel(channel: grpc.Channel, run: RunDir) -> grpc.Channel:
    """``channel`` with the run's token on every call (read from the run folder now)."""
    return grpc.intercept_channel(channel, TokenMetadata(read_token(run)))
