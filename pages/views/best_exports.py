"""The Best model page's exports: build and check them, their table, and the downloads.

Only an export that passed its check gets a download button; a failed one says why. Each
download is one zip: the model, labels.txt, model.json and an example script.
Downloads go through :func:`tuning_core.model.exports.download` when clicked (it records them
in lab mode's audit log), so nothing is read before someone asks for it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.common import auth, state
from tuning_core.lab.permissions import Action
from tuning_core.model.exports import (
    ExportFormat,
    ExportRecord,
    current_exports,
    download,
    export_run,
    load_manifest,
    parse_targets,
)
from tuning_core.model.exports.records import FLOAT_MAX_DIFF, QUANTIZED_MIN_TOP1
from tuning_core.runs.rundir import RunDir

_LABELS = {f.value: f.spec.label for f in ExportFormat}


def export_form(run_dir: Path) -> None:
    """Formats to export, int8 LiteRT or not, and the button that builds and checks them."""
    refused = auth.refused(Action.EXPORT, state.run_owner(run_dir))
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Formats", list(_LABELS), default=list(_LABELS),
                              format_func=_LABELS.get, key="export_formats")
    quantize = right.checkbox("Also int8 LiteRT", key="export_quantize",
                              help="LiteRT with int8 weights: about 4x smaller, checked on "
                                   f"top-1 agreement (at least {QUANTIZED_MIN_TOP1:.0%}).")
    integer = right.checkbox("Also full-int8 LiteRT", key="export_integer",
                             help="int8 inputs, outputs and arithmetic, calibrated on the "
                                  "run's training images: for Edge TPUs and microcontrollers. "
                                  "Checked on top-1 agreement like the int8 weights file.")
    if st.button("Export and check", disabled=bool(refused) or not chosen, help=refused):
        with state.engine_errors(), st.spinner("Exporting and checking each file in its "
                                               "runtime…"):
            litert = "litert" in chosen
            targets = parse_targets(chosen, quantize=quantize and litert,
                                    integer=integer and litert)
            export_run(run_dir, targets, actor=auth.actor())


def export_table(run_dir: Path) -> None:
    """Each current export's check and speed; downloads for those that passed."""
    records = current_exports(run_dir)
    stale = len(load_manifest(run_dir).records) - len(records)
    if stale:
        st.caption(f"{stale} export(s) of an earlier best model are hidden: export again.")
    if not records:
        return
    st.dataframe(pd.DataFrame([_row(r) for r in records]), hide_index=True)
    st.caption(f"Checked against model.predict on {load_manifest(run_dir).images_source}: "
               f"largest difference under {FLOAT_MAX_DIFF:g} for float files, top-1 "
               f"agreement at least {QUANTIZED_MIN_TOP1:.0%} for int8, outputs that differ "
               "across images. Speed: CPU, batch 1, one thread, median of 20 after warm-up. "
               f"Input: {records[0].input.describe()}. Each download is a zip of the model "
               "with labels.txt (the classes in output order), model.json (classes, input, "
               "test accuracy) and classify_folder.py, which classifies a folder of images "
               "with only that runtime, numpy and pillow installed.")
    for record in records:
        _download(run_dir, record)


def _row(record: ExportRecord) -> dict:
    agreement = record.agreement
    return {"format": record.label, "runtime": record.runtime,
            "check": "passed" if record.passed else "failed",
            "size (MB)": round(record.bytes / 1e6, 3) if record.bytes else None,
            "max |diff|": agreement.max_abs_diff if agreement else None,
            "top-1 agreement": agreement.top1_agreement if agreement else None,
            "ms / image": round(record.ms_per_image, 3) if record.ms_per_image else None,
            "images": agreement.images if agreement else None}


def _download(run_dir: Path, record: ExportRecord) -> None:
    if not record.passed:
        st.warning(f"{record.label} is not offered for download: {record.reason}")
        return
    shown = record.bundle or record.file
    actor, name = auth.actor(), f"{RunDir(run_dir).name}-{shown}"
    st.download_button(f"Download {record.label} ({shown})",
                       data=lambda: download(run_dir, record.key, actor=actor).read_bytes(),
                       file_name=name, on_click="ignore", key=f"export_dl_{record.key}")


def report_download(run_dir: Path) -> None:
    """The run's report as one HTML file, written when the button is clicked."""
    from tuning_core.model.report import download_report

    actor = auth.actor()
    st.download_button("Download report (HTML)", key="best_report", on_click="ignore",
                       data=lambda: download_report(run_dir, actor=actor),
                       file_name=f"{RunDir(run_dir).name}-report.html", mime="text/html",
                       help="One self-contained file (charts and images inline) that opens "
                            "offline in any browser: data, space and tuner, trials, the best "
                            "model's tests, the exports' checks and library versions.")
