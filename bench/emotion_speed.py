"""Emotion models' speed: milliseconds per face of each shipped emotion model, onnxruntime on 1 thread.

    .venv/bin/python bench/emotion_speed.py [--models emotion-fer,emotion-face-api] [--batches 1,8]
                                            [--repeats 7] [--runs 200]

The model alone (``Emotion.run``: the onnxruntime call and the reordering of its 7 outputs), on the
committed portraits' faces cut as the stage cuts them for that model (``face_crop`` with the model's
``CropSpec`` from the manifest, boxes from ``tests/data/emotion/golden.json``), cycled to fill each batch.
Per model and batch size: the median over ``repeats`` of the mean ms per face over ``runs`` calls, and
the spread of those repeats. Cropping (~0.1 ms per face) is not included. It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from vcam.pipeline.emotion import Emotion
from vcam.pipeline.emotion_crop import face_crop, model_batch

ROOT = Path(__file__).resolve().parents[1]
BOXES = ROOT / "tests" / "data" / "emotion" / "golden.json"


def real_batch(stage: Emotion, n: int) -> np.ndarray:
    """``(n, size, size, channels)`` model input: the committed faces as ``stage`` crops them, cycled."""
    entries = json.loads(BOXES.read_text())["crops"]
    crops = [face_crop(cv2.imread(str(ROOT / "tests" / "data" / e["image"])), np.array(e["bbox"], np.float32),
                       stage.spec) for e in entries]
    return model_batch([crops[i % len(crops)] for i in range(n)], stage.spec)


def ms_per_face(stage: Emotion, batch: np.ndarray, repeats: int, runs: int) -> list[float]:
    """Mean ms per face over ``runs`` calls on ``batch``, once per repeat (after 20 warm-up calls)."""
    for _ in range(20):
        stage.run(batch)
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(runs):
            stage.run(batch)
        means.append((time.perf_counter() - start) * 1000.0 / runs / len(batch))
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="emotion-fer,emotion-face-api")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in args.models.split(","):
        stage = Emotion.from_manifest(name)
        for n in (int(b) for b in args.batches.split(",")):
            means = ms_per_face(stage, real_batch(stage, n), args.repeats, args.runs)
            print(f"{name:18s} batch {n:2d}: {statistics.median(means):.3f} ms per face "
                  f"(median of {args.repeats}; {min(means):.3f}-{max(means):.3f})")
        stage.close()


if __name__ == "__main__":
    main()
