"""Network namespaces for tests that cross a real network boundary: the benchmark's lab
(``bench/harness/netns.py``, one copy for both), with "cannot be made here" turned into a skip
that says why (not root, no ``ip``, or ``ip`` refused)."""

from __future__ import annotations

import pytest

from bench.harness import netns
from bench.harness.netns import SUBNET, NetnsUnavailable

__all__ = ["SUBNET", "Lab", "skip_unless_possible"]


def skip_unless_possible() -> None:
    """Skip the test, saying why, where namespaces cannot be made here."""
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(reason)


class Lab(netns.Lab):
    """The benchmark's lab; a test skips where it cannot be made."""

    def __enter__(self) -> Lab:
        try:
            super().__enter__()
        except NetnsUnavailable as error:
            pytest.skip(str(error))
        return self
