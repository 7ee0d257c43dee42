"""What every command of the command line shares: a quiet TensorFlow import and the
signals that stop a job (first Ctrl-C or SIGTERM) or abort it (the second).

The commands live in ``cli`` and its ``cli_*`` siblings; each imports these from here, so no
command module imports another's private names and ``cli`` imports its siblings, never the
reverse.
"""

from __future__ import annotations

import os
import signal
import sys


def quiet_tensorflow_import() -> None:
    """Import TensorFlow with its native start-up chatter (CUDA probes, absl) kept off stderr.

    What it printed is shown after all if the import fails.
    """
    import os
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class Signals:
    """First Ctrl-C or SIGTERM: stop at the next batch. Second: abort now (still resumable)."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> Signals:
        self._saved = {sig: signal.signal(sig, self._handle)
                       for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        if self.count:
            return  # a stop was asked: the next blow must still abort (exit 130), not crash
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        from tuning_core.core import control

        self.count += 1
        if self.count > 1:
            print("aborted; resume the run to go on", file=sys.stderr, flush=True)
            os._exit(130)  # the OS frees the run's lock; the log reads as interrupted
        print("stopping after the current batch (again to abort)...", file=sys.stderr, flush=True)
        control.request_stop_all()
