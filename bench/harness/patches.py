"""Engine changes proposed by the benchmarks, as monkeypatches, measured before adoption.

``python -m bench --only 5 --patch NAME`` applies one in every figure process, and
``PROPOSED_PATCHES`` in ``bench/__main__.py`` reruns a figure with its pending change so
results.md shows the effect beside it. A patch is deleted here once the engine adopts it:
the first three (released gradients, frozen gc during a search, one-shot log parse) went
into ``tuning_core`` in commit 05ed039; see bench/notes.md.
"""

from __future__ import annotations

from collections.abc import Callable

PATCHES: dict[str, Callable[[], None]] = {}


def patch(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Decorator: register a patch (a function that monkeypatches the engine) as ``name``."""
    def add(apply_patch: Callable[[], None]) -> Callable[[], None]:
        PATCHES[name] = apply_patch
        return apply_patch
    return add


def apply(names: list[str]) -> None:
    """Apply the named patches; KeyError naming the known ones for an unknown name."""
    for name in names:
        if name not in PATCHES:
            raise KeyError(f"unknown patch {name!r}; known: {', '.join(PATCHES) or 'none'}")
        PATCHES[name]()
