"""The live feed's script in the page: ``pages/assets/live_feed.js`` and its style, with the
feed's settings filled in (:mod:`tuning_core.live.answers` says how the feed works and builds
its answers; ``labweb/live.py`` serves them).
"""

from __future__ import annotations

import functools
from pathlib import Path

from tuning_core.live.answers import CHART_MS, LIMIT_MS, POLL_MS, SIDEBAR_URL

ASSETS = Path(__file__).resolve().parents[1] / "assets"  # pages/assets


@functools.cache
def script_html() -> str:
    """The style and the polling script (installs itself once per browser tab); read once."""
    script = (ASSETS / "live_feed.js").read_text()
    for name, value in (("__POLL_MS__", POLL_MS), ("__CHART_MS__", CHART_MS),
                        ("__SIDEBAR_URL__", SIDEBAR_URL), ("__LIMIT_MS__", LIMIT_MS)):
        script = script.replace(name, str(value))
    return f"<style>{(ASSETS / 'live_feed.css').read_text()}</style><script>{script}</script>"
