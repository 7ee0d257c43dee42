"""The README's screenshots: which pages, in which order, and the day each was taken.

``make screenshots`` runs the browser tests that reach each page with ``SCREENSHOTS=1``; each
saves ``docs/screenshots/<name>.png``, notes the day in ``taken.json`` beside them, and
redraws the table between the README's two markers, so a caption never claims a date that
its picture does not have.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

# name: caption, in the order a user meets them
PAGES = {
    "data": "Data: a folder, the sample or an upload",
    "space": "Search space, layer by layer",
    "search": "Search: launch, budget and queue",
    "monitor": "Monitor: live trials, curves, importance",
    "best": "Best model: retrain, test, confusion",
    "exports": "Best model: checked exports",
    "front": "Best model: objective against cost",
    "health": "Best model: data health",
    "runs": "Runs: find, name, tag",
    "compare": "Compare runs",
}
START, END = "<!-- screenshots:start -->", "<!-- screenshots:end -->"
TAKEN = "taken.json"


def record(folder: Path, name: str, day: datetime.date) -> None:
    """Note that ``name``'s screenshot was taken on ``day``."""
    path = folder / TAKEN
    taken = json.loads(path.read_text()) if path.is_file() else {}
    taken[name] = day.isoformat()
    path.write_text(json.dumps(dict(sorted(taken.items())), indent=1) + "\n")


def table(folder: Path, link_base: str = "docs/screenshots") -> str:
    """The README's table: two screenshots a row, each captioned with its date."""
    path = folder / TAKEN
    taken = json.loads(path.read_text()) if path.is_file() else {}
    cells = [f"![{caption}]({link_base}/{name}.png)<br>*{caption}, taken {taken[name]}*"
             for name, caption in PAGES.items() if name in taken]
    rows = ["| | |", "|---|---|"]
    for i in range(0, len(cells), 2):
        pair = [*cells[i:i + 2], ""][:2]
        rows.append(f"| {pair[0]} | {pair[1]} |")
    return "\n".join(rows)


def update_readme(readme: Path, folder: Path) -> None:
    """Redraw the table between the README's markers."""
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table(folder)}\n{END}{tail}")
