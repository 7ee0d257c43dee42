"""The project's static checks as tests: ruff over the checkout and mypy over the engine, each
with its settings in pyproject.toml, so ``make test`` fails on a finding as it fails on a bug.

Both run from this interpreter's environment (the pinned versions in requirements.txt), at
the repository root, where ruff skips what .gitignore and ``extend-exclude`` leave out (the
virtualenv, the workspace, benchmark output) and mypy reads ``packages``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600  # a cold mypy cache takes about 10 s here; this is only a backstop


def _check(*command: str) -> subprocess.CompletedProcess[str]:
    """``python -m <command>`` at the repository root, its output captured."""
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)


def _shown(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed check said, for the assertion message."""
    return (f"`{' '.join(result.args[2:])}` exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}")


def test_ruff_finds_nothing() -> None:
    result = _check("ruff", "check", ".", "--output-format", "concise")
    assert result.returncode == 0 and "All checks passed!" in result.stdout, _shown(result)


def test_mypy_finds_nothing_in_the_engine() -> None:
    result = _check("mypy")
    assert result.returncode == 0 and result.stdout.startswith("Success:"), _shown(result)
