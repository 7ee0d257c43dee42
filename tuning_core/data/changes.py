"""A data folder edited under a run: what changed since the run's split was fixed, and what a
job does about it (issue 27).

``split.json`` fixes a run's files at its first start; with them it keeps each file's size,
modification time and a short content hash (:func:`stamp_files`) and the files the scan
skipped. Between the search and a resume, retrain, health check or report people delete,
add, rename or replace images. :func:`compare` finds out cheaply: one walk of the folder's
names and a stat per listed file; only a file whose stamp moved, or a new file as large as
a gone one, is read (hashed, and decoded when its bytes changed).

What each change means for the jobs (:meth:`FolderChanges.usable`):

* gone (deleted, or moved to another class: a label is never changed silently): left out;
  the job goes on without it and says how many.
* renamed (the same bytes under a new name in the same class): followed.
* corrupt (listed, changed, and no longer decodes): left out and named.
* replaced (listed, decodes, other bytes): training and validation use it as it is now;
  a retrain's test leaves it out, since the held-out images must be the ones the search
  held out (or fewer), never others.
* added: never put into any part of the split; counted ("a new search would use them").

A retrain tests on the test images that are left and says so in its evaluation: refusing
would tie the best model to images that may never come back (deleted for a reason), while
the ones left were still never trained on. It refuses, in one line, when that test would say
little: a class without a test image left, or fewer than half the test images. Any job
refuses when the folder is gone; a resume or retrain when a class has no training image
left or no validation image is left.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from tuning_core.core.errors import DatasetError
from tuning_core.data.dataset import IMAGE_EXTENSIONS, LabeledFile, Split, probe_image

__all__ = ["Change", "Use", "FileChange", "FolderChanges", "compare", "stamp_files",
           "content_hash", "STAMPS_KEY", "SKIPPED_KEY"]

STAMPS_KEY = "stamps"  # split.json: {path: [size, mtime_ns, content hash]}
SKIPPED_KEY = "skipped"  # split.json: files the first scan left out (not new later)
PARTS = ("train", "val", "test")
PART_NAMES = {"train": "training", "val": "validation", "test": "test"}
NAMED = 3  # files named in a summary before "and N more"
LISTED = 100  # files left out named in a record


class Change(str, Enum):
    """What happened to one file since the split was fixed."""

    GONE = "gone"
    RENAMED = "renamed"
    CORRUPT = "corrupt"
    REPLACED = "replaced"
    ADDED = "added"


class Use(str, Enum):
    """The job that reads a run's files, which decides what it does about a change."""

    RESUME = "resume"
    RETRAIN = "retrain"
    HEALTH = "health check"
    EXPORT = "export check"
    EXPLAIN = "explanation"
    REPORT = "report"

    @property
    def trains(self) -> bool:
        """Needs training images of every class and validation images."""
        return self in (Use.RESUME, Use.RETRAIN)

    @property
    def held_out(self) -> bool:
        """Tests on the test split: only the images the search held out are used (an
        export's check compares two copies of one model, on any of the run's images)."""
        return self is Use.RETRAIN


@dataclass(frozen=True)
class FileChange:
    """One changed file: ``path`` as the split lists it (added: the new path), the ``part``
    it is in ("" when added), and ``detail``: the new name, or why it does not decode."""

    kind: Change
    path: str
    part: str = ""
    detail: str = ""


@dataclass(frozen=True)
class FolderChanges:
    """What changed in a run's data folder since its split was fixed.

    ``stamped``: the split kept each file's stamp (splits made before it did tell only
    gone and added files apart; a file that no longer decodes then fails the decode).
    """

    root: str
    listed: int
    changes: tuple[FileChange, ...] = ()
    stamped: bool = True
    root_missing: bool = False

    def of_kind(self, kind: Change) -> list[FileChange]:
        return [c for c in self.changes if c.kind is kind]

    @property
    def unchanged(self) -> bool:
        return not self.changes and not self.root_missing

    def summary(self) -> str:
        """What changed, in a sentence ("" when nothing did)."""
        if self.root_missing:
            return (f"The data folder {self.root} is gone (moved, renamed or unmounted?): "
                    f"none of the run's {self.listed:,} images can be read")
        words = [_gone(self.of_kind(Change.GONE), self.listed)]
        renamed = self.of_kind(Change.RENAMED)
        if renamed:
            words.append(f"{_count(renamed, 'was', 'were')} renamed (followed: "
                         f"{_names(renamed, arrow=True)})")
        corrupt = self.of_kind(Change.CORRUPT)
        if corrupt:
            words.append(f"{_count(corrupt, 'no longer decodes', 'no longer decode')} "
                         f"(left out: {_names(corrupt)})")
        replaced = self.of_kind(Change.REPLACED)
        if replaced:
            words.append(f"{_count(replaced, 'was', 'were')} replaced by other images "
                         f"({_names(replaced)})")
        added = self.of_kind(Change.ADDED)
        if added and self.stamped:
            words.append(f"{len(added):,} new image{'s are' if len(added) > 1 else ' is'} "
                         "not used (a new search would use them)")
        elif added:  # a split older than its stamps did not list what its scan skipped
            words.append(f"{len(added):,} image file{'s are' if len(added) > 1 else ' is'} "
                         "not in the split (not used)")
        text = "; ".join(w for w in words if w)
        return text[:1].upper() + text[1:] if text else ""

    def usable(self, split: Split, use: Use) -> Split:
        """The split ``use`` reads now: gone and corrupt files left out, renamed ones
        followed, replaced test images left out of a held-out test, nothing added.

        Raises:
            DatasetError: one line, when ``use`` cannot go on (see the module's docstring).
        """
        if self.root_missing:
            raise DatasetError(f"{self.summary()}. The {use.value} cannot go on: put the "
                               f"folder back at {self.root}.")
        renamed = {c.path: c.detail for c in self.of_kind(Change.RENAMED)}
        dropped = {c.path for c in self.changes if c.kind in (Change.GONE, Change.CORRUPT)}
        replaced = {c.path for c in self.of_kind(Change.REPLACED)}

        def kept(items: list[LabeledFile], part: str) -> list[LabeledFile]:
            skip = dropped | replaced if part == "test" and use.held_out else dropped
            return [(renamed.get(p, p), y) for p, y in items if p not in skip]

        now = Split(split.root, list(split.classes), kept(split.train, "train"),
                    kept(split.val, "val"), kept(split.test, "test"))
        refusal = _refusal(split, now, use)
        if refusal:
            raise DatasetError(f"{self.summary()}. The {use.value} cannot go on: {refusal}")
        return now

    def effect(self, before: Split, after: Split, use: Use) -> str:
        """What ``use`` does about the changes, for people ("" when nothing changed)."""
        if self.unchanged:
            return ""
        parts = [p for p in PARTS if len(getattr(before, p)) != len(getattr(after, p))]
        if not parts:
            return f"{self.summary()}. The {use.value} uses every listed image."
        used = ", ".join(f"{len(getattr(after, p)):,} of {len(getattr(before, p)):,} "
                         f"{PART_NAMES[p]}" for p in parts)
        return f"{self.summary()}. The {use.value} goes on with {used} images."

    def record(self, before: Split, after: Split, use: Use) -> dict[str, Any]:
        """What a job writes down about the changes (its log line, the evaluation): the
        sentence, counts by kind and the images of each part used of those listed."""
        kept = {p for p, _ in _all(after)} | {c.path for c in self.of_kind(Change.RENAMED)}
        return {"summary": self.effect(before, after, use),
                "counts": dict(Counter(c.kind.value for c in self.changes)),
                "used": {p: [len(getattr(after, p)), len(getattr(before, p))] for p in PARTS},
                "left_out": sorted(p for p, _ in _all(before) if p not in kept)[:LISTED]}

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "listed": self.listed, "stamped": self.stamped,
                "root_missing": self.root_missing,
                "changes": [[c.kind.value, c.path, c.part, c.detail] for c in self.changes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FolderChanges:
        return cls(data["root"], int(data["listed"]),
                   tuple(FileChange(Change(k), p, part, d) for k, p, part, d in data["changes"]),
                   bool(data["stamped"]), bool(data["root_missing"]))


def _all(split: Split) -> list[LabeledFile]:
    return split.train + split.val + split.test


def _refusal(before: Split, after: Split, use: Use) -> str:
    if use.trains:
        for label, name in enumerate(before.classes):
            had = sum(1 for _, y in before.train if y == label)
            if had and not any(y == label for _, y in after.train):
                return (f"class '{name}' has no training image left (its {had:,} are gone or "
                        "unreadable); put them back, or start a new search of the folder as "
                        "it is now.")
        if before.val and not after.val:
            return ("no validation image is left; put them back, or start a new search of "
                    "the folder as it is now.")
    if use.held_out and before.test:
        for label, name in enumerate(before.classes):
            if any(y == label for _, y in before.test) and \
                    not any(y == label for _, y in after.test):
                return (f"class '{name}' has no test image left, so the test would not say "
                        "how the model does on it; put them back, or start a new search.")
        if 2 * len(after.test) < len(before.test):
            return (f"only {len(after.test):,} of the {len(before.test):,} test images are "
                    "left, too few for the test to stand for the search's; put them back, "
                    "or start a new search.")
    return ""


def _count(changes: list[FileChange], one: str, many: str) -> str:
    return f"{len(changes):,} image{'' if len(changes) == 1 else 's'} " \
           f"{one if len(changes) == 1 else many}"


def _names(changes: list[FileChange], arrow: bool = False) -> str:
    shown = [f"{c.path} -> {c.detail}" if arrow else c.path for c in changes[:NAMED]]
    more = len(changes) - NAMED
    return ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")


def _gone(gone: list[FileChange], listed: int) -> str:
    if not gone:
        return ""
    by_part = Counter(c.part for c in gone)
    where = ", ".join(f"{by_part[p]:,} {PART_NAMES[p]}" for p in PARTS if by_part[p])
    verb = "is" if len(gone) == 1 else "are"
    return f"{len(gone):,} of {listed:,} images {verb} gone since the search ({where})"


# --- finding the changes ---------------------------------------------------------------


def content_hash(path: str | Path) -> str:
    """A short hash of a file's bytes (BLAKE2b, 8 bytes): equal bytes, equal hash."""
    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stamp_files(root: str | Path, paths: list[str]) -> dict[str, list[Any]]:
    """Each file's [size, mtime in ns, content hash], as a split keeps them."""
    stamps: dict[str, list[Any]] = {}
    for rel in paths:
        path = Path(root) / rel
        info = path.stat()
        stamps[rel] = [info.st_size, info.st_mtime_ns, content_hash(path)]
    return stamps


def compare(saved: dict[str, Any]) -> FolderChanges:
    """What changed in the folder of a saved split (``split.json`` as a dict) since then."""
    split = Split.from_dict(saved)
    root = Path(split.root)
    parts = {p: part for part in PARTS for p, _ in getattr(split, part)}
    stamps: dict[str, list[Any]] = saved.get(STAMPS_KEY) or {}
    if not root.is_dir():
        return FolderChanges(str(root), len(parts), stamped=bool(stamps), root_missing=True)
    present = _present(root)
    known = set(parts) | set(saved.get("excluded") or []) | set(saved.get(SKIPPED_KEY) or [])
    new = sorted(p for p in present - known if p.lower().endswith(IMAGE_EXTENSIONS))
    gone = [p for p in parts if p not in present]
    renames = _renames(root, gone, new, stamps)
    changes = [FileChange(Change.RENAMED, p, parts[p], renames[p]) if p in renames
               else FileChange(Change.GONE, p, parts[p]) for p in gone]
    changes += [c for p in parts if p in present and p in stamps
                for c in [_changed(root, p, parts[p], stamps[p])] if c is not None]
    taken = set(renames.values())
    changes += [FileChange(Change.ADDED, p) for p in new if p not in taken]
    return FolderChanges(str(root), len(parts), tuple(changes), bool(stamps))


def _present(root: Path) -> set[str]:
    """Every visible file under the class folders, relative to ``root`` (names only)."""
    found: set[str] = set()
    with os.scandir(root) as entries:
        tops = [e.path for e in entries if not e.name.startswith(".") and e.is_dir()]
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(root).as_posix()
            found.update(f"{rel}/{name}" for name in filenames if not name.startswith("."))
    return found


def _renames(root: Path, gone: list[str], new: list[str],
             stamps: dict[str, list[Any]]) -> dict[str, str]:
    """Gone files found again under a new name in the same class: same size, same hash."""
    by_size: dict[int, list[str]] = {}
    for path in gone:
        if path in stamps:
            by_size.setdefault(int(stamps[path][0]), []).append(path)
    found: dict[str, str] = {}
    inside = root.resolve()
    for path in new:
        try:
            candidates = by_size.get((root / path).stat().st_size, [])
            if candidates and not (root / path).resolve().is_relative_to(inside):
                continue  # never read through a link out of the folder (lab mode's roots)
        except OSError:
            continue
        same_class = [c for c in candidates if c not in found and _top(c) == _top(path)]
        if not same_class:
            continue
        digest = content_hash(root / path)
        match = next((c for c in same_class if stamps[c][2] == digest), None)
        if match is not None:
            found[match] = path
    return found


def _top(path: str) -> str:
    return path.split("/", 1)[0]


def _changed(root: Path, rel: str, part: str, stamp: list[Any]) -> FileChange | None:
    """A listed file's change, or None when its bytes are the ones the split saw."""
    path = root / rel
    try:
        info = path.stat()
        if [info.st_size, info.st_mtime_ns] == list(stamp[:2]) or \
                content_hash(path) == stamp[2]:
            return None
    except OSError as error:
        return FileChange(Change.CORRUPT, rel, part, f"cannot be read: {error.strerror}")
    probe = probe_image(path)
    if isinstance(probe, str):
        return FileChange(Change.CORRUPT, rel, part, probe)
    return FileChange(Change.REPLACED, rel, part)

