"""Run settings: what a search is asked to do, as data that round-trips to ``run.json``.

No TensorFlow here: pages import these to build forms.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from typing import Any

from tuning_core.core.errors import SettingsError
from tuning_core.core.states import Direction

SCHEMA_VERSION = 1
TUNER_HELP = {  # one line each, shown where the tuner is chosen (no TensorFlow import here)
    "random": "Random search: samples every trial independently; a robust baseline.",
    "bayesian": "Bayesian optimization: a Gaussian process of past trials proposes the next; "
                "fewer trials for a good result.",
    "hyperband": "Hyperband: trains many models for a few epochs and continues only the best; "
                 "usually the fastest way to a good model.",
    "grid": "Grid search: tries every combination in order (continuous ranges in 10 steps); "
            "exhaustive, for small spaces.",
}
TUNER_NAMES = tuple(TUNER_HELP)
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min"}  # the one home of each direction
AGENTS_ALL = -1  # TunerSettings.agents: every free slot of every agent (distributed.agent)
DISTRIBUTIONS = {  # how one trial trains (tuners.py turns the name into a tf.distribute strategy)
    "none": "one device (TensorFlow's default)",
    "mirrored": "MirroredStrategy: one trial over every visible GPU (or the one CPU device)",
}


def objective_direction(objective: str) -> Direction:
    """Which way a known objective improves; SettingsError for any other name."""
    _one_of("objective", objective, tuple(OBJECTIVES))
    return Direction(OBJECTIVES[objective])


@dataclass
class TunerSettings:
    """How to search: which tuner, how long, and what to keep.

    ``epochs`` is the per-trial epoch count (Hyperband's maximum epochs);
    ``patience`` stops a trial after that many epochs without improvement (0: never);
    ``max_minutes`` ends the search like a stop once spent (None: no budget);
    ``workers``: 0 for a plain search, N for a distributed one with N local worker processes
    (this process the chief); ``agents``: workers the search asks of the lab's agents
    (``python -m tuning_core agent``; 0: none, N: up to N, ``AGENTS_ALL``: every free slot);
    ``distribution``: a name of ``DISTRIBUTIONS``;
    ``mixed_precision``: mixed_float16 where a GPU of compute capability 7.0+ is visible,
    else float32 (the search says so).
    """

    tuner: str = "hyperband"
    # smoother than accuracy on small validation splits (bench/notes.md)
    objective: str = "val_loss"
    max_trials: int = 20  # Hyperband's first bracket and a start on the second (bench/notes.md)
    epochs: int = 12
    executions_per_trial: int = 1
    patience: int = 3
    seed: int = 0
    keep_top: int = 3
    max_minutes: float | None = None
    max_consecutive_failed: int = 3
    hyperband_factor: int = 3
    workers: int = 0
    agents: int = 0
    distribution: str = "none"
    mixed_precision: bool = False

    @property
    def direction(self) -> Direction:
        """Which way the objective improves."""
        return objective_direction(self.objective)

    def validate(self) -> None:
        """Raise SettingsError naming the first setting out of range."""
        _one_of("tuner", self.tuner, TUNER_NAMES)
        _one_of("objective", self.objective, tuple(OBJECTIVES))
        for name, low in (("max_trials", 1), ("epochs", 1), ("executions_per_trial", 1),
                          ("patience", 0), ("keep_top", 1), ("max_consecutive_failed", 1),
                          ("hyperband_factor", 2), ("workers", 0)):
            _at_least(name, getattr(self, name), low)
        if not isinstance(self.agents, int) or self.agents < AGENTS_ALL:
            raise SettingsError(f"agents must be 0, a number of workers or {AGENTS_ALL} (every "
                                f"free slot); got {self.agents!r}.")
        _one_of("distribution", self.distribution, tuple(DISTRIBUTIONS))
        if not isinstance(self.mixed_precision, bool):
            raise SettingsError(f"mixed_precision must be true or false; got "
                                f"{self.mixed_precision!r}.")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise SettingsError(f"max_minutes must be above 0 or empty; got {self.max_minutes}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TunerSettings:
        return cls(**_known(cls, data))


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")


def _at_least(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SettingsError(f"{name} must be a whole number of at least {low}; got {value!r}.")


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Keep the keys the dataclass knows, so a newer run.json still loads."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's results, for run.json."""
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "keras-tuner", "numpy", "scikit-learn"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class RunConfig:
    """Everything a run was started with; written once to ``run.json``."""

    data_dir: str
    space: Any  # SearchSpace (typed loosely to keep this module import-light)
    split: Any = None  # SplitConfig
    image: Any = None  # ImageConfig
    tuner: TunerSettings = field(default_factory=TunerSettings)
    name: str = ""
    owner: str = ""  # the lab user who launched it ("" in local mode)
    data_roots: list[str] = field(default_factory=list)  # lab mode: images only from inside
    plan: dict[str, Any] | None = None  # planner.SearchPlan fitted to a time budget, if any
    created: float = field(default_factory=time.time)
    versions: dict[str, str] = field(default_factory=library_versions)

    def __post_init__(self) -> None:
        from tuning_core.data.dataset import ImageConfig, SplitConfig

        self.split = self.split or SplitConfig()
        self.image = self.image or ImageConfig()

    def validate(self) -> None:
        """Raise SettingsError or SearchSpaceError for anything that cannot run.

        Includes a backbone that needs larger images, and ImageNet weights missing from
        Keras' cache (SettingsError naming the file, the folder and the URL).
        """
        from tuning_core.space.backbones import check_weights
        from tuning_core.space.schema import check, check_for_image

        self.tuner.validate()
        self.split.validate()
        self.image.validate()
        check(self.space)
        check_for_image(self.space, self.image.image_size)
        check_weights(self.space.backbone.names, self.space.backbone.weights)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "name": self.name, "owner": self.owner,
            "data_roots": list(self.data_roots),
            "created": self.created,
            "data_dir": self.data_dir, "split": self.split.to_dict(),
            "image": self.image.to_dict(), "space": self.space.to_dict(),
            "tuner": self.tuner.to_dict(), "versions": self.versions, "plan": self.plan,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        from tuning_core.data.dataset import ImageConfig, SplitConfig
        from tuning_core.space.schema import SearchSpace

        if data.get("schema_version") != SCHEMA_VERSION:
            raise SettingsError(
                f"run.json schema_version must be {SCHEMA_VERSION}; "
                f"got {data.get('schema_version')!r}."
            )
        return cls(
            data_dir=data["data_dir"], space=SearchSpace.from_dict(data["space"]),
            split=SplitConfig.from_dict(data["split"]), image=ImageConfig.from_dict(data["image"]),
            tuner=TunerSettings.from_dict(data["tuner"]), name=data.get("name", ""),
            owner=data.get("owner", ""), data_roots=list(data.get("data_roots") or []),
            created=data.get("created", 0.0), versions=data.get("versions", {}),
            plan=data.get("plan"),
        )
