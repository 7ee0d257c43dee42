"""Files left out of a dataset's next searches, without touching the user's folder.

An exclusion list belongs to a dataset (its folder) within a runs folder: it is stored as
``<runs folder>/.exclusions/<name>-<hash of the folder's path>.json``, so the dashboard and
the command line, which share the runs folder, see the same list. A new run's split drops
the listed files (and records them in its ``split.json`` under ``excluded``); runs made
before keep their split. Each entry says why and who, and can be restored (undone).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tuning_core.core import atomic
from tuning_core.core.errors import RunError
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action

FOLDER = ".exclusions"


@dataclass(frozen=True)
class Exclusion:
    """One excluded file (relative to the dataset's folder), why, by whom and when."""

    path: str
    reason: str
    kind: str = ""  # the health flag's kind (label, leak, duplicate, outlier), "" by hand
    by: str = ""
    added: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ExclusionList:
    """The files excluded from a dataset's next searches."""

    root: str
    entries: tuple[Exclusion, ...] = ()

    @property
    def paths(self) -> set[str]:
        return {e.path for e in self.entries}

    def added(self, new: list[Exclusion]) -> ExclusionList:
        """This list with ``new`` entries (a file already listed keeps its first entry)."""
        entries, known = list(self.entries), self.paths
        for entry in new:
            if entry.path not in known:
                entries.append(entry)
                known.add(entry.path)
        return replace(self, entries=tuple(entries))

    def without(self, paths: set[str]) -> ExclusionList:
        """This list with ``paths`` restored."""
        return replace(self, entries=tuple(e for e in self.entries if e.path not in paths))

    def apply(self, summary: Any) -> Any:
        """A dataset summary (:class:`tuning_core.data.dataset.DatasetSummary`) without the
        excluded files."""
        gone = self.paths
        files = {c: [f for f in fs if f not in gone] for c, fs in summary.files.items()}
        return replace(summary, files=files)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "entries": [asdict(e) for e in self.entries]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExclusionList:
        return cls(root=str(data["root"]),
                   entries=tuple(Exclusion(**e) for e in data.get("entries", [])))


def list_path(runs_dir: str | Path, data_root: str | Path) -> Path:
    """Where the exclusion list of ``data_root`` within ``runs_dir`` is kept."""
    root = str(Path(data_root).resolve())
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(root).name).strip("-")[:40] or "data"
    return Path(runs_dir) / FOLDER / f"{slug}-{hashlib.sha1(root.encode()).hexdigest()[:10]}.json"


def load(runs_dir: str | Path, data_root: str | Path) -> ExclusionList:
    """The dataset's exclusion list (empty when none was made); RunError when unreadable."""
    path = list_path(runs_dir, data_root)
    if not path.is_file():
        return ExclusionList(str(Path(data_root).resolve()))
    try:
        return ExclusionList.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunError(f"the exclusion list {path} cannot be read: {error}") from error


def save(runs_dir: str | Path, exclusions: ExclusionList) -> None:
    """Replace the dataset's list atomically (an empty list removes the file)."""
    path = list_path(runs_dir, exclusions.root)
    if not exclusions.entries:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, exclusions.to_dict(), indent=1)


def for_run(run_dir: str | Path) -> tuple[Path, ExclusionList]:
    """The runs folder of a run and the exclusion list of the run's dataset there."""
    from tuning_core.runs.rundir import RunDir

    run = RunDir(run_dir)
    root = (run.load_split() or {}).get("root") or run.config().data_dir
    return run.path.parent, load(run.path.parent, root)


def exclude(run_dir: str | Path, entries: list[Exclusion], actor: Actor | None = None
            ) -> ExclusionList:
    """Add files to the exclusion list of a run's dataset (checked and audited)."""
    actor = actor or Actor()
    runs_dir, current = for_run(run_dir)
    actor.check(Action.EXCLUDE, target=Path(current.root).name)
    stamped = [replace(e, by=e.by or actor.record_name) for e in entries]
    updated = current.added(stamped)
    save(runs_dir, updated)
    actor.record(Action.EXCLUDE, target=Path(current.root).name,
                 detail=f"{len(updated.entries) - len(current.entries)} file(s) excluded")
    return updated


def restore(run_dir: str | Path, paths: set[str], actor: Actor | None = None) -> ExclusionList:
    """Take files off the exclusion list of a run's dataset (checked and audited)."""
    actor = actor or Actor()
    runs_dir, current = for_run(run_dir)
    actor.check(Action.EXCLUDE, target=Path(current.root).name)
    updated = current.without(set(paths))
    save(runs_dir, updated)
    actor.record(Action.EXCLUDE, target=Path(current.root).name,
                 detail=f"{len(current.entries) - len(updated.entries)} file(s) restored")
    return updated
