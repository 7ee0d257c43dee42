"""What a watching page gets every second: a run's content, its HTML and the feed's answers.

* ``answers``: the live feed: what a watching page gets every second, without a Streamlit rerun.
* ``cache``: a live feed's answers: JSON of named parts with hashes, an ETag, and when to build
  anew.
* ``content``: what the live pages show of a run, built once per log position for every viewer.
* ``html``: the live feed's HTML: the Monitor's status and counts, its trial table, and the
  sidebar.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "answers": ("CHART_MS", "LIMIT_MS", "POLL_MS", "SIDEBAR_URL"),
    "cache": ("Feed", "FeedBusy", "FeedCache", "GZIP_MIN", "MIN_AGE_S", "pack"),
    "content": ("describe", "duration", "planned_trials", "progress_text", "trial_table"),
    "html": ("anchor", "part"),
})
