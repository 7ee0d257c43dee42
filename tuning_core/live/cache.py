"""A live feed's answers: JSON of named parts with hashes, an ETag, and when to build anew.

The pages that follow a run poll a feed route (``labweb/live.py``, :mod:`tuning_core.live.answers`)
once a second per viewer. An answer is a :class:`Feed`: a JSON body of named parts, each with the
hash the page compares before it touches anything, and an ETag over all of them, so an unchanged run
is a 304; a large body is gzipped once, for every viewer. :class:`FeedCache` decides when an answer
is built again: when the run's :func:`run_version` moved, at most every ``MIN_AGE_S`` however many
people watch, and at least every ``MAX_AGE_S`` for texts that follow the clock.

What a viewer has is what it sends again: the ETag of its last answer. An answer rebuilt with
the same hashes is the same :class:`Feed` (an unchanged log costs a few small texts every
``MAX_AGE_S``, not the run serialised and gzipped again: 1 s of CPU at 10,000 trials), and a
viewer whose ETag names a recent answer gets only the parts and figures that changed since
(:meth:`Feed.delta`), never the whole run again; the page leaves a part it is not sent as it is.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

from tuning_core.runs import readers
from tuning_core.runs.rundir import RunDir, file_stamp

MIN_AGE_S, MAX_AGE_S = 0.5, 5.0  # how long one build serves every viewer (see FeedCache)
BUILD_WAIT_S = 10.0  # how long a request waits for another's build of the same answer
GZIP_MIN = 1024  # bytes: smaller answers are sent as they are
GZIP_LEVEL = 6  # 1.4 MB (680 trials) in 17 ms, 3% larger than level 9 in 74 ms
HISTORY = 4  # answers per feed a viewer may be behind and still get only what changed
DELTAS = 64  # deltas kept (one per answer and base, shared by every viewer on that base)


class FeedBusy(Exception):
    """No answer yet: the first build of this feed has not finished in ``BUILD_WAIT_S``."""


@dataclass(frozen=True)
class Piece:
    """One part or figure of an answer, serialised and hashed once while what it shows holds
    (a trial table is escaped and hashed once per log position, not at every rebuild)."""

    hash: str
    json: str  # the content as JSON: a quoted string for an HTML part, the spec for a figure


def html_piece(text: str) -> Piece:
    """An HTML part as a piece."""
    return Piece(digest(text), json.dumps(text))


def json_piece(spec: str) -> Piece:
    """A figure's serialised spec as a piece."""
    return Piece(digest(spec), spec)


@dataclass(frozen=True)
class Feed:
    """One answer of a feed route: the JSON body, its ETag, and the body gzipped once for
    every viewer (None when small). The server's own gzip layer would compress it again for
    each viewer: 74 ms per viewer and update for a run of 680 trials, at level 9. ``parts``
    and ``figures`` keep the pieces, so a later answer can be sent as what changed."""

    body: bytes
    etag: str
    gzipped: bytes | None = None
    run: str = ""
    active: bool = False
    parts: dict[str, Piece] = field(default_factory=dict, compare=False, repr=False)
    figures: dict[str, Piece] | None = field(default=None, compare=False, repr=False)

    @property
    def gzip_etag(self) -> str:
        """The gzipped body's ETag: another representation, so another tag."""
        return self.etag[:-1] + '-gz"'

    def delta(self, base: Feed) -> Feed:
        """This answer as what changed since ``base``: only the parts and figures whose hash
        differs, under this answer's ETag (the viewer then has all of this answer)."""
        def changed(mine: dict[str, Piece] | None, theirs: dict[str, Piece] | None
                    ) -> dict[str, Piece] | None:
            if mine is None:
                return None
            return {n: p for n, p in mine.items() if (theirs or {}).get(n) != p}
        parts = changed(self.parts, base.parts) or {}
        figures = changed(self.figures, base.figures)
        return pack(_body(self.run, self.active, parts, figures, delta=True), self.etag)


def pack(body: bytes, etag: str, **pieces: object) -> Feed:
    """A feed answer, gzipped once here when large enough to gain from it."""
    return Feed(body, etag, gzip.compress(body, GZIP_LEVEL, mtime=0)
                if len(body) >= GZIP_MIN else None, **pieces)  # type: ignore[arg-type]


def digest(text: str) -> str:
    """A part's hash, as the page compares it."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _body(run: str, active: bool, parts: dict[str, Piece],
          figures: dict[str, Piece] | None, delta: bool = False) -> bytes:
    def section(pieces: dict[str, Piece]) -> str:
        return "{" + ",".join(f"{json.dumps(n)}:[{json.dumps(p.hash)},{p.json}]"
                              for n, p in pieces.items()) + "}"
    out = [f'"run":{json.dumps(run)}', f'"active":{json.dumps(active)}',
           f'"parts":{section(parts)}']
    if figures is not None:
        out.append(f'"figures":{section(figures)}')
    if delta:
        out.append('"delta":true')
    return ("{" + ",".join(out) + "}").encode()


def payload(run: str, active: bool, parts: dict[str, str | Piece],
            figures: dict[str, str | Piece] | None = None,
            previous: Feed | None = None) -> Feed:
    """The answer for ``run``: ``parts`` (HTML by name) and ``figures`` (Plotly JSON, already
    serialised, by chart key), each sent as ``[hash, content]``; the ETag covers them all.
    ``previous`` is returned as it is when nothing in it changed (no body built, no gzip)."""
    part_pieces = {n: b if isinstance(b, Piece) else html_piece(b) for n, b in parts.items()}
    fig_pieces = None if figures is None else {
        k: s if isinstance(s, Piece) else json_piece(s) for k, s in figures.items()}
    hashes = {name: piece.hash for name, piece in part_pieces.items()}
    hashes.update({"fig:" + key: piece.hash for key, piece in (fig_pieces or {}).items()})
    etag = '"' + digest(json.dumps([run, active, sorted(hashes.items())])) + '"'
    if previous is not None and previous.etag == etag:
        return previous
    return pack(_body(run, active, part_pieces, fig_pieces), etag, run=run, active=active,
                parts=part_pieces, figures=fig_pieces)


def run_version(run_dir: Path | None, read: bool = True) -> Hashable:
    """Changes when anything a live page shows of the run may have changed: a new log line,
    the holder's record (start, heartbeat, end), a stop request. Costs a few stat calls.

    ``read`` False: an answer that needs the log only when this process reads it already
    (the sidebar: a large log's first read is not its to pay, see ``html.sidebar_html``)
    follows the log's file stamps instead of its reader while no reader of it is kept, so
    that the sidebar of every page on a fresh server does not replay a 10,000-trial log
    (1-2 s of CPU, beside the page's own first script run) to show a line from the index."""
    if run_dir is None:
        return None
    run = RunDir(run_dir)
    if read or run.log_path.resolve() in readers.kept():
        log: Hashable = run.reader().version
    else:
        log = tuple(file_stamp(path) for path in run.log_paths())
    return (log, file_stamp(run.lock().holder_path), run.stop_requested())


class FeedCache:
    """The last answer per feed, reused while its run's version holds (up to ``MAX_AGE_S``,
    for texts that follow the clock: a late heartbeat, a budget's time left), and for at least
    ``MIN_AGE_S`` even when it changed: a search that logs ten lines a second is shown twice a
    second, and however many people watch, a run costs at most that many builds."""

    def __init__(self) -> None:
        self._items: dict[tuple, tuple[float, Hashable, Feed]] = {}
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}  # one build of a key at a time
        self._history: dict[tuple, OrderedDict[str, Feed]] = {}  # recent answers by ETag
        self._deltas: OrderedDict[tuple[str, str], Feed] = OrderedDict()

    def _fresh(self, key: tuple, version: Hashable, now: float,
               min_age: float = MIN_AGE_S) -> Feed | None:
        hit = self._items.get(key)
        if hit and (now - hit[0] < min_age or (hit[1] == version and now - hit[0] < MAX_AGE_S)):
            return hit[2]
        return None

    def get(self, key: tuple, version: Hashable, build: Callable[[], Feed],
            min_age: float = MIN_AGE_S) -> Feed:
        """The answer for ``key``, built anew when stale (``min_age``: reused at least this
        long even when the version moved). The routes run in a thread pool, so viewers whose
        polls land together would each build the same answer (ten builds of ~20-90 ms that
        take turns on the GIL, and every one of them waits); instead one builds while the
        others wait for it and share it."""
        with self._lock:
            feed = self._fresh(key, version, time.monotonic(), min_age)
            if feed is not None:
                return feed
            building = self._building.setdefault(key, threading.Lock())
        if not building.acquire(timeout=BUILD_WAIT_S):
            return self._last(key)
        try:
            with self._lock:  # built by another request while this one waited?
                feed = self._fresh(key, version, time.monotonic(), min_age)
            if feed is not None:
                return feed
            now = time.monotonic()
            feed = build()
            with self._lock:
                if len(self._items) > 64:
                    self._items.clear()
                    self._history.clear()
                    self._building = {key: building}
                self._items[key] = (now, version, feed)
                history = self._history.setdefault(key, OrderedDict())
                history[feed.etag] = feed
                while len(history) > HISTORY:
                    history.popitem(last=False)
            return feed
        finally:
            building.release()

    def last(self, key: tuple) -> Feed | None:
        """The newest answer of ``key``, however old (None before the first): a build passes
        it to :func:`payload`, which returns it again when nothing changed."""
        with self._lock:
            hit = self._items.get(key)
        return hit[2] if hit else None

    def since(self, key: tuple, feed: Feed, etag: str | None) -> Feed:
        """``feed``, or only what changed in it since the answer tagged ``etag`` (either of its
        tags, as a viewer sends it back) when that is one of ``key``'s last ``HISTORY``
        answers; built once per base for every viewer on it. A viewer with ``feed`` itself
        gets ``feed`` (the route answers it 304), one with an unknown tag the whole answer."""
        base_tag = (etag or "").replace('-gz"', '"')
        if not base_tag or base_tag == feed.etag:
            return feed
        with self._lock:
            history = self._history.get(key)
            base = history.get(base_tag) if history else None
            delta = self._deltas.get((base_tag, feed.etag))
        if base is None or base is feed:
            return feed
        if delta is None:
            delta = feed.delta(base)
            with self._lock:
                self._deltas[(base_tag, feed.etag)] = delta
                while len(self._deltas) > DELTAS:
                    self._deltas.popitem(last=False)
        return delta

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
