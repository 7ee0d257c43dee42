"""Tests for tuning_core.data.pipeline: decode once, serve many datasets, same pixels as predict."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.conftest import write_image_folder
from tuning_core.core.errors import DatasetError, SettingsError
from tuning_core.data import pipeline
from tuning_core.data.dataset import ImageCache, ImageConfig, scan
from tuning_core.data.pipeline import TrainingData, load_image

TINY_BUDGET_MB = 0.001  # 1 KiB: forces the cache-file mode


@pytest.fixture
def items(image_folder: Path) -> list[tuple[str, int]]:
    summary = scan(image_folder)
    return [(p, k) for k, c in enumerate(summary.classes) for p in summary.files[c]]


@pytest.fixture
def decode_counter(monkeypatch: pytest.MonkeyPatch) -> tf.Variable:
    """Counts every decode, inside tf.data graphs too: a variable the map increments."""
    counter = tf.Variable(0, dtype=tf.int64)
    original = pipeline.decode_file

    def counting(path: tf.Tensor, channels: int, size: int) -> tf.Tensor:
        counter.assign_add(1)
        return original(path, channels, size)

    monkeypatch.setattr(pipeline, "decode_file", counting)
    return counter


def _drain(data: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    batches = list(data.as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _cache(folder: Path, items: list, mode: str, tmp_path: Path, **kw) -> ImageCache:
    budget = 2048 if mode == "memory" else TINY_BUDGET_MB
    return ImageCache(folder, items, 2, ImageConfig(16, kw.pop("color", "rgb")),
                      memory_budget_mb=budget, cache_dir=tmp_path / "cache", **kw)


# --- ImageConfig -----------------------------------------------------------------------


def test_image_config_channels_validation_and_round_trip() -> None:
    assert ImageConfig().channels == 3 and ImageConfig(32, "grayscale").channels == 1
    config = ImageConfig(64, "grayscale")
    assert ImageConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for bad in (ImageConfig(4), ImageConfig(2000), ImageConfig(32, "cmyk")):
        with pytest.raises(SettingsError):
            bad.validate()


# --- decode once -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["memory", "file"])
def test_each_file_is_decoded_once(mode, image_folder, items, tmp_path, decode_counter) -> None:
    cache = _cache(image_folder, items, mode, tmp_path)
    assert cache.in_memory == (mode == "memory")
    assert int(decode_counter.numpy()) == len(items) == len(cache)
    for batch_size, shuffle in ((4, False), (7, True), (24, True)):
        images, _labels = _drain(cache.dataset(batch_size, shuffle=shuffle, seed=1))
        assert images.shape == (24, 16, 16, 3)
    cache.arrays()
    assert int(decode_counter.numpy()) == len(items)


@pytest.mark.parametrize("mode", ["memory", "file"])
def test_datasets_need_no_source_files_after_construction(mode, image_folder, items,
                                                          tmp_path) -> None:
    cache = _cache(image_folder, items, mode, tmp_path)
    for path, _ in items:
        (image_folder / path).unlink()
    images, _ = _drain(cache.dataset(5, shuffle=True))
    assert len(images) == len(items)


def test_cache_file_is_reused_by_a_new_cache(image_folder, items, tmp_path, decode_counter):
    first = _cache(image_folder, items, "file", tmp_path)
    second = _cache(image_folder, items, "file", tmp_path)
    assert int(decode_counter.numpy()) == len(items)
    assert first.cache_path == second.cache_path
    assert first.cache_path.parent == tmp_path / "cache"
    assert len(list((tmp_path / "cache").glob("*.tfcache.index"))) == 1
    np.testing.assert_array_equal(first.arrays()[0], second.arrays()[0])


def test_temporary_cache_folder_goes_with_the_cache(image_folder, items) -> None:
    cache = ImageCache(image_folder, items, 2, ImageConfig(16), memory_budget_mb=TINY_BUDGET_MB)
    folder = cache.cache_path.parent
    assert any(folder.iterdir())
    del cache
    gc.collect()
    assert not folder.exists()


# --- what the datasets yield -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["memory", "file"])
def test_dataset_yields_float_images_and_one_hot_labels(mode, image_folder, items, tmp_path):
    cache = _cache(image_folder, items, mode, tmp_path)
    first_images, first_labels = next(iter(cache.dataset(5)))
    assert first_images.dtype == tf.float32 and first_images.shape == (5, 16, 16, 3)
    assert first_labels.dtype == tf.float32 and first_labels.shape == (5, 2)
    images, one_hot = _drain(cache.dataset(5))
    uint8_images, labels = cache.arrays()
    assert uint8_images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [y for _, y in items])  # order of items
    np.testing.assert_array_equal(one_hot.argmax(axis=1), labels)
    np.testing.assert_array_equal(images, uint8_images.astype(np.float32))
    assert images.min() >= 0 and images.max() <= 255 and images.max() > 1


def test_memory_and_file_modes_agree_with_load_image(image_folder, items, tmp_path) -> None:
    in_memory = _cache(image_folder, items, "memory", tmp_path).arrays()[0]
    on_disk = _cache(image_folder, items, "file", tmp_path).arrays()[0]
    np.testing.assert_array_equal(in_memory, on_disk)
    single = load_image(image_folder / items[3][0], ImageConfig(16))
    np.testing.assert_array_equal(single, in_memory[3])
    original = np.asarray(Image.open(image_folder / items[3][0]))
    np.testing.assert_array_equal(single, original)  # same size: pixels unchanged


@pytest.mark.parametrize("mode", ["memory", "file"])
def test_shuffle_is_seeded_and_reshuffles_each_epoch(mode, image_folder, items, tmp_path):
    budget = 2048 if mode == "memory" else 12 * 16 * 16 * 3 / 2**20  # file: buffer of 12
    cache = ImageCache(image_folder, items, 2, ImageConfig(16), memory_budget_mb=budget,
                       cache_dir=tmp_path / "cache")
    assert cache.in_memory == (mode == "memory")
    data = cache.dataset(24, shuffle=True, seed=3)
    epoch1, epoch2 = _drain(data)[0], _drain(data)[0]
    again = _drain(cache.dataset(24, shuffle=True, seed=3))[0]
    np.testing.assert_array_equal(epoch1, again)
    assert not np.array_equal(epoch1, epoch2)
    reference = cache.arrays()[0]
    assert sorted(map(bytes, epoch2.astype(np.uint8))) == sorted(map(bytes, reference))


def test_training_data_shuffles_train_only(image_folder, items) -> None:
    train = ImageCache(image_folder, items, 2, ImageConfig(16))
    val = ImageCache(image_folder, items[:6], 2, ImageConfig(16))
    data = TrainingData(train, val, seed=0)
    assert not np.array_equal(_drain(data.train(8))[0], train.arrays()[0])
    np.testing.assert_array_equal(_drain(data.validation(4))[0], val.arrays()[0])


def test_grayscale_and_resize(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path, {"a": 3, "b": 3})
    summary = scan(folder)
    items = [(p, k) for k, c in enumerate(summary.classes) for p in summary.files[c]]
    cache = ImageCache(folder, items, 2, ImageConfig(8, "grayscale"))
    images, _ = cache.arrays()
    assert images.shape == (6, 8, 8, 1)
    full = load_image(folder / items[0][0], ImageConfig(16, "grayscale"))[..., 0]
    pil_gray = np.asarray(Image.open(folder / items[0][0]).convert("L"), dtype=int)
    assert np.abs(full.astype(int) - pil_gray).max() <= 1


# --- other formats, load_image ---------------------------------------------------------


def test_load_image_reads_formats_and_first_gif_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("L", (16, 16), 200).save(tmp_path / "gray.bmp")
    Image.new("RGBA", (16, 16), (0, 255, 0, 128)).save(tmp_path / "alpha.png")
    Image.new("RGB", (16, 16), (0, 0, 255)).save(tmp_path / "blue.jpg", quality=95)
    rgb = ImageConfig(16, "rgb")
    assert tuple(load_image(tmp_path / "anim.gif", rgb)[0, 0]) == (255, 0, 0)
    assert tuple(load_image(tmp_path / "alpha.png", rgb)[0, 0]) == (0, 255, 0)
    assert load_image(tmp_path / "blue.jpg", rgb)[0, 0, 2] > 240
    gray = load_image(tmp_path / "gray.bmp", ImageConfig(12, "grayscale"))
    assert gray.shape == (12, 12, 1) and gray.dtype == np.uint8 and gray[0, 0, 0] == 200
    assert load_image(tmp_path / "anim.gif", ImageConfig(16, "grayscale")).shape == (16, 16, 1)


def test_load_image_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"bad\.png"):
        load_image(tmp_path / "bad.png", ImageConfig())
    with pytest.raises(DatasetError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png", ImageConfig())
    with pytest.raises(SettingsError):
        load_image(tmp_path / "bad.png", ImageConfig(3))


def test_image_cache_errors(image_folder, items) -> None:
    with pytest.raises(DatasetError, match="empty"):
        ImageCache(image_folder, [], 2, ImageConfig(16))
    (image_folder / items[0][0]).unlink()
    with pytest.raises(DatasetError, match=str(image_folder)):
        ImageCache(image_folder, items, 2, ImageConfig(16))
    cache = ImageCache(image_folder, items[1:], 2, ImageConfig(16))
    with pytest.raises(SettingsError, match="Batch size"):
        cache.dataset(0)


def test_memory_budget_decides_the_mode(image_folder, items) -> None:
    bytes_needed = len(items) * 16 * 16 * 3
    just_fits = ImageCache(image_folder, items, 2, ImageConfig(16),
                           memory_budget_mb=bytes_needed / 2**20)
    assert just_fits.estimated_bytes == bytes_needed and just_fits.in_memory
    too_small = ImageCache(image_folder, items, 2, ImageConfig(16),
                           memory_budget_mb=(bytes_needed - 1) / 2**20)
    assert not too_small.in_memory
