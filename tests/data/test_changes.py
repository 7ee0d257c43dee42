"""A data folder edited under a run (issue 27), on a real folder of PNGs: deleted, added,
renamed, replaced and corrupted images are each found, touched ones are not, and each job
goes on without what is gone (saying so) or refuses in one line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_image_folder
from tuning_core.core.errors import DatasetError
from tuning_core.data import changes
from tuning_core.data.changes import Use
from tuning_core.data.dataset import Split, SplitConfig, scan, split_files


def _saved(folder: Path, stamped: bool = True) -> dict:
    """split.json as a run's first start writes it."""
    summary = scan(folder)
    split = split_files(summary, SplitConfig())
    saved = {**split.to_dict(), "excluded": [],
             changes.SKIPPED_KEY: [s.path for s in summary.skipped]}
    if stamped:
        listed = [p for p, _ in split.train + split.val + split.test]
        saved[changes.STAMPS_KEY] = changes.stamp_files(split.root, listed)
    return json.loads(json.dumps(saved))  # as read back from the file


def _kinds(found: changes.FolderChanges) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for change in found.changes:
        out.setdefault(change.kind.value, set()).add(change.path)
    return out


def _png(path: Path, value: int) -> None:
    Image.fromarray(np.full((16, 16, 3), value, dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = write_image_folder(tmp_path / "images", {"a": 10, "b": 10, "c": 10})
    (data / "a" / "notes.txt").write_text("not an image")  # skipped at the first scan
    return data


def test_an_untouched_folder_has_no_change_and_a_touched_file_is_not_one(folder: Path) -> None:
    saved = _saved(folder)
    first = Path(saved["root"]) / saved["train"][0][0]
    os.utime(first, ns=(1, 1))  # a copy tool that reset the time; the bytes are the same
    found = changes.compare(saved)
    assert found.unchanged and found.summary() == "" and found.listed == 30
    assert found.usable(Split.from_dict(saved), Use.RETRAIN) == Split.from_dict(saved)


def test_each_kind_of_edit_is_found_and_named(folder: Path) -> None:
    saved = _saved(folder)
    split, root = Split.from_dict(saved), Path(saved["root"])
    train_a = [p for p, y in split.train if y == 0]
    gone_train, renamed, corrupt, replaced = train_a[:4]
    gone_test = split.test[0][0]
    (root / gone_train).unlink()
    (root / gone_test).unlink()
    os.rename(root / renamed, root / "a" / "renamed.png")
    (root / corrupt).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _png(root / replaced, 200)
    _png(root / "b" / "new1.png", 10)
    _png(root / "c" / "new2.png", 30)
    found = changes.compare(saved)
    assert _kinds(found) == {"gone": {gone_train, gone_test}, "renamed": {renamed},
                             "corrupt": {corrupt}, "replaced": {replaced},
                             "added": {"b/new1.png", "c/new2.png"}}
    text = found.summary()
    assert text.startswith("2 of 30 images are gone since the search (1 training, 1 test)")
    assert f"{renamed} -> a/renamed.png" in text and f"left out: {corrupt}" in text
    assert "2 new images are not used" in text and replaced in text


def test_a_resume_goes_on_without_what_is_gone_and_follows_renames(folder: Path) -> None:
    saved = _saved(folder)
    split, root = Split.from_dict(saved), Path(saved["root"])
    gone, renamed, corrupt = [p for p, _ in split.train[:3]]
    (root / gone).unlink()
    os.rename(root / renamed, root / renamed.replace(".png", "-x.png"))
    (root / corrupt).write_bytes(b"GIF89a broken")
    _png(root / "a" / "new.png", 99)
    found = changes.compare(saved)
    now = found.usable(split, Use.RESUME)
    paths = {p for p, _ in now.train}
    assert gone not in paths and corrupt not in paths and renamed not in paths
    assert renamed.replace(".png", "-x.png") in paths and len(now.train) == len(split.train) - 2
    assert "a/new.png" not in {p for p, _ in now.train + now.val + now.test}  # never added
    assert now.val == split.val and now.test == split.test
    record = found.record(split, now, Use.RESUME)
    assert record["used"]["train"] == [len(split.train) - 2, len(split.train)]
    assert sorted(record["left_out"]) == sorted([gone, corrupt])
    assert f"goes on with {len(split.train) - 2} of {len(split.train)} training" \
        in record["summary"]


def test_a_replaced_test_image_is_left_out_of_a_retrains_test_only(folder: Path) -> None:
    saved = _saved(folder)
    split, root = Split.from_dict(saved), Path(saved["root"])
    test_image, train_image = split.test[0][0], split.train[0][0]
    _png(root / test_image, 250)
    _png(root / train_image, 5)
    found = changes.compare(saved)
    retrain = found.usable(split, Use.RETRAIN)
    assert test_image not in {p for p, _ in retrain.test}
    assert len(retrain.test) == len(split.test) - 1
    assert train_image in {p for p, _ in retrain.train}  # trained on as it is now
    assert test_image in {p for p, _ in found.usable(split, Use.HEALTH).test}


def test_a_class_without_test_images_refuses_the_retrain_not_the_resume(folder: Path) -> None:
    saved = _saved(folder)
    split, root = Split.from_dict(saved), Path(saved["root"])
    for path, label in split.test:
        if label == 2:
            (root / path).unlink()
    found = changes.compare(saved)
    found.usable(split, Use.RESUME)  # a search never reads the test split
    with pytest.raises(DatasetError) as refused:
        found.usable(split, Use.RETRAIN)
    message = str(refused.value)
    assert "\n" not in message and "class 'c' has no test image left" in message
    assert message.startswith("2 of 30 images are gone since the search (2 test)")


def test_a_class_without_training_images_refuses_the_resume(folder: Path) -> None:
    saved = _saved(folder)
    split, root = Split.from_dict(saved), Path(saved["root"])
    for path, label in split.train:
        if label == 1:
            (root / path).unlink()
    with pytest.raises(DatasetError, match="class 'b' has no training image left"):
        changes.compare(saved).usable(split, Use.RESUME)


def test_a_folder_that_is_gone_refuses_every_job(folder: Path, tmp_path: Path) -> None:
    saved = _saved(folder)
    shutil.move(folder, tmp_path / "moved")
    found = changes.compare(saved)
    assert found.root_missing
    for use in Use:
        with pytest.raises(DatasetError, match=r"The data folder .* is gone"):
            found.usable(Split.from_dict(saved), use)


def test_a_file_moved_to_another_class_is_gone_and_new_never_relabelled(folder: Path) -> None:
    saved = _saved(folder)
    split, root = Split.from_dict(saved), Path(saved["root"])
    moved = next(p for p, y in split.train if y == 0)
    os.rename(root / moved, root / "b" / "from-a.png")
    found = changes.compare(saved)
    assert _kinds(found) == {"gone": {moved}, "added": {"b/from-a.png"}}


def test_a_split_without_stamps_still_tells_gone_and_new_files(folder: Path) -> None:
    saved = _saved(folder, stamped=False)
    split, root = Split.from_dict(saved), Path(saved["root"])
    (root / split.val[0][0]).unlink()
    _png(root / split.train[0][0], 1)  # cannot be told without stamps
    _png(root / "a" / "new.png", 3)
    found = changes.compare(saved)
    assert not found.stamped
    assert _kinds(found) == {"gone": {split.val[0][0]}, "added": {"a/new.png"}}
    assert found.summary().endswith("1 image file is not in the split (not used)")


def test_changes_round_trip_through_json(folder: Path) -> None:
    saved = _saved(folder)
    (Path(saved["root"]) / saved["test"][0][0]).unlink()
    found = changes.compare(saved)
    assert changes.FolderChanges.from_dict(json.loads(json.dumps(found.to_dict()))) == found
