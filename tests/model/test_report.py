"""The run report: every section, nothing fetched from outside, audited in lab mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tuning_core.lab.accounts import Role, User
from tuning_core.lab.actor import Actor
from tuning_core.lab.audit import AuditLog
from tuning_core.model.report import download_report, report_html, write_report

SECTIONS = ("Data", "Search space and tuner", "Trials", "Best model", "Exports", "Provenance")


def external_references(html: str) -> list[str]:
    """Every src/href that is not inline data or a link inside the page."""
    return [v for v in re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)""", html)
            if not v.startswith(("data:", "#"))]


def test_report_of_a_run_without_a_best_model(tmp_path: Path) -> None:
    from tests.conftest import write_image_folder
    from tests.pages.support import make_run

    run = make_run(tmp_path / "runs", write_image_folder(tmp_path / "images"))
    html = report_html(run)
    assert all(f"<h2>{s}</h2>" in html for s in SECTIONS)
    assert "Not retrained yet" in html and "in local mode" in html
    assert external_references(html) == []


@pytest.mark.training
def test_report_of_a_retrained_run(augmented_run: Path, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    viewer = Actor(User("vic", Role.VIEWER), audit=audit)
    path = write_report(augmented_run, tmp_path / "report.html", actor=viewer)
    html = path.read_text()
    assert all(f"<h2>{s}</h2>" in html for s in SECTIONS)
    assert html.count("<svg") == 3  # the objective, loss and accuracy charts
    assert "confusion" in html and "augment_zoom" in html and "keras-tuner" in html
    assert "(95% interval " in html and "recall 95% interval" in html  # honest margins
    from tuning_core.model.best import load_evaluation

    wrong = len(load_evaluation(augmented_run)["misclassified"])
    assert html.count("data:image/png;base64,") == min(8, wrong)  # inline images
    assert external_references(html) == []
    assert download_report(augmented_run, actor=viewer).startswith("<!DOCTYPE html>")
    assert [(e.action.value, e.detail) for e in audit.latest()] == [
        ("report", "report report.html"), ("download", "report")]


@pytest.mark.training
def test_the_report_reads_its_export_table(augmented_run: Path, tmp_path: Path) -> None:
    """With exports made, the Exports section is their table: one row per export with its
    check, agreement, speed, input contract and download, a refused one with its reason."""
    from tests.model.test_exports import _copy_run
    from tuning_core.model.exports import export_run, parse_targets

    run = _copy_run(augmented_run, tmp_path)
    export_run(run, parse_targets(["onnx", "litert"], integer=True))
    html = report_html(run)
    section = html[html.index("<h2>Exports</h2>"):html.index("<h2>Provenance</h2>")]
    rows = re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S) for row in rows]
    header, body = cells[0], cells[1:]
    assert [r[header.index("format")] for r in body] == ["ONNX", "LiteRT", "LiteRT (full int8)"]
    assert all(r[header.index("check")] == "passed" for r in body)
    downloads = header.index("download (model, labels.txt, model.json, example)")
    assert [r[downloads] for r in body] == ["onnx.zip", "litert.zip", "litert_int8io.zip"]
    assert all("pixels 0..255" in r[header.index("input")] for r in body)
    assert float(body[2][header.index("top-1 agreement")]) >= 0.99
    assert float(body[0][header.index("max |diff|")]) < 1e-4
