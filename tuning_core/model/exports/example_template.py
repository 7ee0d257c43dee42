"""Classify a folder of images with this exported model, printing each image's class name.

Needs numpy, pillow and one runtime: onnxruntime (model.onnx), ai-edge-litert
(model.tflite) or tensorflow (saved_model/). The classes and the input contract are read
from model.json beside this script (labels.txt holds the same names, one a line).

    python classify_folder.py FOLDER [--csv results.csv]

Images are read with Pillow, converted to the model's colour mode, resized bilinearly to
its size (as in training), and given as float pixels 0..255: scaling is inside the model.
This file imports nothing of the dashboard that wrote it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
RUNTIME = "onnx"  # written by the exporter: onnx, litert or saved_model
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
BATCH = 32


def load_card() -> dict:
    """model.json: classes in output order, the input size, colour mode and dtype."""
    return json.loads((HERE / "model.json").read_text())


def prepare(path: Path, card: dict) -> np.ndarray:
    """One image as the model takes it: (size, size, channels) float32, pixels 0..255."""
    size, rgb = card["input"]["size"], card["input"]["color_mode"] == "rgb"
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if not rgb:
        image = image.convert("L")
    pixels = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype="float32")
    return pixels if rgb else pixels[..., None]


def onnx_model(card: dict):
    import onnxruntime as ort

    session = ort.InferenceSession(str(HERE / card["file"]), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def litert_model(card: dict):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(HERE / card["file"]))
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]

    def run(batch: np.ndarray) -> np.ndarray:
        quant = card.get("input_quantization")
        if quant:  # a fully integer file takes int8 pixels
            batch = np.clip(np.round(batch / quant["scale"]) + quant["zero_point"], -128, 127)
            batch = batch.astype("int8")
        interpreter.resize_tensor_input(source["index"], list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], batch)
        interpreter.invoke()
        out = interpreter.get_tensor(target["index"]).astype("float32")
        quant = card.get("output_quantization")
        return quant["scale"] * (out - quant["zero_point"]) if quant else out
    return run


def saved_model(card: dict):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(HERE / card["file"]))
    return lambda batch: loaded.serve(tf.constant(batch)).numpy()


MODELS = {"onnx": onnx_model, "litert": litert_model, "saved_model": saved_model}


def images_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--csv", help="also write path, class, probability per image here")
    args = parser.parse_args(argv)
    card = load_card()
    classes, predict = card["classes"], MODELS[RUNTIME](card)
    paths = images_of(Path(args.folder))
    if not paths:
        print(f"no images in {args.folder}", file=sys.stderr)
        return 2
    rows = []
    for start in range(0, len(paths), BATCH):
        chunk, ready = paths[start:start + BATCH], []
        for path in chunk:
            try:
                ready.append((path, prepare(path, card)))
            except OSError as error:  # one unreadable file does not stop the folder
                print(f"{path}\tunreadable: {error}", file=sys.stderr)
        if not ready:
            continue
        probabilities = predict(np.stack([pixels for _, pixels in ready]))
        for (path, _), row in zip(ready, probabilities, strict=True):
            best = int(np.argmax(row))
            rows.append((str(path), classes[best], float(row[best])))
            print(f"{path}\t{classes[best]}\t{row[best]:.4f}")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            csv.writer(handle).writerows([("path", "class", "probability"), *rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
