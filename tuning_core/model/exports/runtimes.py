"""Each export reloaded in its own runtime, in a child process: outputs and CPU time.

``python -m tuning_core.model.exports.runtimes REQUEST.json`` reads the images (``.npy``) and the
files to load, runs every image through each file with its runtime (TensorFlow for the
SavedModel, ``onnxruntime`` for ONNX, ``ai_edge_litert`` for LiteRT), times batch 1 (the
median of :data:`TIMED_RUNS` after :data:`WARMUP_RUNS`), and writes outputs and times back.

A child process, because TensorFlow's thread count is fixed once its runtime starts (the
dashboard's has long started): here every runtime gets one thread, so the figures compare.
It also proves each file loads with nothing of the exporting process in memory, and a
runtime that crashes on a bad file takes the child down, not the dashboard.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

WARMUP_RUNS = 3
TIMED_RUNS = 20
THREADS = 1
CHILD_TIMEOUT_S = 900
Predict = Callable[[np.ndarray], np.ndarray]

__all__ = ["RuntimeResult", "run_in_child", "WARMUP_RUNS", "TIMED_RUNS", "THREADS"]


@dataclass
class RuntimeResult:
    """What one runtime made of one file: outputs saved to ``outputs`` (.npy), or an error."""

    key: str
    outputs: str = ""
    ms_per_image: float | None = None
    error: str = ""


def _tensorflow(path: str) -> Predict:
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # kept alive: its variables die with it
    return lambda batch: loaded.serve(tf.constant(batch)).numpy()


def _onnx(path: str) -> Predict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = THREADS
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def _litert(path: str) -> Predict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=THREADS)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    shape: list[tuple[int, ...]] = [()]

    def predict(batch: np.ndarray) -> np.ndarray:
        if batch.shape != shape[0]:  # the batch size is -1 in the file: set it per shape
            interpreter.resize_tensor_input(source["index"], list(batch.shape))
            interpreter.allocate_tensors()
            shape[0] = batch.shape
        interpreter.set_tensor(source["index"], _quantize(batch, source))
        interpreter.invoke()
        return _dequantize(interpreter.get_tensor(target["index"]), target)
    return predict


def _quantize(batch: np.ndarray, detail: dict) -> np.ndarray:
    """Float pixels as a full-integer file takes them (q = x / scale + zero point)."""
    if detail["dtype"] != np.int8:
        return batch
    scale, zero = detail["quantization"]
    return np.clip(np.round(batch / scale) + zero, -128, 127).astype(np.int8)


def _dequantize(outputs: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] != np.int8:
        return outputs.copy()
    scale, zero = detail["quantization"]
    return (scale * (outputs.astype("float32") - zero)).astype("float32")


RUNTIMES: dict[str, Callable[[str], Predict]] = {
    "saved_model": _tensorflow, "onnx": _onnx, "litert": _litert}


def _measure(key: str, runtime: str, path: str, images: np.ndarray, out: Path) -> RuntimeResult:
    try:
        predict = RUNTIMES[runtime](path)
        outputs = np.asarray(predict(images), dtype="float32")
        ms = _batch1_ms(predict, images)
    except Exception as error:  # whatever the runtime says is the check's reason
        text = " ".join(str(error).split())[:400]
        return RuntimeResult(key, error=f"{type(error).__name__}: {text}")
    np.save(out, outputs)
    return RuntimeResult(key, str(out), ms)


def _batch1_ms(predict: Predict, images: np.ndarray) -> float:
    for i in range(WARMUP_RUNS):
        predict(images[i % len(images)][None])
    times = []
    for i in range(TIMED_RUNS):
        one = images[i % len(images)][None]
        start = time.perf_counter()
        predict(one)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    images = np.load(request["images"])
    folder = Path(request_path).parent
    results = [asdict(_measure(item["key"], item["runtime"], item["path"], images,
                               folder / f"{item['key']}.npy")) for item in request["files"]]
    (folder / "results.json").write_text(json.dumps(results))
    return 0


def run_in_child(images: np.ndarray, files: list[tuple[str, str, Path]],
                 folder: Path) -> dict[str, RuntimeResult]:
    """Run ``files`` ((key, runtime, path) each) on ``images`` in a child process.

    A child that dies leaves every file with its exit as the error.
    """
    np.save(folder / "images.npy", images)
    request = {"images": str(folder / "images.npy"),
               "files": [{"key": k, "runtime": r, "path": str(p)} for k, r, p in files]}
    (folder / "request.json").write_text(json.dumps(request))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "TF_NUM_INTRAOP_THREADS": str(THREADS), "TF_NUM_INTEROP_THREADS": str(THREADS),
           "OMP_NUM_THREADS": str(THREADS)}
    done = subprocess.run([sys.executable, "-m", "tuning_core.model.exports.runtimes",
                           str(folder / "request.json")], env=env, capture_output=True,
                          text=True, timeout=CHILD_TIMEOUT_S, cwd=_project_root())
    results_path = folder / "results.json"
    if done.returncode != 0 or not results_path.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {k: RuntimeResult(k, error=f"the runtime process ended with code "
                                          f"{done.returncode}: {last}") for k, _, _ in files}
    return {r["key"]: RuntimeResult(**r) for r in json.loads(results_path.read_text())}


def _project_root() -> str:
    return str(Path(__file__).resolve().parents[3])


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    raise SystemExit(main(sys.argv[1]))
