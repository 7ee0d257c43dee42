"""Giving freed memory back to the system.

glibc keeps the heap memory a process freed (the dicts and strings of a long log's replay,
a dropped reader's columns) for its own later use instead of returning it: a server that
replayed 50,000 trials and then dropped the reader stayed about 65 MB larger than it needed
to be. :func:`give_back` asks it to return what it can (``malloc_trim``).

pandas keeps its string columns in Arrow arrays, which Arrow allocates from its own pool,
mimalloc by default: mimalloc keeps what was freed in segments of its own, which
``malloc_trim`` cannot return. :func:`arrow_on_the_c_heap` (the server calls it at start)
moves Arrow's allocations to the C library's heap, so a give-back returns theirs too: a
server's first read of a 50,000-trial run after a 1,000- and a 10,000-trial one peaked at
527 MB instead of 557-562 MB, and held 485 MB after a give-back instead of 515 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_trim: Callable[[int], int] | None = None
_looked = False


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows)."""
    global _trim, _looked
    if not _looked:
        _looked = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            trim = libc.malloc_trim
            trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
            _trim = trim
        except (OSError, AttributeError):
            _trim = None
    return _trim


def give_back(collect: bool = True) -> bool:
    """Return the process's freed heap memory to the system where the C library can (after a
    garbage collection, unless ``collect`` is False: objects in reference cycles are freed
    only then); True when it could. Never raises: it only saves memory."""
    try:
        if collect:
            gc.collect()
        trim = _malloc_trim()
        if trim is None:
            return False
        trim(0)
        return True
    except Exception:  # a saving that failed must not fail its caller
        return False


def arrow_on_the_c_heap() -> bool:
    """Arrow's allocations from now on (pandas' string columns among them) from the C
    library's heap (Arrow's ``system_memory_pool``) instead of mimalloc's; True when done.
    Buffers allocated before go back to the pool they came from. Never raises: it only saves
    memory."""
    try:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
        return True
    except Exception:  # no pyarrow, or one without the call: nothing to move
        return False


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (reference counting still frees everything else):
    for parsing many short-lived containers at once. The collector runs each time a few
    hundred containers were made and moves those still alive, a parsed slice's dicts, to
    older generations, whose full collections then walk everything the process holds: a
    fifth of a 50,000-trial log's replay. Only the caller that found it on turns it back
    on, so threads parsing at the same time leave it as they found it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
