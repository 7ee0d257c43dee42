"""Images: scanning and splitting a folder, the tf.data pipeline, uploads and the sample set.

* ``changes``: a data folder edited under a run: what changed since its split was fixed, and what
  each job does about it.
* ``dataset``: image folders: scan one (classes, sizes, colour modes, skipped files) and split
  it.
* ``pipeline``: the tf.data image pipeline: decode each file once, then serve batches from the
  cache.
* ``sample``: a sample dataset to try everything with: scikit-learn's handwritten digits as
  PNGs.
* ``upload_checks``: what an upload may hold: names, size limits, and which zip entries are safe
  to unpack.
* ``uploads``: datasets uploaded from the browser: unpack a zip of class folders, or save loose
  images.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "changes": ("Change", "FileChange", "FolderChanges", "Use", "compare", "stamp_files"),
    "dataset": ("DatasetSummary", "IMAGE_EXTENSIONS", "SizeStats", "Split", "SplitConfig",
                "class_warnings", "probe_image", "scan", "split_files"),
    "pipeline": ("ImageCache", "ImageConfig", "TrainingData", "load_image"),
    "sample": ("write_digits",),
    "upload_checks": ("UploadError", "UploadLimits", "copy_capped"),
    "uploads": ("META_FILE", "UploadedDataset", "delete_dataset", "extract_zip", "list_datasets",
                "save_images"),
})
