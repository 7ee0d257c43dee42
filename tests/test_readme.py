"""The README's screenshots are the ones in docs/screenshots/, each captioned with its date."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from tests.browser import gallery

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "screenshots"


def test_the_readme_shows_every_screenshot_with_the_day_it_was_taken() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(gallery.START, 1)[1].split(gallery.END, 1)[0].strip()
    assert block == gallery.table(FOLDER)
    taken = json.loads((FOLDER / gallery.TAKEN).read_text())
    assert set(taken) == set(gallery.PAGES)  # Compare, the front, exports and health included
    for name, day in taken.items():
        assert (FOLDER / f"{name}.png").is_file(), name
        assert f"({'docs/screenshots'}/{name}.png)<br>*" in block
        assert f"taken {datetime.date.fromisoformat(day).isoformat()}*" in block


def test_the_table_is_redrawn_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{gallery.START}\nSTALE TABLE\n{gallery.END}\nrest\n")
    gallery.record(tmp_path, "data", datetime.date(2026, 1, 2))
    gallery.record(tmp_path, "monitor", datetime.date(2026, 1, 3))
    gallery.update_readme(readme, tmp_path)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{gallery.END}\nrest\n")
    assert "STALE TABLE" not in text and "taken 2026-01-02*" in text and "taken 2026-01-03*" in text
    assert text.index("data.png") < text.index("monitor.png")  # in the order a user meets them
