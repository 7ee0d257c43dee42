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
