"""The Monitor and the Best model page say, in a notice, what changed in a run's data folder
since its search (issue 27): the engine's summary, nothing when nothing changed."""

from __future__ import annotations

from pathlib import Path

from tests.pages.support import make_run, new_app, problems
from tuning_core.core.workspace import runs_dir
from tuning_core.runs.rundir import RunDir
from tuning_core.search import lifecycle


def test_the_monitor_and_best_pages_name_what_changed_in_the_folder(
        clean_caches, image_folder: Path) -> None:
    run_dir = make_run(runs_dir(), image_folder)
    split = lifecycle.load_or_make_split(RunDir(run_dir))
    at = new_app().run()
    for page in ("pages/monitor.py", "pages/best.py"):
        at.switch_page(page).run()
        assert not problems(at) and not at.warning, page
    (Path(split.root) / split.test[0][0]).unlink()
    for page in ("pages/monitor.py", "pages/best.py"):
        at.switch_page(page).run()
        notices = [w.value for w in at.warning]
        assert notices == ["1 of 24 images is gone since the search (1 test)"], (page, notices)
