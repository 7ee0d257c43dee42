"""A live feed's answers: JSON of named parts with hashes, an ETag, and when to build anew.

The pages that follow a run poll a feed route (``labweb/live.py``, :mod:`tuning_core.live.answers`)
once a second per viewer. An answer is a :class:`Feed`: a JSON body of named parts, each with the
hash the page compares before it touches anything, and an ETag over all of them, so an unchanged run
is a 304; a large body is gzipped once, for every viewer. :class:`FeedCache` decides when an answer
is built again: when the run's :func:`run_version` moved, at most every ``MIN_AGE_S`` however many
people watch, and at least every ``MAX_AGE_S`` for texts that follow the clock.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from tuning_core.runs.rundir import RunDir, file_stamp

MIN_AGE_S, MAX_AGE_S = 0.5, 5.0  # how long one build serves every viewer (see FeedCache)
BUILD_WAIT_S = 10.0  # how long a request waits for another's build of the same answer
GZIP_MIN = 1024  # bytes: smaller answers are sent as they are
GZIP_LEVEL = 6  # 1.4 MB (680 trials) in 17 ms, 3% larger than level 9 in 74 ms


class FeedBusy(Exception):
    """No answer yet: the first build of this feed has not finished in ``BUILD_WAIT_S``."""


@dataclass(frozen=True)
class Feed:
    """One answer of a feed route: the JSON body, its ETag, and the body gzipped once for
    every viewer (None when small). The server's own gzip layer would compress it again for
    each viewer: 74 ms per viewer and update for a run of 680 trials, at level 9."""

    body: bytes
    etag: str
    gzipped: bytes | None = None

    @property
    def gzip_etag(self) -> str:
        """The gzipped body's ETag: another representation, so another tag."""
        return self.etag[:-1] + '-gz"'


def pack(body: bytes, etag: str) -> Feed:
    """A feed answer, gzipped once here when large enough to gain from it."""
    return Feed(body, etag, gzip.compress(body, GZIP_LEVEL, mtime=0)
                if len(body) >= GZIP_MIN else None)


def digest(text: str) -> str:
    """A part's hash, as the page compares it."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def payload(run: str, active: bool, parts: dict[str, str],
            figures: dict[str, str] | None = None) -> Feed:
    """The answer for ``run``: ``parts`` (HTML by name) and ``figures`` (Plotly JSON, already
    serialised, by chart key), each as ``[hash, content]``; the ETag covers them all."""
    hashes = {name: digest(body) for name, body in parts.items()}
    pieces = [f'"run":{json.dumps(run)}', f'"active":{json.dumps(active)}',
              '"parts":{' + ",".join(f"{json.dumps(n)}:[{json.dumps(hashes[n])},{json.dumps(b)}]"
                                     for n, b in parts.items()) + "}"]
    if figures is not None:
        fig_hashes = {key: digest(spec) for key, spec in figures.items()}
        hashes.update({"fig:" + key: h for key, h in fig_hashes.items()})
        pieces.append('"figures":{' + ",".join(
            f"{json.dumps(key)}:[{json.dumps(fig_hashes[key])},{spec}]"
            for key, spec in figures.items()) + "}")
    etag = '"' + digest(json.dumps([run, active, sorted(hashes.items())])) + '"'
    return pack(("{" + ",".join(pieces) + "}").encode(), etag)


def run_version(run_dir: Path | None) -> Hashable:
    """Changes when anything a live page shows of the run may have changed: a new log line,
    the holder's record (start, heartbeat, end), a stop request. Costs a few stat calls."""
    if run_dir is None:
        return None
    run = RunDir(run_dir)
    return (run.reader().version, file_stamp(run.lock().holder_path), run.stop_requested())


class FeedCache:
    """The last answer per feed, reused while its run's version holds (up to ``MAX_AGE_S``,
    for texts that follow the clock: a late heartbeat, a budget's time left), and for at least
    ``MIN_AGE_S`` even when it changed: a search that logs ten lines a second is shown twice a
    second, and however many people watch, a run costs at most that many builds."""

    def __init__(self) -> None:
        self._items: dict[tuple, tuple[float, Hashable, Feed]] = {}
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}  # one build of a key at a time

    def _fresh(self, key: tuple, version: Hashable, now: float) -> Feed | None:
        hit = self._items.get(key)
        if hit and (now - hit[0] < MIN_AGE_S or (hit[1] == version and now - hit[0] < MAX_AGE_S)):
            return hit[2]
        return None

    def get(self, key: tuple, version: Hashable, build: Callable[[], Feed]) -> Feed:
        """The answer for ``key``, built anew when stale. The routes run in a thread pool, so
        viewers whose polls land together would each build the same answer (ten builds of
        ~20-90 ms that take turns on the GIL, and every one of them waits); instead one builds
        while the others wait for it and share it."""
        with self._lock:
            feed = self._fresh(key, version, time.monotonic())
            if feed is not None:
                return feed
            building = self._building.setdefault(key, threading.Lock())
        if not building.acquire(timeout=BUILD_WAIT_S):
            return self._last(key)
        try:
            with self._lock:  # built by another request while this one waited?
                feed = self._fresh(key, version, time.monotonic())
            if feed is not None:
                return feed
            now = time.monotonic()
            feed = build()
            with self._lock:
                if len(self._items) > 64:
                    self._items.clear()
                    self._building = {key: building}
                self._items[key] = (now, version, feed)
            return feed
        finally:
            building.release()

    def _last(self, key: tuple) -> Feed:
        """A build of ``key`` has taken longer than ``BUILD_WAIT_S``: its last answer, however
        old (the page polls again), or FeedBusy. A request never waits without end, so a
        stuck build cannot hold every viewer's poll, and every thread that serves them."""
        with self._lock:
            hit = self._items.get(key)
        if hit is None:
            raise FeedBusy(f"the live view has been building for over {BUILD_WAIT_S:.0f} s; "
                           "it is asked again in a moment.")
        return hit[2]
