"""Benchmark of the face descriptor: vcam's ONNX model against dlib-bin, on the same chips, in one run.

What runs
    Aligned 150×150 chips of the real test portraits (``tests/data``: every
    face vcam's detect and landmarks stages find, ``vcam.enroll.still_faces``,
    cut by ``vcam.pipeline.descriptor.face_chip``), batched as
    the identity stage batches them: 1 chip, and 9 chips (a 3×3 gallery). Each
    engine runs on one thread: ``vcam.pipeline.descriptor.Descriptor``
    (onnxruntime, the ONNX file vcam ships) and
    ``dlib.face_recognition_model_v1.compute_face_descriptor`` on the original
    ``.dat`` (dlib-bin, what vcam used before). They alternate within each
    round, so a busy machine slows both alike; the ratio is the figure to quote.

What is printed
    ms per face for each engine and batch (median over ``--rounds``), the
    ratio dlib / ONNX, the model load times, and the largest difference between
    the two engines' descriptors (Euclidean distances between people are
    0.2-1.0, so anything under 1e-4 is the same answer).

Run ``.venv/bin/python bench/descriptor.py [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from common import machine, print_machine

ROOT = Path(__file__).resolve().parents[1]
DAT = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"


def real_chips() -> np.ndarray:
    """``(B, 150, 150, 3) uint8`` aligned chips of every face in the test portraits."""
    import cv2

    from vcam.enroll import still_faces
    from vcam.pipeline.descriptor import face_chip
    from vcam.pipeline.detect import Detect

    chips, detect = [], Detect()
    try:
        for path in sorted((ROOT / "tests" / "data").glob("*.jpg")):
            image = cv2.imread(str(path))
            chips += [face_chip(image, points) for points in still_faces(image, detect).landmarks]
    finally:
        detect.close()
    return np.stack(chips)


def dlib_net():
    """dlib-bin's descriptor on the original ``.dat`` from face-recognition-models."""
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        sys.exit("face-recognition-models is not installed: `bash installer/linux/dev.sh setup`")
    return dlib.face_recognition_model_v1(str(Path(spec.origin).parent / DAT.split("/", 1)[1]))


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ONNX face descriptor against dlib-bin")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print_machine(machine())
    from vcam.pipeline.descriptor import Descriptor

    chips = real_chips()
    load_onnx, onnx = timed(Descriptor)
    load_dlib, net = timed(dlib_net)
    print(f"{len(chips)} real face chips; load: onnx {load_onnx * 1000:.0f} ms, dlib {load_dlib * 1000:.0f} ms")
    want = np.array(net.compute_face_descriptor(list(chips)), np.float32)
    got = onnx(chips)
    print(f"max |onnx - dlib| over {len(chips)} descriptors: {np.abs(got - want).max():.1e}")
    for batch in (1, 9):
        x = chips[:batch]
        onnx(x)
        times: dict[str, list[float]] = {"onnx": [], "dlib": []}
        for _ in range(args.rounds):
            times["onnx"].append(timed(onnx, x)[0] / batch)
            times["dlib"].append(timed(net.compute_face_descriptor, list(x))[0] / batch)
        o, d = statistics.median(times["onnx"]), statistics.median(times["dlib"])
        print(f"batch {batch}: onnx {o * 1000:.1f} ms/face, dlib {d * 1000:.1f} ms/face, "
              f"dlib/onnx {d / o:.1f}x (medians of {args.rounds} alternated rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
