"""The tf.data image pipeline: decode each file once, then serve batches from the cache.

:class:`ImageCache` decodes a file list once (read, decode the first frame, convert
channels, resize, round to uint8; a parallel map) and keeps the result: in memory as one
uint8 tensor when it fits the memory budget, else in a tf.data cache file. Every call to
:meth:`ImageCache.dataset` builds a fresh dataset over the kept images, so a search with
many trials and batch sizes decodes each file once, not once per epoch per trial.

TensorFlow is imported inside the functions: importing it takes seconds, and pages that
only read logs should not pay for it. :func:`decode_file` is the one decode path, shared
by the pipeline and :func:`load_image` (prediction), so both see identical pixels.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuning_core.core.errors import DatasetError, SettingsError

if TYPE_CHECKING:
    import tensorflow as tf

COLOR_MODES = ("rgb", "grayscale")


def _tf() -> Any:
    import tensorflow as tf  # lazily: see the module docstring

    return tf


@dataclass(frozen=True)
class ImageConfig:
    """The size (square side, pixels) and colour mode images are decoded to."""

    image_size: int = 32
    color_mode: str = "rgb"

    @property
    def channels(self) -> int:
        """3 for "rgb", 1 for "grayscale"."""
        return 1 if self.color_mode == "grayscale" else 3

    def validate(self) -> None:
        """Raise SettingsError unless 8 <= image_size <= 1024 and the mode is known."""
        size = self.image_size
        if not isinstance(size, int) or not 8 <= size <= 1024:
            raise SettingsError(f"Image size must be an integer from 8 to 1024; got {size!r}.")
        if self.color_mode not in COLOR_MODES:
            raise SettingsError(f"Colour mode must be one of {', '.join(COLOR_MODES)}; "
                                f"got {self.color_mode!r}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageConfig:
        """Rebuild a config written by :meth:`to_dict`."""
        return cls(**d)


def decode_file(path: tf.Tensor, channels: int, size: int) -> tf.Tensor:
    """Decode one image file to a uint8 tensor of shape (size, size, channels).

    Reads the file, decodes it (GIF and other animations: the first frame), converts to
    RGB or grayscale, resizes bilinearly and rounds back to uint8. Works eagerly and
    inside tf.data maps; TensorFlow raises its own errors for unreadable files.
    """
    tf = _tf()
    # channels=3 first: TensorFlow cannot decode BMP or GIF straight to one channel.
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.image.resize(image, [size, size], method="bilinear")
    image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(image, [size, size, channels])


def load_image(path: str | Path, config: ImageConfig) -> np.ndarray:
    """One image as a uint8 array (size, size, channels), decoded as in training.

    Raises:
        SettingsError: the config is invalid.
        DatasetError: the file is missing or cannot be decoded.
    """
    config.validate()
    tf = _tf()
    try:
        image = decode_file(tf.constant(str(path)), config.channels, config.image_size)
    except tf.errors.OpError as error:
        raise DatasetError(f"Cannot read image {path}: {error.message}") from error
    return image.numpy()


class ImageCache:
    """Decodes a file list once and serves fresh tf.data datasets from the decoded images.

    Images are kept in memory as one uint8 tensor when ``n * size * size * channels``
    bytes fit ``memory_budget_mb``, else written once to a tf.data cache file in
    ``cache_dir`` (a temporary folder, removed with this object, when None; keep the
    object alive while its datasets are in use). ``arrays()`` and the unshuffled
    datasets keep the order of ``items``. In the cache-file mode the shuffle buffer
    holds only as many images as the budget allows, so pass items in a random order
    (as :func:`~tuning_core.data.dataset.split_files` gives them), not grouped by class.
    """

    def __init__(self, root: str | Path, items: list[tuple[str, int]], num_classes: int,
                 config: ImageConfig, memory_budget_mb: float = 2048,
                 cache_dir: Path | None = None) -> None:
        """Decode every item now.

        Raises:
            SettingsError: the config is invalid.
            DatasetError: no items, or a listed file is missing or does not decode.
        """
        config.validate()
        if not items:
            raise DatasetError(f"No images to load from {root}: the file list is empty.")
        self._root, self._items = Path(root), list(items)
        self._num_classes, self._config = num_classes, config
        self._budget_bytes = memory_budget_mb * 2**20
        self._in_memory = self.estimated_bytes <= self._budget_bytes
        self._images: tf.Tensor | None = None
        self._labels: tf.Tensor | None = None
        self._cached: tf.data.Dataset | None = None
        self._cache_path: Path | None = None
        self._decode_all(cache_dir)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def in_memory(self) -> bool:
        """True when the decoded images are held in memory, False for a cache file."""
        return self._in_memory

    @property
    def cache_path(self) -> Path | None:
        """The tf.data cache file prefix (``<dir>/<fingerprint>.tfcache``); None in memory."""
        return self._cache_path

    @property
    def estimated_bytes(self) -> int:
        """Size of the decoded uint8 images: n * size * size * channels."""
        side = self._config.image_size
        return len(self._items) * side * side * self._config.channels

    def dataset(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
        """Batches of (float32 images 0..255 (b, size, size, ch), float32 one-hot labels).

        Shuffled (seeded, a new order each epoch) when asked; prefetched. Never decodes.

        Raises:
            SettingsError: batch_size is below 1.
        """
        tf = _tf()
        if batch_size < 1:
            raise SettingsError(f"Batch size must be at least 1; got {batch_size}.")
        data = self._source()
        if shuffle:
            data = data.shuffle(self._shuffle_buffer(), seed=seed, reshuffle_each_iteration=True)
        data = data.batch(batch_size).map(self._to_training, num_parallel_calls=tf.data.AUTOTUNE)
        return data.prefetch(tf.data.AUTOTUNE)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 images (n, size, size, ch), int64 labels (n,)), in the order of items."""
        if self._in_memory:
            assert self._images is not None and self._labels is not None  # decoded on creation
            return self._images.numpy(), self._labels.numpy().astype(np.int64)
        assert self._cached is not None  # written on creation when not in memory
        batches = list(self._cached.batch(1024).as_numpy_iterator())
        images = np.concatenate([b[0] for b in batches])
        return images, np.concatenate([b[1] for b in batches]).astype(np.int64)

    def _decode_all(self, cache_dir: Path | None) -> None:
        tf = _tf()
        try:
            if self._in_memory:
                batch = self._decoder().batch(len(self._items)).get_single_element()
                self._images, self._labels = batch
            else:
                self._write_cache_file(cache_dir)
        except tf.errors.OpError as error:
            raise DatasetError(f"Cannot decode the listed images under {self._root} "
                               f"(rescan the folder?): {error.message}") from error

    def _decoder(self) -> tf.data.Dataset:
        """(uint8 image, int32 label) for every item, decoded in parallel, in order."""
        tf = _tf()
        paths = [str(self._root / path) for path, _ in self._items]
        labels = np.array([label for _, label in self._items], dtype=np.int32)
        channels, size = self._config.channels, self._config.image_size
        data = tf.data.Dataset.from_tensor_slices((paths, labels))
        # decode_file is looked up when the map is traced, so tests can count decodes.
        return data.map(lambda path, label: (decode_file(path, channels, size), label),
                        num_parallel_calls=tf.data.AUTOTUNE)

    def _write_cache_file(self, cache_dir: Path | None) -> None:
        folder = Path(cache_dir) if cache_dir is not None else self._temporary_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = self._cache_path = folder / f"{self._fingerprint()}.tfcache"
        _remove_stale_lock(path)
        self._cached = self._decoder().cache(str(path))
        for _ in self._cached.batch(256):  # one full pass writes and closes the cache file
            pass

    def _temporary_folder(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="tuning-image-cache-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        return folder

    def _fingerprint(self) -> str:
        """Names the cache file after the files (and their size/mtime) and the config."""
        digest = hashlib.sha256(repr(sorted(asdict(self._config).items())).encode())
        for path, label in self._items:
            stat = (self._root / path).stat()
            digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:20]

    def _source(self) -> tf.data.Dataset:
        if self._in_memory:
            return _tf().data.Dataset.from_tensor_slices((self._images, self._labels))
        return self._cached

    def _shuffle_buffer(self) -> int:
        """All images when in memory; as many as the memory budget holds otherwise."""
        if self._in_memory:
            return len(self._items)
        per_image = max(1, self.estimated_bytes // len(self._items))
        return int(max(1, min(len(self._items), self._budget_bytes // per_image)))

    def _to_training(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        tf = _tf()
        return tf.cast(images, tf.float32), tf.one_hot(labels, self._num_classes)


def _remove_stale_lock(path: Path) -> None:
    """Drop the lock and temp files a crashed writer left (tf.data refuses to write then)."""
    if Path(f"{path}.index").exists():
        return  # complete: tf.data reads it instead of writing
    for leftover in path.parent.glob(f"{path.name}_*"):
        leftover.unlink(missing_ok=True)


class TrainingData:
    """What the HyperModel's fit receives: train and validation caches."""

    def __init__(self, train: ImageCache, val: ImageCache, seed: int = 0) -> None:
        self.train_cache, self.val_cache, self.seed = train, val, seed

    def train(self, batch_size: int) -> tf.data.Dataset:
        """Training batches, shuffled with the seed and reshuffled every epoch."""
        return self.train_cache.dataset(batch_size, shuffle=True, seed=self.seed)

    def validation(self, batch_size: int) -> tf.data.Dataset:
        """Validation batches, in a fixed order."""
        return self.val_cache.dataset(batch_size, shuffle=False)

    def class_weights(self) -> dict[int, float]:
        """"Balanced" weights of the training images' classes: total / (classes x count),
        so every class weighs the same in the loss however rare (a class with no training
        image gets 1)."""
        counts = np.bincount([label for _, label in self.train_cache._items],
                             minlength=self.train_cache._num_classes)
        total, classes = int(counts.sum()), len(counts)
        return {i: (total / (classes * int(n)) if n else 1.0) for i, n in enumerate(counts)}
