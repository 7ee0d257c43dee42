"""Small inline SVG charts for the run report: lines over steps, a confusion matrix.

Plain strings, no JavaScript and no fonts to fetch, so the report opens offline in any
browser and prints as it shows. Values that are None or not finite are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import TypeGuard

__all__ = ["line_chart", "confusion_table", "PALETTE"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
_W, _H, _PAD = 560, 240, 44


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _scale(low: float, high: float, size: float, flip: bool = False):
    span = (high - low) or 1.0
    return lambda v: (size - (v - low) / span * size) if flip else (v - low) / span * size


def line_chart(title: str, series: Mapping[str, Sequence[float | None]], x_label: str,
               markers: bool = False) -> str:
    """An SVG of one line per series over steps 1..n (a legend names each)."""
    points = {name: [(i + 1, v) for i, v in enumerate(values) if _finite(v)]
              for name, values in series.items()}
    values = [v for pts in points.values() for _, v in pts]
    if not values:
        return f"<p class='empty'>{escape(title)}: nothing to draw yet.</p>"
    steps = max((x for pts in points.values() for x, _ in pts), default=1)
    low, high = min(values), max(values)
    fx = _scale(1, max(2, steps), _W - 2 * _PAD)
    fy = _scale(low, high if high > low else low + 1, _H - 2 * _PAD, flip=True)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' "
             f"role='img' aria-label='{escape(title)}'>",
             f"<text x='{_PAD}' y='16' class='title'>{escape(title)}</text>",
             _axes(low, high, steps, x_label)]
    for k, (name, pts) in enumerate(points.items()):
        colour = PALETTE[k % len(PALETTE)]
        coords = " ".join(f"{_PAD + fx(x):.1f},{_PAD + fy(y):.1f}" for x, y in pts)
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' "
                     f"points='{coords}'/>")
        if markers:
            parts += [f"<circle cx='{_PAD + fx(x):.1f}' cy='{_PAD + fy(y):.1f}' r='3' "
                      f"fill='{colour}'><title>{x_label} {x}: {y:.4g}</title></circle>"
                      for x, y in pts]
        parts.append(f"<text x='{_W - _PAD - 150}' y='{30 + 14 * k}' fill='{colour}'>"
                     f"{escape(name)}</text>")
    return "".join(parts) + "</svg>"


def _axes(low: float, high: float, steps: int, x_label: str) -> str:
    bottom, right = _H - _PAD, _W - _PAD
    return (f"<line x1='{_PAD}' y1='{bottom}' x2='{right}' y2='{bottom}' stroke='#888'/>"
            f"<line x1='{_PAD}' y1='{_PAD}' x2='{_PAD}' y2='{bottom}' stroke='#888'/>"
            f"<text x='4' y='{_PAD + 4}'>{high:.3g}</text>"
            f"<text x='4' y='{bottom}'>{low:.3g}</text>"
            f"<text x='{_PAD}' y='{bottom + 16}'>1</text>"
            f"<text x='{right - 10}' y='{bottom + 16}'>{steps}</text>"
            f"<text x='{_W / 2 - 20:.0f}' y='{_H - 6}'>{escape(x_label)}</text>")


def confusion_table(matrix: list[list[int]], classes: list[str]) -> str:
    """The confusion matrix as an HTML table, each cell shaded by its share of its row."""
    head = "".join(f"<th>{escape(c)}</th>" for c in classes)
    rows = []
    for name, row in zip(classes, matrix, strict=False):
        total = sum(row) or 1
        cells = "".join(
            f"<td style='background: rgba(31,119,180,{0.08 + 0.8 * n / total:.2f})'>{n}</td>"
            for n in row)
        rows.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
    return (f"<table class='confusion'><tr><th>true \\ predicted</th>{head}</tr>"
            + "".join(rows) + "</table>")
