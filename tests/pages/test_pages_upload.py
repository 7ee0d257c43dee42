"""The Data page's upload form under AppTest: a valid zip is unpacked and used, a bad one is not."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image

from tests.pages.support import new_app, problems
from tuning_core.core.workspace import data_dir


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _upload(at, name: str, payload: bytes):
    at.text_input(key="upload_name").set_value(name)
    at.file_uploader(key="upload_zip").set_value(("flowers.zip", payload, "application/zip"))
    at.run()
    [button] = [b for b in at.button if b.label == "Upload"]
    return button.click().run()


def test_a_zip_of_class_folders_is_unpacked_scanned_and_used(clean_caches) -> None:
    at = new_app().run()
    payload = _zip({f"flowers/{c}/{i}.png": _png() for c in ("roses", "tulips") for i in range(6)})
    _upload(at, "flowers", payload)
    assert not problems(at)
    assert any("Uploaded 12 images into flowers" in s.value for s in at.success)
    assert at.session_state["data.folder"] == str(data_dir() / "flowers")
    assert sorted(p.name for p in (data_dir() / "flowers").iterdir() if p.is_dir()) == \
        ["roses", "tulips"]


def test_a_zip_that_escapes_is_refused_and_leaves_nothing(clean_caches) -> None:
    at = new_app().run()
    before = sorted(p.name for p in data_dir().iterdir())
    _upload(at, "evil", _zip({"roses/a.png": _png(), "../../outside.png": _png()}))
    assert not problems(at)
    assert any("outside" in e.value or "escape" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert sorted(p.name for p in data_dir().iterdir()) == before
    assert not (Path(data_dir()).parent / "outside.png").exists()
    assert not at.get("progress"), "the Unpacking… bar stayed on screen after the refusal"
