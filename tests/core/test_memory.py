"""Giving freed memory back: safe to call anywhere, at any time, from any thread."""

from __future__ import annotations

import ctypes
import threading

import pytest

from tuning_core.core import memory


def test_give_back_runs_and_says_whether_the_c_library_could() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim  # noqa: B018 - glibc has it (this machine)
        glibc = True
    except (OSError, AttributeError):
        glibc = False
    garbage = [bytes(1000) for _ in range(20_000)]  # 20 MB freed just before
    del garbage
    assert memory.give_back() is glibc and memory.give_back(collect=False) is glibc
    results: list[bool] = []  # from several threads at once (the reaper, a page's poll)
    threads = [threading.Thread(target=lambda: results.append(memory.give_back()))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [glibc] * 4


def test_give_back_is_a_quiet_no_op_without_malloc_trim(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(memory, "_looked", True)
    monkeypatch.setattr(memory, "_trim", None)  # macOS, musl, Windows
    assert memory.give_back() is False

    def broken(pad: int) -> int:
        raise OSError("no")

    monkeypatch.setattr(memory, "_trim", broken)
    assert memory.give_back() is False  # never raises: it only saves memory


def test_a_paused_collection_is_on_again_after_even_a_failure() -> None:
    import gc
    assert gc.isenabled()
    with pytest.raises(ValueError), memory.collection_paused():
        assert not gc.isenabled()
        with memory.collection_paused():  # a nested or concurrent pause leaves it off
            pass
        assert not gc.isenabled()
        raise ValueError("a damaged slice")
    assert gc.isenabled()
    gc.disable()  # one who turned it off on purpose finds it off still
    try:
        with memory.collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_arrow_allocates_from_the_c_heap_after_the_switch() -> None:
    """pandas' Arrow string columns made after the switch come from the C library's heap
    (which give_back can return), not mimalloc's pool."""
    import pandas as pd
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        if hasattr(pa, "mimalloc_memory_pool"):
            pa.set_memory_pool(pa.mimalloc_memory_pool())  # Arrow's default here
        assert memory.arrow_on_the_c_heap()
        assert pa.default_memory_pool().backend_name == "system"
        held = pa.system_memory_pool().bytes_allocated()
        column = pd.Series([f"trial {i:05d}" for i in range(20_000)], dtype="string[pyarrow]")
        assert pa.system_memory_pool().bytes_allocated() > held
        del column
    finally:
        pa.set_memory_pool(before)


def test_without_pyarrow_the_switch_is_a_quiet_no(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    assert memory.arrow_on_the_c_heap() is False
