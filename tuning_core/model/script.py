"""A standalone Python script that reruns a run's search without this project.

The script is :mod:`tuning_core.model.script_template` (plain keras, keras_tuner and tensorflow,
no import of this package) with the run's settings, search space, file split and the
backbones it may use written into its ``RUN`` line. Its hyperparameters, tuner and
retrain mirror :mod:`tuning_core.search.hypermodel`, :mod:`tuning_core.search.tuners` and
:mod:`tuning_core.model.best`; a test runs a written script and compares its oracle's
hyperparameter space with the run's, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuning_core.core import atomic, diskspace
from tuning_core.core.errors import ExportError
from tuning_core.data.dataset import Split
from tuning_core.lab.actor import Actor
from tuning_core.lab.permissions import Action
from tuning_core.runs.rundir import RunDir
from tuning_core.space.backbones import BACKBONES

__all__ = ["script_text", "write_script", "download_script", "run_settings",
           "DEFAULT_RETRAIN_EPOCHS"]

TEMPLATE = Path(__file__).with_name("script_template.py")
RUN_LINE = ("RUN: dict = {}  # the run's settings, space and split: filled in when the script "
            "is written\n")
DEFAULT_RETRAIN_EPOCHS = 30  # the command line's default (python -m tuning_core best)


def run_settings(run: RunDir) -> dict[str, Any]:
    """Everything the script needs of the run, as plain JSON values."""
    config = run.config()
    saved = run.load_split()
    if saved is None:
        raise ExportError(f"{run.name} has no file split yet: its search never started, so "
                          "there is no search to write a script of.")
    split = Split.from_dict(saved)
    search_train = split.search_train(config.split.subset, config.split.seed)
    retrain = (run.retrain_reader().last_start or {}).get("epochs") or DEFAULT_RETRAIN_EPOCHS
    names = config.space.backbone.names
    return {
        "name": run.name, "data_dir": split.root, "image": config.image.to_dict(),
        "tuner": {**config.tuner.to_dict(), "direction": config.tuner.direction},
        "space": config.space.to_dict(), "split_seed": config.split.seed,
        "retrain_epochs": int(retrain),
        "backbones": {n: {"application": BACKBONES[n].application,
                          "options": dict(BACKBONES[n].options)} for n in names},
        "split": {"classes": list(split.classes), "train": _items(split.train),
                  "val": _items(split.val), "test": _items(split.test),
                  "search_train": _items(search_train)},
    }


def _items(items: list[tuple[str, int]]) -> list[list[Any]]:
    return [[path, int(label)] for path, label in items]


def script_text(run_dir: str | Path) -> str:
    """The script's text for a run; ExportError before the run's search started."""
    run = RunDir(run_dir)
    settings = json.dumps(run_settings(run), indent=1)
    template = TEMPLATE.read_text()
    if RUN_LINE not in template:
        raise ExportError(f"{TEMPLATE} lacks its RUN line; the script cannot be written.")
    literal = f'r"""\n{settings}\n"""' if '"""' not in settings and "\\" not in settings \
        else repr(settings)
    text = template.replace(RUN_LINE, f"RUN = json.loads({literal})\n")
    return text.replace("__RUN_NAME__", run.name)


def write_script(run_dir: str | Path, output: str | Path | None = None,
                 actor: Actor | None = None) -> Path:
    """Write the script (default ``exports/search_script.py``) and return its path."""
    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.REPORT, target=run.name)
    text = script_text(run.path)
    path = Path(output) if output else run.script_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with diskspace.said_as_full(path.parent, "the search script"):
        atomic.write_text(path, text)
    actor.record(Action.REPORT, target=run.name, detail=f"search script {path.name}")
    return path


def download_script(run_dir: str | Path, actor: Actor | None = None) -> str:
    """The script's text for a download; recorded in lab mode's audit log."""
    run, actor = RunDir(run_dir), actor or Actor()
    actor.check(Action.DOWNLOAD, target=run.name)
    text = script_text(run.path)
    actor.record(Action.DOWNLOAD, target=run.name, detail="search script")
    return text
