"""A sample dataset to try everything with: scikit-learn's handwritten digits as PNGs.

``load_digits()`` ships 1,797 real 8x8 scans of the digits 0-9 inside scikit-learn (no
download). They are enlarged so that they survive several pooling layers and written as
grayscale PNG class folders, the layout :func:`tuning_core.data.dataset.scan` expects.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from tuning_core.core.errors import DatasetError, SettingsError


def write_digits(folder: str | Path, size: int = 32) -> Path:
    """Write the digits as ``folder/<digit>/<digit>_<index>.png``, size x size grayscale.

    Values 0..16 are scaled to 0..255 and enlarged bilinearly. Idempotent: files that
    already exist are kept, so a complete folder is left as it is. Returns the folder.

    Raises:
        SettingsError: size is not an integer from 8 to 1024.
        DatasetError: ``folder`` is an existing file.
    """
    if not isinstance(size, int) or not 8 <= size <= 1024:
        raise SettingsError(f"Sample image size must be an integer from 8 to 1024; got {size!r}.")
    root = Path(folder).expanduser()
    if root.exists() and not root.is_dir():
        raise DatasetError(f"Expected a folder to write the sample digits into, got a file: "
                           f"{root}")
    images, targets = _load_digits()
    for index, (pixels, digit) in enumerate(zip(images, targets, strict=True)):
        path = root / str(digit) / f"{digit}_{index:04d}.png"
        if not path.exists():
            _write_png(path, _enlarge(pixels, size))
    return root


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # lazily: scikit-learn imports slowly

    digits = load_digits()
    return digits.images, digits.target


def _enlarge(pixels: np.ndarray, size: int) -> Image.Image:
    """An 8x8 array of 0..16 as a size x size grayscale image (bilinear)."""
    scaled = Image.fromarray((pixels * (255.0 / 16.0)).astype(np.float32))
    enlarged = np.asarray(scaled.resize((size, size), Image.Resampling.BILINEAR))
    return Image.fromarray(np.clip(np.rint(enlarged), 0, 255).astype(np.uint8))


def _write_png(path: Path, image: Image.Image) -> None:
    """Write via a temporary name, so an interrupted run leaves no half-written PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name per writer: two sessions may press "Use sample dataset" at the same moment.
    partial = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.partial")
    image.save(partial, format="PNG")
    os.replace(partial, path)
