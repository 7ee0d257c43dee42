"""The training guard: a test that trains a Keras model must say so (``@pytest.mark.training``).

``make test-fast`` deselects the tests marked ``training`` (and ``browser``) and must not train,
so a test that trains without the mark would slow it silently. For every test without the
mark, ``tests/conftest.py`` sets :data:`ENV` to a file of the test's own; ``Model.fit``, patched
here the moment Keras defines it, then writes the test's name to that file and raises. The
test fails at its end when the file has a line, also when the raise was swallowed (a search
records a failed trial and goes on) or happened in a process the test started: every Python
started with ``tests/guard`` on ``PYTHONPATH`` loads this through ``sitecustomize``.

Standard library only: it is loaded into every Python the tests start, fresh venvs included.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any

ENV = "TUNING_TEST_UNMARKED"  # the file a forbidden fit writes to; unset: training allowed
MODULE = "keras.src.models.model"  # where keras.Model is defined


class NotMarkedTraining(RuntimeError):
    """A test without ``@pytest.mark.training`` trained a model."""


def guard(model_class: Any) -> None:
    """Patch ``model_class.fit`` (once) to refuse while :data:`ENV` names a file."""
    original = model_class.fit
    if getattr(original, "_training_guard", False):
        return

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        record = os.environ.get(ENV)
        if record:
            with Path(record).open("a") as out:
                out.write(f"Model.fit in process {os.getpid()}\n")
            raise NotMarkedTraining("this test trains a Keras model (Model.fit) but is not "
                                    "marked @pytest.mark.training")
        return original(self, *args, **kwargs)

    fit._training_guard = True  # type: ignore[attr-defined]
    model_class.fit = fit


class _Finder(importlib.abc.MetaPathFinder):
    """Finds Keras' model module as the other finders do, and guards it once executed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader, original = spec.loader, spec.loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            guard(module.Model)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Guard ``keras.Model.fit`` in this process, now or when Keras is first imported."""
    if MODULE in sys.modules:
        guard(sys.modules[MODULE].Model)
    elif not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
