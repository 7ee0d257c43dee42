"""The Best model page's *Classify a folder* under AppTest: queue, follow, read the results."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_image_folder
from tests.pages.support import click, problems
from tests.pages.test_pages_exports import _open_best
from tuning_core.jobs.classify import classify_queue

pytestmark = pytest.mark.training


def test_a_folder_is_classified_in_the_background(clean_caches, augmented_run: Path,
                                                  tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "incoming", {"a": 6, "b": 6, "c": 6}, size=32,
                                seed=9)
    (folder / "c" / "broken.png").write_bytes(b"nothing")
    at, run = _open_best(augmented_run)
    assert at.button(key="classify_start").disabled  # nothing chosen yet
    at.text_input(key="classify_folder").set_value(str(folder))
    at.slider(key="classify_threshold").set_value(0.95).run()
    click(at, "Classify")
    assert not problems(at) and not at.error, [e.value for e in at.error]
    assert classify_queue().wait(timeout=120)
    at.run()
    assert not problems(at)
    [done] = [s.value for s in at.success if "Classified" in s.value]
    assert "18 images of incoming" in done
    caption = next(c.value for c in at.caption if "unreadable" in c.value)
    assert caption.startswith("18 classified") and "1 unreadable" in caption
    assert "Download results (CSV)" in {b.label for b in at.get("download_button")}
    assert any("Least confident" in m.value for m in at.markdown)
    [job] = classify_queue().jobs(run)
    assert job.owner == "local" and job.result["classified"] == 18


def test_the_upload_choice_shows_an_uploader(clean_caches, augmented_run: Path) -> None:
    at, _ = _open_best(augmented_run)
    at.radio(key="classify_source").set_value("Upload images").run()
    assert not problems(at)
    assert at.get("file_uploader")  # the uploader replaces the folder field
    assert not [t for t in at.text_input if t.key == "classify_folder"]
