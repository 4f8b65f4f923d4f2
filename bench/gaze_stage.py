"""The gaze stage's cost per face: ``python bench/gaze_stage.py [PHOTO] [--runs N]``.

Finds the faces of a committed group photo once (detect, landmarks, pose), then times the gaze stage
alone on them ``runs`` times, as successive frames 0.1 s apart (so its per-track state is used), and
prints the median and 90th percentile in milliseconds per face.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vcam.pipeline import Analyzer
from vcam.pipeline.gaze import Gaze
from vcam.types import Frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=str(Path(__file__).parents[1] / "tests/data/group5.jpg"))
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    image = cv2.imread(args.photo)
    with Analyzer() as analyzer:
        faces = analyzer.process(Frame(image, 0, 0.0)).faces
    stage, ms = Gaze(), []
    for i in range(args.runs):
        start = time.perf_counter()
        stage(Frame(image, i, i / 10), faces)
        ms.append((time.perf_counter() - start) * 1000.0 / max(1, len(faces)))
    sys.stdout.write(f"{len(faces)} faces, {args.runs} runs: gaze {statistics.median(ms):.3f} ms per face "
                     f"(median), {np.percentile(ms, 90):.3f} (90th percentile)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
