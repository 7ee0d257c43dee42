"""The results table: printed to the terminal and written to ``bench/results.md``."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness.common import FigureResult

LIBRARIES = ("tensorflow", "keras", "keras-tuner", "numpy", "pandas", "plotly")


def machine() -> dict[str, Any]:
    """Cores, memory, Python and library versions, and the date, for the results header."""
    info: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M %Z"),
                            "cpu cores": os.cpu_count(), "memory GiB": _memory_gib(),
                            "python": platform.python_version(), "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = "not installed"
    with contextlib.suppress(OSError):
        info["load average (1 min, at the end)"] = round(os.getloadavg()[0], 2)
    return info


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "informs"}[met]


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table from dicts sharing their keys (the first row's keys are the columns)."""
    if not rows:
        return ""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def figure_tables(rows: list[dict[str, Any]], heading: str = "###") -> list[str]:
    """A figure's rows as Markdown lines: one table, or, when the rows name a ``dataset`` (or a
    ``table``), one table per dataset under its own heading (a table mixing datasets hides
    each one's ratio; a figure's summary and its raw windows have different columns)."""
    if not rows:
        return []
    key = next((k for k in ("dataset", "table") if k in rows[0]), None)
    if key is None:
        return [markdown_table(rows), ""]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        rest = {k: v for k, v in row.items() if k != key}
        groups.setdefault(str(row[key]), []).append(rest)
    lines: list[str] = []
    for name, group in groups.items():
        lines += [f"{heading} {name}", "", markdown_table(group), ""]
    return lines


def summary_rows(figures: list[FigureResult]) -> list[dict[str, Any]]:
    return [{"#": f.number, "figure": f.title, "measured": f.value, "goal": f.goal,
             "verdict": verdict(f.met), "took s": round(f.seconds)} for f in figures]


def text_table(figures: list[FigureResult]) -> str:
    """A plain-text table for the terminal."""
    rows = summary_rows(figures)
    if not rows:
        return "(no figures)"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    line = lambda r: "  ".join(str(r[c]).ljust(widths[c]) for c in columns)  # noqa: E731
    return "\n".join([line({c: c for c in columns})] + [line(r) for r in rows])


def render(figures: list[FigureResult], info: dict[str, Any], mode: str, total_s: float,
           extra: list[str] | None = None, patched: list[FigureResult] | None = None) -> str:
    """The whole results.md text; ``patched``: figures measured with proposed engine changes."""
    met = sum(1 for f in figures if f.met)
    goals = sum(1 for f in figures if f.met is not None)
    parts = ["# Benchmark results", "",
             f"`make bench` ({mode}), {total_s / 60:.1f} min in all. {met} of {goals} goals met. "
             "Machines here are shared and noisy: figures are medians, and each ratio was "
             "measured within one run.", "", "## Summary", "",
             markdown_table(summary_rows(figures)), "", "## Machine", "",
             markdown_table([{"what": k, "value": v} for k, v in info.items()])]
    for f in figures:
        parts += ["", f"## {f.number}. {f.title}: {verdict(f.met)}", "", f"Goal: {f.goal}.",
                  f"Measured: {f.value}.", ""]
        parts += figure_tables(f.rows)
        parts += [f"- {note}" for note in f.notes]
    if patched:
        parts += ["", "## With the proposed engine changes (same run)", "",
                  "Each figure below ran again with the change(s) named in its last note "
                  "applied as a monkeypatch (`bench/harness/patches.py`); the engine itself is "
                  "unchanged.",
                  "", markdown_table(summary_rows(patched))]
        for f in patched:
            parts += ["", f"### {f.number}. {f.title}, patched: {verdict(f.met)}", ""]
            parts += figure_tables(f.rows, heading="####")
            parts += [f"- {note}" for note in f.notes]
    if extra:
        parts += ["", *extra]
    return "\n".join(parts) + "\n"


def write(path: Path, text: str) -> None:
    path.write_text(text)
