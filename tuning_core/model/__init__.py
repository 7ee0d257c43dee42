"""The best model and what a lab does with it: the retrain, predictions, checked exports,
explanations, data health, the standalone script and the report.

* ``best``: the best model: retrain a top trial on all training images, save it, test it.
* ``classify``: classify a folder of new images with a run's best model: one load, batches,
  one CSV.
* ``explain``: why the best model errs: test images by loss, the most confused class pairs,
  heatmaps.
* ``gradcam``: grad-CAM: which part of an image made the model choose a class (Selvaraju et al.,
  2017).
* ``health``: data health: the dataset's own problems, found after a retrain.
* ``predict``: predict classes of new images with a run's best model, resized as in training.
* ``report``: the report of a run: one self-contained HTML file that opens offline in any
  browser.
* ``report_svg``: small inline SVG charts for the run report: lines over steps, a confusion
  matrix.
* ``script``: a standalone Python script that reruns a run's search without this project.
* ``script_template``: rerun a KerasTuner search of the tuning dashboard with keras, keras_tuner
  and tensorflow alone.
* ``exports``: checked exports of a run's best model: SavedModel, ONNX and LiteRT (optionally
  int8).
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "best": ("load_evaluation", "load_history", "load_hyperparameters", "pick_trial",
             "retrain_best", "retrain_progress"),
    "classify": ("BATCH", "ClassifyFormat", "ClassifyProgress", "ClassifyResult",
                 "DEFAULT_THRESHOLD", "check_format", "classify_folder", "csv_header",
                 "folder_images", "load_predictor", "read_results", "summarize"),
    "explain": ("EXPLAIN_TASK", "explain_run", "file_heatmaps", "is_current", "load_explanation",
                "start_explain"),
    "gradcam": ("find_target", "heatmaps", "overlay_png"),
    "health": ("EPOCHS", "FOLDS", "FlagKind", "HEALTH_TASK", "check_run", "check_with_slot",
               "duplicate_flags", "duplicate_pairs", "judge_models", "label_flags", "load_health",
               "out_of_sample_probabilities", "outlier_flags", "precision_recall", "start_health",
               "thumbnails"),
    "predict": ("load_best_model", "predict"),
    "report": ("download_report", "report_html", "write_report"),
    "report_svg": (),
    "script": ("download_script", "run_settings", "script_text", "write_script"),
    "script_template": (),
    "exports": ("Agreement", "ExportFormat", "ExportManifest", "ExportRecord", "FLOAT_MAX_DIFF",
                "MIN_IMAGES", "check_images", "current_exports", "download", "export_run",
                "inference_copy", "judge", "load_manifest", "parse_targets"),
})
