"""A run's editable metadata: a display name, free-text notes and tags (``notes.json``).

``run.json`` is written once when a run is made; what people change later lives in its own
file, owned by :class:`tuning_core.runs.rundir.RunDir` and written atomically. Edits go through
:func:`tuning_core.runs.catalogue.edit_notes`, which checks the editor's role and audits the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tuning_core.core.errors import NotesError

SCHEMA_VERSION = 1
MAX_NAME = 80
MAX_NOTES = 10_000
MAX_TAGS = 20
MAX_TAG = 32
_TAG = re.compile(rf"^[a-z0-9_-]{{1,{MAX_TAG}}}$")
_SEPARATORS = re.compile(r"[,\s]+")


def parse_tags(text: str) -> list[str]:
    """Tags typed as one line ("cnn, baseline small"): split on commas and spaces."""
    return [t for t in _SEPARATORS.split(text or "") if t]


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags lowercased and deduplicated, in the order given; NotesError naming a bad one."""
    cleaned: list[str] = []
    for raw in tags:
        tag = str(raw).strip().lower()
        if not _TAG.match(tag):
            raise NotesError(f"a tag must be 1 to {MAX_TAG} letters, digits, '-' or '_'; "
                             f"got {raw!r}.")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise NotesError(f"a run takes at most {MAX_TAGS} tags; got {len(cleaned)}.")
    return cleaned


@dataclass(frozen=True)
class RunNotes:
    """What people call a run and say about it. Empty (all defaults) until someone edits it.

    ``updated`` is the time of the last edit (0 when never edited), ``updated_by`` the lab
    user who made it ("" in local mode).
    """

    name: str = ""
    notes: str = ""
    tags: tuple[str, ...] = ()
    updated: float = 0.0
    updated_by: str = ""

    def validated(self) -> RunNotes:
        """A copy with a trimmed name and clean tags; NotesError saying what is too long or
        malformed, with the limit and what came."""
        name = self.name.strip()
        if len(name) > MAX_NAME:
            raise NotesError(f"a run name takes at most {MAX_NAME} characters; "
                             f"got {len(name)}.")
        if "\n" in name:
            raise NotesError("a run name is one line; got a line break in it.")
        if len(self.notes) > MAX_NOTES:
            raise NotesError(f"notes take at most {MAX_NOTES:,} characters; "
                             f"got {len(self.notes):,}.")
        return RunNotes(name, self.notes, tuple(clean_tags(self.tags)), self.updated,
                        self.updated_by)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "name": self.name, "notes": self.notes,
                "tags": list(self.tags), "updated": self.updated, "updated_by": self.updated_by}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunNotes:
        """The notes of a ``notes.json``; NotesError for another schema version or bad types."""
        if data.get("schema_version") != SCHEMA_VERSION:
            raise NotesError(f"notes.json schema_version must be {SCHEMA_VERSION}; "
                             f"got {data.get('schema_version')!r}.")
        tags = data.get("tags", [])
        if not isinstance(tags, list):
            raise NotesError(f"notes.json tags must be a list; got {type(tags).__name__}.")
        return cls(name=str(data.get("name", "")), notes=str(data.get("notes", "")),
                   tags=tuple(str(t) for t in tags), updated=float(data.get("updated", 0.0)),
                   updated_by=str(data.get("updated_by", "")))
