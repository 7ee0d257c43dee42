"""Taking a model out in a real browser: export and check on the Best model page, then the
downloaded files load in their runtimes and agree with the run's model."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser import ui

pytestmark = [pytest.mark.browser, pytest.mark.training]
DOWNLOADS = {"onnx": "Download ONNX (onnx.zip)", "litert": "Download LiteRT (litert.zip)",
             "saved_model": "Download SavedModel (saved_model.zip)",
             "script": "Download search script (.py)", "report": "Download report (HTML)"}


def _download(page, label: str, path: Path) -> Path:
    with page.expect_download(timeout=ui.UI_TIMEOUT) as download:
        ui.main(page).get_by_role("button", name=label, exact=True).click()
    download.value.save_as(path)
    return path


def _outputs(folder: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    for key in ("onnx", "litert", "saved_model"):  # each download is a zip with its labels
        with zipfile.ZipFile(folder / key) as archive:
            archive.extractall(folder / f"unzipped-{key}")
        assert (folder / f"unzipped-{key}" / "labels.txt").is_file()
    session = ort.InferenceSession(str(folder / "unzipped-onnx" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    loaded = tf.saved_model.load(str(folder / "unzipped-saved_model" / "saved_model"))
    interpreter = Interpreter(model_path=str(folder / "unzipped-litert" / "model.tflite"))
    source = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(source["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(source["index"], images)
    interpreter.invoke()
    return {"onnx": session.run(None, {session.get_inputs()[0].name: images})[0],
            "saved_model": loaded.serve(tf.constant(images)).numpy(),
            "litert": interpreter.get_tensor(interpreter.get_output_details()[0]["index"])}


def test_best_page_exports_checked_files_that_load_and_agree(app_server, page, augmented_run,
                                                             tmp_path: Path, screenshots) -> None:
    import keras

    from tuning_core.model.exports import check_images
    from tuning_core.runs.rundir import RunDir

    run = app_server.workspace / "runs" / augmented_run.name
    shutil.copytree(augmented_run, run, ignore=shutil.ignore_patterns("tuner", "cache"))
    ui.open_app(page, f"{app_server.url}/best?run={run.name}", title="Best model")
    ui.button(page, "Export and check").click()
    for label in DOWNLOADS.values():
        expect(ui.main(page).get_by_role("button", name=label, exact=True)).to_be_visible()
    exports = ui.main(page).get_by_role("heading", name="Exports", exact=True)
    screenshots(page, "exports", focus=exports)
    expect(ui.tracebacks(page)).to_have_count(0)
    files = {key: _download(page, label, tmp_path / key) for key, label in DOWNLOADS.items()}
    assert files["script"].read_text().startswith('"""Rerun a KerasTuner')
    assert files["report"].read_text().startswith("<!DOCTYPE html>")
    images, _ = check_images(RunDir(run))
    expected = keras.models.load_model(RunDir(run).model_path).predict(images, verbose=0)
    for key, outputs in _outputs(tmp_path, images).items():
        assert np.abs(outputs - expected).max() < 1e-4, key
