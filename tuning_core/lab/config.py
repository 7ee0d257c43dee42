"""Lab mode's settings: ``<workspace>/lab/config.json`` as a dataclass that round-trips JSON.

The file is optional: without it lab mode runs with the defaults below. Lab mode itself is
chosen at launch (``make lab``); the server of lab mode sets :data:`LAB_ENV` so the pages
know it, and the settings here tune it.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tuning_core.core.errors import LabConfigError
from tuning_core.lab.files import lab_dir, read_json, write_json

LAB_ENV = "TUNING_LAB_MODE"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LabConfig:
    """Settings of lab mode.

    ``allowed_hosts``: host names the server answers to (empty: any; a DNS-rebinding guard).
    ``data_roots``: folders, besides the workspace's data folder, whose images may be read.
    ``session_hours``: how long a login lasts. ``max_upload_mb``: the upload cap.
    ``tls_cert`` / ``tls_key``: PEM files to serve HTTPS. ``oracle_public``: whether a
    distributed search's chief serves KerasTuner's oracle beyond this machine, so workers on
    other machines can join (every call must carry the run's token: ``distributed.token``);
    otherwise it listens on 127.0.0.1. ``oracle_address``: with ``oracle_public``, the one
    address of this machine to listen on (the lab network's interface), not every interface.
    """

    allowed_hosts: tuple[str, ...] = ()
    data_roots: tuple[str, ...] = ()
    session_hours: float = 12.0
    max_upload_mb: int = 50
    tls_cert: str | None = None
    tls_key: str | None = None
    oracle_public: bool = False
    oracle_address: str | None = None

    def validate(self) -> LabConfig:
        """Self, or LabConfigError naming the first bad field."""
        if not 0 < self.session_hours <= 24 * 31:
            raise LabConfigError(f"expected session_hours in (0, 744]; got {self.session_hours}.")
        if not 1 <= self.max_upload_mb <= 10_000:
            raise LabConfigError(f"expected max_upload_mb in [1, 10000]; got {self.max_upload_mb}.")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise LabConfigError("expected both tls_cert and tls_key, or neither; "
                                 f"got tls_cert={self.tls_cert!r}, tls_key={self.tls_key!r}.")
        if self.oracle_address is not None:
            try:
                ipaddress.ip_address(self.oracle_address)
            except ValueError:
                raise LabConfigError(f"expected an IP address of this machine for "
                                     f"oracle_address; got {self.oracle_address!r}.") from None
        for path in filter(None, (self.tls_cert, self.tls_key)):
            if not Path(path).is_file():
                raise LabConfigError(f"expected a PEM file for TLS; {path} is not a file.")
        return self

    @property
    def tls(self) -> bool:
        """True when the server serves HTTPS itself."""
        return self.tls_cert is not None

    @property
    def session_seconds(self) -> int:
        return int(self.session_hours * 3600)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(version=FORMAT_VERSION, allowed_hosts=list(self.allowed_hosts),
                    data_roots=list(self.data_roots))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabConfig:
        """A config from JSON data; LabConfigError for unknown keys or a newer version."""
        data = dict(data)
        version = data.pop("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise LabConfigError(f"expected lab config version {FORMAT_VERSION}; got {version!r}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LabConfigError(f"unknown lab config keys {unknown}; "
                                 f"expected some of {sorted(known)}.")
        for key in ("allowed_hosts", "data_roots"):
            if key in data:
                data[key] = tuple(str(v) for v in data[key])
        try:
            return cls(**data)
        except TypeError as error:
            raise LabConfigError(f"bad lab config: {error}.") from error


def config_path(workspace: Path | None = None) -> Path:
    """``<workspace>/lab/config.json``."""
    return lab_dir(workspace) / "config.json"


def load_lab_config(workspace: Path | None = None) -> LabConfig:
    """The workspace's lab config (defaults when the file is absent), validated."""
    path = config_path(workspace)
    try:
        return LabConfig.from_dict(read_json(path, {})).validate()
    except LabConfigError as error:
        raise LabConfigError(f"{path}: {error}") from error


def save_lab_config(config: LabConfig, workspace: Path | None = None) -> Path:
    """Write the config atomically; returns its path."""
    path = config_path(workspace)
    write_json(path, config.validate().to_dict())
    return path


def lab_mode_active() -> bool:
    """True inside the server of lab mode (it sets ``TUNING_LAB_MODE=1``)."""
    return os.environ.get(LAB_ENV) == "1"


__all__ = ["LAB_ENV", "LabConfig", "config_path", "lab_mode_active",
           "load_lab_config", "save_lab_config"]
