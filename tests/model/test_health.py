"""Data health: planted wrong labels found by confident learning, a planted duplicate across
the split flagged as a leak, outliers, and the exclusion list a new run's split obeys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_image_folder
from tuning_core.model.health import (
    FlagKind,
    check_run,
    duplicate_flags,
    duplicate_pairs,
    label_flags,
    load_health,
    out_of_sample_probabilities,
    outlier_flags,
    precision_recall,
    thumbnails,
)
from tuning_core.runs import exclusions
from tuning_core.runs.rundir import RunDir


def tiny_classifier(size: int, classes: int) -> keras.Model:
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy")
    return model


@pytest.mark.training
def test_most_planted_wrong_labels_are_found_and_few_others(tmp_path):
    root = write_image_folder(tmp_path / "data", {"a": 30, "b": 30, "c": 30}, size=12)
    files = sorted(root.glob("*/*.png"))
    rng = np.random.default_rng(3)
    flipped = set(rng.choice(len(files), size=9, replace=False).tolist())
    classes = ["a", "b", "c"]
    labels = np.array([classes.index(f.parent.name) for f in files])
    for i in flipped:
        labels[i] = (labels[i] + 1 + rng.integers(2)) % 3  # a wrong class
    images = np.stack([np.asarray(Image.open(f), dtype="float32") for f in files])
    probabilities = out_of_sample_probabilities(images, labels, 3, lambda: tiny_classifier(12, 3),
                                                folds=3, epochs=30)
    flags = label_flags([f.name for f in files], labels, probabilities, classes)
    found = {f.path for f in flags}
    precision, recall = precision_recall(found, {files[i].name for i in flipped})
    assert recall >= 0.75 and precision >= 0.75, (precision, recall)
    first = flags[0]
    assert first.kind is FlagKind.LABEL and first.given != first.suggested
    assert f"labelled {first.given}, but a model that never saw it says" in first.reason


@pytest.mark.training
def test_a_duplicate_across_the_split_is_a_leak_and_within_it_a_duplicate(tmp_path):
    root = write_image_folder(tmp_path / "data", {"a": 6, "b": 6}, size=16)
    files = sorted(root.glob("*/*.png"))
    shutil.copyfile(files[0], files[7])  # an exact copy, in another part below
    near = np.asarray(Image.open(files[1]), dtype="int16") + 1  # a brightness-shifted copy
    Image.fromarray(np.clip(near, 0, 255).astype("uint8")).save(files[2])
    pairs = duplicate_pairs(files, thumbnails(files))
    assert [(i, j) for i, j, _ in pairs] == [(0, 7), (1, 2)]
    parts = ["train"] * 6 + ["test"] * 6
    flags = duplicate_flags([f.name for f in files], parts, pairs)
    leak, duplicate = flags
    assert leak.kind is FlagKind.LEAK and leak.other == files[0].name
    assert "in train while this one is in test" in leak.reason
    assert duplicate.kind is FlagKind.DUPLICATE and "nearly identical" in duplicate.reason


def test_an_image_unlike_the_rest_is_an_outlier(tmp_path):
    root = write_image_folder(tmp_path / "data", {"a": 15, "b": 15}, size=16)
    files = sorted(root.glob("*/*.png"))
    stripes = np.zeros((16, 16, 3), "uint8")
    stripes[::2] = 255
    Image.fromarray(stripes).save(files[4])
    labels = np.array([f.parent.name == "b" for f in files], dtype=int)
    flags = outlier_flags([f.name for f in files], thumbnails(files), labels)
    assert [f.path for f in flags] == [files[4].name]


@pytest.fixture(scope="module")
def planted_run(augmented_run, tmp_path_factory) -> tuple[Path, str, str]:
    """A copy of the augmented run (and its images) with a test image replaced by a copy of
    a training image; checked once. Returns (run, the train file, the test file)."""
    home = tmp_path_factory.mktemp("health")
    run = Path(shutil.copytree(augmented_run, home / "runs" / augmented_run.name))
    split = json.loads((run / "split.json").read_text())
    data = Path(shutil.copytree(split["root"], home / "images"))
    split["root"] = str(data)
    (run / "split.json").write_text(json.dumps(split))
    train, test = split["train"][0][0], split["test"][0][0]
    shutil.copyfile(data / train, data / test)
    check_run(run, folds=2, epochs=1)
    return run, train, test


@pytest.mark.training
def test_a_run_check_flags_the_planted_leak_and_is_saved(planted_run):
    run, train, test = planted_run
    report = load_health(run)
    leaks = report.of_kind(FlagKind.LEAK)
    assert [(f.path, f.other) for f in leaks] == [(test, train)] or \
        [(f.other, f.path) for f in leaks] == [(test, train)]
    assert report.images == 90 and report.folds == 2 and report.seconds > 0


@pytest.mark.training
def test_excluded_files_leave_the_next_runs_split_and_come_back_when_restored(planted_run):
    from tests.pages.support import make_run
    from tuning_core.search.lifecycle import load_or_make_split

    run, _, _test = planted_run
    leak = load_health(run).of_kind(FlagKind.LEAK)[0]
    listed = exclusions.exclude(run, [exclusions.Exclusion(leak.path, leak.reason, "leak")])
    assert listed.paths == {leak.path} and listed.entries[0].by == "local"
    root = Path(RunDir(run).load_split()["root"])
    following = make_run(run.parent, root, trials=0, finished=False)
    split = load_or_make_split(RunDir(following))
    every = [p for part in (split.train, split.val, split.test) for p, _ in part]
    assert leak.path not in every and len(every) == 89
    assert RunDir(following).load_split()["excluded"] == [leak.path]
    assert exclusions.restore(run, {leak.path}).entries == ()
    again = load_or_make_split(RunDir(make_run(run.parent, root, trials=0, finished=False)))
    assert leak.path in [p for part in (again.train, again.val, again.test) for p, _ in part]


def test_label_errors_are_not_judged_from_models_near_chance():
    from tuning_core.model.health import judge_models

    labels = np.array([0] * 6 + [1] * 4)
    weak = np.tile([0.55, 0.45], (10, 1))  # always the larger class: right on 60%
    accuracy, note = judge_models(labels, weak)
    assert accuracy == 0.6 and "label errors not judged" in note and "60%" in note
    strong = np.eye(2)[labels] * 0.8 + 0.1
    strong[0] = [0.1, 0.9]  # one disagreement: right on 90%
    assert judge_models(labels, strong) == (0.9, "")


@pytest.mark.training
def test_a_whole_run_with_models_too_weak_judges_no_labels(augmented_run, tmp_path):
    """The run's labels shuffled (every class the same mix of images): the folds' models
    cannot beat guessing, so check_run says the labels are not judged, flags no label, and
    still reports the other checks (the refusal, tested on a whole run, not only on
    judge_models' arithmetic)."""
    run = Path(shutil.copytree(augmented_run, tmp_path / "runs" / augmented_run.name))
    split = json.loads((run / "split.json").read_text())
    rng = np.random.default_rng(0)
    for part in ("train", "val", "test"):
        labels = rng.permutation([y for _, y in split[part]])
        split[part] = [[p, int(y)] for (p, _), y in zip(split[part], labels, strict=True)]
    (run / "split.json").write_text(json.dumps(split))
    report = check_run(run, folds=2, epochs=2)
    assert report.note.startswith("label errors not judged") and report.oos_accuracy < 0.67
    assert report.of_kind(FlagKind.LABEL) == [] and report.images == 90
    assert load_health(run).note == report.note
