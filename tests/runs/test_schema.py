"""Run settings (run.json's schema): workers, distribution and precision validate and
round-trip, and an older run.json reads with their defaults."""

from __future__ import annotations

import pytest


def test_workers_distribution_and_precision_validate_and_round_trip() -> None:
    from tuning_core.core.errors import SettingsError
    from tuning_core.runs.schema import TunerSettings

    settings = TunerSettings(workers=2, distribution="mirrored", mixed_precision=True)
    settings.validate()
    assert TunerSettings.from_dict(settings.to_dict()) == settings
    old = {k: v for k, v in settings.to_dict().items()
           if k not in ("workers", "distribution", "mixed_precision")}
    assert TunerSettings.from_dict(old) == TunerSettings(**old)  # an older run.json
    assert (TunerSettings.from_dict(old).workers, TunerSettings.from_dict(old).distribution,
            TunerSettings.from_dict(old).mixed_precision) == (0, "none", False)
    for bad, match in ((dict(workers=-1), "workers"), (dict(workers=1.5), "workers"),
                       (dict(distribution="tpu"), "distribution"),
                       (dict(mixed_precision="yes"), "mixed_precision")):
        with pytest.raises(SettingsError, match=match):
            TunerSettings(**bad).validate()
