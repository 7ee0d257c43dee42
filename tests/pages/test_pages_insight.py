"""AppTest of the Best page's explanations and data health: made in the background, listed
with reasons, flagged files excluded and restored (a copy of the shared trained run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.pages.support import (
    click,
    new_app,
    problems,
)
from tuning_core.core.background import TASKS
from tuning_core.core.workspace import runs_dir
from tuning_core.runs import exclusions


@pytest.fixture
def planted(clean_caches, augmented_run, tmp_path) -> tuple[Path, str]:
    """The trained run copied into the workspace, a test image replaced by a train image."""
    run = Path(shutil.copytree(augmented_run, runs_dir() / augmented_run.name))
    split = json.loads((run / "split.json").read_text())
    data = Path(shutil.copytree(split["root"], tmp_path / "images"))
    split["root"] = str(data)
    (run / "split.json").write_text(json.dumps(split))
    shutil.copyfile(data / split["train"][0][0], data / split["test"][0][0])
    return run, split["test"][0][0]


def best_page():
    at = new_app().run()
    return at.switch_page("pages/best.py").run()


@pytest.mark.training
def test_explanations_are_made_in_the_background_and_shown(planted):
    run, _ = planted
    at = best_page()
    click(at, "Explain the test images")
    assert TASKS.wait("explain", run, timeout=120)
    at.run()
    assert not problems(at) and not at.error, [e.value for e in at.error]
    tabs = [t.label for t in at.tabs]
    assert tabs[0].startswith("Misclassified (") and tabs[1].startswith("Most confused pairs")
    assert "Explain the test images" not in [b.label for b in at.button]  # it is current


@pytest.mark.training
def test_the_health_list_flags_the_leak_and_excludes_and_restores_it(planted):
    run, test_file = planted
    at = best_page()
    click(at, "Check the data")
    assert TASKS.wait("health", run, timeout=300)
    at.run()
    assert not problems(at) and not at.error, [e.value for e in at.error]
    leak = [e for e in at.expander if e.label.startswith("Duplicates across the split")]
    assert leak and test_file in " ".join(m.value for m in leak[0].markdown)
    leak[0].button(key="exclude_leak_0").click().run()
    assert exclusions.for_run(run)[1].paths == {test_file}
    at.multiselect(key="exclusions_restore").set_value([test_file]).run()
    click(at, "Restore")
    assert exclusions.for_run(run)[1].paths == set()


def test_the_search_page_says_how_many_files_the_new_run_leaves_out(clean_caches,
                                                                   image_folder: Path):
    listed = exclusions.ExclusionList(str(image_folder)).added(
        [exclusions.Exclusion("cats/cats_000.png", "a leak", "leak")])
    exclusions.save(runs_dir(), listed)
    at = new_app().run()
    at.text_input(key="w:data.folder").set_value(str(image_folder))
    click(at, "Scan folder")
    at.switch_page("pages/search.py").run()
    assert not problems(at)
    assert any(c.value.startswith("1 file(s) of this dataset are left out of new runs")
               for c in at.caption)
