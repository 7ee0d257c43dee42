"""Tests for tuning_core.data.uploads: zips and loose images unpacked safely, owners respected."""

from __future__ import annotations

import io
import json
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuning_core.data.dataset import scan
from tuning_core.data.upload_checks import copy_capped
from tuning_core.data.uploads import (
    META_FILE,
    UploadedDataset,
    UploadError,
    UploadLimits,
    delete_dataset,
    extract_zip,
    list_datasets,
    save_images,
)
from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor


def _member(name: str) -> Actor:
    return Actor(User(name, Role.MEMBER))


def _admin(name: str) -> Actor:
    return Actor(User(name, Role.ADMIN))

def _png(shade: int = 100) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), shade, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(entries: dict[str, bytes] | list[tuple[str, bytes]],
         method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name is what one test wants
        for name, data in (entries.items() if isinstance(entries, dict) else entries):
            archive.writestr(name, data)
    return buffer.getvalue()


def _classes(prefix: str = "", per_class: int = 3) -> dict[str, bytes]:
    return {f"{prefix}{cls}/{cls}_{i}.png": _png(40 + 150 * k + i)
            for k, cls in enumerate(("roses", "tulips")) for i in range(per_class)}


def _tree(root: Path) -> list[str]:
    """Every path under ``root``, hidden ones included, with file sizes."""
    return sorted(f"{p.relative_to(root).as_posix()}:{p.stat().st_size if p.is_file() else ''}"
                  for p in root.rglob("*"))


def _patch_central(data: bytes, entry: str, **fields: int) -> bytes:
    """Overwrite fields of one entry's central-directory header (what zipfile trusts)."""
    offsets = {"flags": (8, "<H"), "compress_size": (20, "<I"), "file_size": (24, "<I")}
    start = data.index(b"PK\x01\x02")
    while data[start + 46:start + 46 + len(entry)] != entry.encode():
        start = data.index(b"PK\x01\x02", start + 4)
    out = bytearray(data)
    for name, value in fields.items():
        offset, fmt = offsets[name]
        struct.pack_into(fmt, out, start + offset, value)
    return bytes(out)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder that already holds someone's dataset."""
    folder = tmp_path / "data"
    extract_zip(io.BytesIO(_zip(_classes())), folder, "existing", "zoe")
    return folder


# --- a good zip ------------------------------------------------------------------------


def test_nested_zip_is_unpacked_and_scans_with_its_classes(data_dir: Path) -> None:
    entries = {**_classes("flowers/"), "flowers/README.txt": b"notes",
               "__MACOSX/flowers/._a.png": b"junk", "flowers/.DS_Store": b"x"}
    calls: list[tuple[int, int]] = []
    dataset = extract_zip(io.BytesIO(_zip(entries)), data_dir, "flowers-1", "ann",
                          progress=lambda done, total: calls.append((done, total)))
    assert (dataset.name, dataset.owner, dataset.files, dataset.skipped) == \
        ("flowers-1", "ann", 6, 3)
    assert dataset.bytes == sum(len(v) for k, v in entries.items() if k.endswith(".png")
                                and "MACOSX" not in k)
    summary = scan(data_dir / "flowers-1")
    assert summary.classes == ["roses", "tulips"] and summary.num_images == 6
    assert summary.skipped == []  # the metadata file is hidden from the scanner
    assert calls[0] == (0, dataset.bytes) and calls[-1] == (dataset.bytes, dataset.bytes)
    assert [d.name for d in list_datasets(data_dir)] == ["existing", "flowers-1"]
    assert list_datasets(data_dir)[1] == dataset


def test_zip_with_class_folders_at_the_top_is_not_stripped(tmp_path: Path) -> None:
    source = tmp_path / "upload.zip"
    source.write_bytes(_zip(_classes()))
    extract_zip(source, tmp_path / "data", "plain", "ann")
    assert scan(tmp_path / "data" / "plain").classes == ["roses", "tulips"]


def test_dataset_record_round_trips_json(data_dir: Path) -> None:
    (record,) = list_datasets(data_dir)
    assert UploadedDataset.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert json.loads((data_dir / "existing" / META_FILE).read_text())["owner"] == "zoe"


# --- refused zips: data_dir stays exactly as it was ----------------------------------------


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in _classes().items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("roses/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _encrypted_zip() -> bytes:
    data = _zip(_classes())  # zipfile cannot encrypt: set the flag bit it would carry
    return _patch_central(data, "tulips/tulips_0.png", flags=0x1)


def _lying_zip() -> bytes:
    """Headers say 100 bytes; the entry inflates to 300 kB (and it is written last)."""
    data = _zip({**_classes(), "tulips/zz.png": b"\0" * 300_000})
    return _patch_central(data, "tulips/zz.png", file_size=100)


REFUSED = {
    "parent": (lambda: _zip({**_classes(), "../evil.png": _png()}), "outside the dataset"),
    "nested parent": (lambda: _zip({**_classes(), "roses/../../x.png": _png()}), "outside"),
    "absolute": (lambda: _zip({**_classes(), "/abs/evil.png": _png()}), "outside"),
    "drive letter": (lambda: _zip({**_classes(), "C:/evil.png": _png()}), "drive letter"),
    "backslash": (lambda: _zip({**_classes(), "roses\\..\\..\\e.png": _png()}), "backslash"),
    "symlink": (_symlink_zip, "symbolic link"),
    "ratio bomb": (lambda: _zip({**_classes(), "roses/bomb.png": b"\0" * 2_000_000}),
                   "expands .* times"),
    "lying header": (_lying_zip, "damaged"),
    "not a zip": (lambda: b"GIF89a this is not a zip at all" * 10, "not one or is damaged"),
    "empty file": (lambda: b"", "not one or is damaged"),
    "truncated zip": (lambda: _zip(_classes())[:-30], "not one or is damaged"),
    "encrypted": (_encrypted_zip, "encrypted"),
    "no images": (lambda: _zip({"a/notes.txt": b"x", "b/data.csv": b"1,2"}), "no images"),
    "twice": (lambda: _zip([*_classes().items(), ("roses/roses_0.png", _png(1))]), "twice"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_zip_leaves_nothing_behind(data_dir: Path, case: str) -> None:
    make, message = REFUSED[case]
    before = _tree(data_dir)
    with pytest.raises(UploadError, match=message):
        extract_zip(io.BytesIO(make()), data_dir, "new", "ann")
    assert _tree(data_dir) == before


@pytest.mark.parametrize(("limits", "message"), [
    (UploadLimits(max_files=5), "holds 6 files; at most 5"),
    (UploadLimits(max_file_mb=0.00001), "at most 1e-05 MB per file"),
    (UploadLimits(max_total_mb=0.0002), "at most 0.0002 MB are accepted"),
])
def test_zip_over_the_limits_is_refused(data_dir: Path, limits: UploadLimits,
                                        message: str) -> None:
    before = _tree(data_dir)
    with pytest.raises(UploadError, match=message):
        extract_zip(io.BytesIO(_zip(_classes())), data_dir, "new", "ann", limits)
    assert _tree(data_dir) == before


def test_streaming_cap_counts_bytes_actually_read() -> None:
    out = io.BytesIO()
    assert copy_capped(io.BytesIO(b"x" * 10), out, cap=10) == 10
    with pytest.raises(OverflowError):
        copy_capped(io.BytesIO(b"x" * 11), io.BytesIO(), cap=10)
    big = io.BytesIO(b"y" * (3 * 1024 * 1024))
    target = io.BytesIO()
    with pytest.raises(OverflowError):
        copy_capped(big, target, cap=1024 * 1024 + 5)
    assert len(target.getvalue()) == 1024 * 1024  # nothing past the cap was written


@pytest.mark.parametrize("name", ["existing", "../up", ".hidden", "a/b", "x" * 65, ""])
def test_taken_or_unsafe_names_are_refused(data_dir: Path, name: str) -> None:
    before = _tree(data_dir)
    with pytest.raises(UploadError, match=r"already exists|1 to 64 letters"):
        extract_zip(io.BytesIO(_zip(_classes())), data_dir, name, "ann")
    assert _tree(data_dir) == before


# --- loose images --------------------------------------------------------------------------


def _files(*names: str) -> list[tuple[str, io.BytesIO]]:
    return [(name, io.BytesIO(_png(i))) for i, name in enumerate(names)]


def test_loose_images_are_saved_sanitised_and_never_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = save_images(_files("a.png", "../../evil.png", "my photo.PNG", "notes.txt"),
                        data, "pets", "cats", "ann")
    folder = data / "pets" / "cats"
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "evil.png", "my_photo.PNG"]
    assert (first.files, first.skipped, first.owner) == (3, 1, "ann")
    assert first.renamed == {"../../evil.png": "evil.png", "my photo.PNG": "my_photo.PNG"}
    second = save_images(_files("a.png", "b.jpg"), data, "pets", "cats", "ann")
    assert second.renamed == {"a.png": "a-1.png"} and second.files == 5
    assert (folder / "a.png").read_bytes() == _png(0)  # the first a.png is untouched
    save_images(_files("d.png"), data, "pets", "dogs", "ann")
    assert scan(data / "pets").counts == {"cats": 5, "dogs": 1}


def test_loose_images_refusals_write_nothing(data_dir: Path) -> None:
    before = _tree(data_dir)
    with pytest.raises(UploadError, match=r"uploaded by zoe\); ann may add images only"):
        save_images(_files("a.png"), data_dir, "existing", "roses", "ann")
    with pytest.raises(UploadError, match="None of the 1 uploaded files"):
        save_images(_files("a.txt"), data_dir, "new", "cats", "ann")
    with pytest.raises(UploadError, match="more than"):
        save_images(_files("a.png", "b.png"), data_dir, "existing", "roses", "zoe",
                    UploadLimits(max_total_mb=0.0001))  # room for one 77-byte image
    with pytest.raises(UploadError, match="More than 1 images"):
        save_images(_files("a.png", "b.png"), data_dir, "new", "cats", "ann",
                    UploadLimits(max_files=1))
    with pytest.raises(UploadError, match="class name"):
        save_images(_files("a.png"), data_dir, "new", "../cats", "ann")
    assert _tree(data_dir) == before


# --- listing and deleting --------------------------------------------------------------------


def test_folders_without_a_record_are_listed_without_owner(data_dir: Path) -> None:
    (data_dir / "digits" / "0").mkdir(parents=True)
    (data_dir / "digits" / "0" / "a.png").write_bytes(_png())
    digits = list_datasets(data_dir)[0]
    assert (digits.name, digits.owner, digits.files) == ("digits", "", 1)


def test_delete_by_owner_or_admin_only(data_dir: Path) -> None:
    with pytest.raises(UploadError, match="belongs to zoe; ann may not delete"):
        delete_dataset(data_dir, "existing", _member("ann"))
    assert (data_dir / "existing").is_dir()
    delete_dataset(data_dir, "existing", _member("zoe"))
    assert list_datasets(data_dir) == [] and list(data_dir.iterdir()) == []
    (data_dir / "digits").mkdir()
    with pytest.raises(UploadError, match="nobody"):
        delete_dataset(data_dir, "digits", _member("ann"))
    delete_dataset(data_dir, "digits", _admin("root"))
    assert list(data_dir.iterdir()) == []


def test_delete_refuses_anything_but_a_direct_child(data_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (data_dir / "link").symlink_to(outside)
    for name in ("..", "../precious", "link", "missing", "existing/roses"):
        with pytest.raises(UploadError):
            delete_dataset(data_dir, name, _admin("root"))
    assert outside.is_dir() and (data_dir / "existing" / "roses").is_dir()


def test_bytes_past_the_declared_size_are_refused_while_unpacking(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that does not stop at the header's size (zipfile does, by its CRC check):
    the unpacker's own byte count still stops it, and the files written so far go."""
    upload, real_open = _lying_zip(), zipfile.ZipFile.open

    def endless(self: zipfile.ZipFile, name: object, *args: object,
                **kwargs: object) -> object:
        if getattr(name, "filename", name) == "tulips/zz.png" and "w" not in args:
            return io.BytesIO(b"\0" * 500_000)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", endless)
    before = _tree(data_dir)
    with pytest.raises(UploadError, match=r"'tulips/zz\.png' holds more than the 100 bytes"):
        extract_zip(io.BytesIO(upload), data_dir, "new", "ann")
    assert _tree(data_dir) == before
