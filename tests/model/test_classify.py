"""Classifying a folder: the CSV, unreadable files, a stop and its resume, each format."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import write_image_folder
from tests.model.test_exports import _copy_run
from tuning_core.core.errors import DatasetError, ExportError, SettingsError
from tuning_core.model.classify import (
    ClassifyFormat,
    classify_folder,
    csv_header,
    folder_images,
    read_results,
)
from tuning_core.model.exports import export_run, parse_targets
from tuning_core.model.predict import class_names, predict

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def new_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """130 new images of the fixture's three classes (another seed), one broken file and a
    text file that is not an image at all."""
    root = write_image_folder(tmp_path_factory.mktemp("new") / "incoming",
                              {"a": 44, "b": 43, "c": 43}, size=40, seed=7)
    (root / "a" / "broken.png").write_bytes(b"not a png")
    (root / "notes.txt").write_text("ignored: not an image suffix")
    return root


def test_a_folder_becomes_one_csv_with_every_class(augmented_run: Path, new_images: Path,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    seen = []
    result = classify_folder(augmented_run, new_images, out, threshold=0.99, batch=32,
                             progress=seen.append)
    classes = class_names(augmented_run)
    assert result.total == 131 and result.classified == 130 and result.unreadable == 1
    assert result.complete and result.images_per_second > 0
    assert [p.done for p in seen] == [32, 64, 96, 128, 131]
    rows = read_results(out)
    with out.open() as handle:
        assert next(csv.reader(handle)) == csv_header(classes)
    [broken] = [r for r in rows if r["error"]]
    assert broken["path"].endswith("broken.png") and "decode" in broken["error"]
    good = [r for r in rows if not r["error"]]
    expected = {p.path: p.label for p in predict(augmented_run, [Path(r["path"]) for r in good])}
    assert {r["path"]: r["class"] for r in good} == expected
    assert sum(result.per_class.values()) == 130 and len(set(expected.values())) > 1
    low = [r for r in good if float(r["probability"]) < 0.99]
    assert result.low_confidence == len(low) and all(r["low_confidence"] == "1" for r in low)
    for row in good[:5]:  # every class's probability, summing to one
        assert abs(sum(float(row[f"p_{c}"]) for c in classes) - 1) < 1e-3


def test_a_stopped_job_resumes_where_it_stopped(augmented_run: Path, new_images: Path,
                                                tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    batches = []
    first = classify_folder(augmented_run, new_images, out, batch=16,
                            should_stop=lambda: len(batches) >= 3, progress=batches.append)
    assert first.stopped and not first.complete and len(read_results(out)) == 48
    with out.open("a") as handle:  # a kill mid-write leaves half a row: not counted as done
        handle.write(str(new_images / "c" / "c_042.png") + ",c,0.9")
    second = classify_folder(augmented_run, new_images, out, batch=16)
    assert second.resumed_from == 48 and second.complete
    rows = read_results(out)
    assert len(rows) == 131 and len({r["path"] for r in rows}) == 131


def test_bad_input_is_refused_with_one_clear_reason(augmented_run: Path, tmp_path: Path,
                                                    new_images: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        folder_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        folder_images(tmp_path / "empty")
    with pytest.raises(SettingsError, match="probability"):
        classify_folder(augmented_run, new_images, tmp_path / "x.csv", threshold=1.5)
    other = tmp_path / "other.csv"
    other.write_text("name,label\n")
    with pytest.raises(SettingsError, match="not a classify CSV"):
        classify_folder(augmented_run, new_images, other)
    with pytest.raises(ExportError, match="export it first"):
        classify_folder(_copy_run(augmented_run, tmp_path), new_images, tmp_path / "o.csv",
                        fmt="onnx")


def test_onnx_and_litert_classify_as_keras_does(augmented_run: Path, new_images: Path,
                                                tmp_path: Path) -> None:
    run_dir = _copy_run(augmented_run, tmp_path)
    export_run(run_dir, parse_targets(["onnx", "litert"]))
    files = [*folder_images(new_images)[::3], new_images / "a" / "broken.png"]
    classes = {}
    for fmt in ClassifyFormat:
        out = tmp_path / f"{fmt.value}.csv"
        result = classify_folder(run_dir, new_images, out, fmt=fmt, files=files)
        assert result.format == fmt.value and result.classified == len(files) - 1
        classes[fmt] = {r["path"]: r["class"] for r in read_results(out)}
    assert len(set(classes[ClassifyFormat.KERAS].values())) > 2
    assert classes[ClassifyFormat.ONNX] == classes[ClassifyFormat.KERAS]
    assert classes[ClassifyFormat.LITERT] == classes[ClassifyFormat.KERAS]
