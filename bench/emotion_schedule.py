"""The emotion stage's schedule on a meeting's faces: updates per face per second, and its ms per analysis.

    .venv/bin/python bench/emotion_schedule.py [--models emotion-fer,emotion-face-api] [--seconds 20] [--runs 3]
                                               [--max-age 1.0]

For each grid (:data:`GRIDS`: the 3x3 demo and ``demo:zoom:7x7``, each at the analysis rate ``bench/live.py``
measures for it on a quiet machine with identity and emotion on), one frame's faces are found once by vcam's
Analyzer. Then the emotion stage alone (``Emotion.from_manifest(model)`` with its default budget and floor) is
called on that frame as the analysis thread calls it (``--max-age inf``: without the floor, the budget
alone, as before issue 15's second part), with frame times advancing at that rate, for ``seconds``
of frame time. Per model and grid, over ``runs`` fresh stages (medians of the runs):

- **updates per face per s**: classifications of each face per second of frame time, min and median over faces;
- **stage ms per analysis**: wall ms of each call (crops and model), median and mean over calls;
- **analysis rate x**: what the stage's mean time would do to the analysis rate against the first model's,
  ``period / (period + extra ms)`` with ``period`` the grid's analysis period: an estimate from the stage alone.

The stage runs alone on one thread, so other processes disturb it less than they disturb ``bench/live.py``'s
whole pipeline; the live figures are that script's. It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from vcam.manifest import emotion_models
from vcam.pipeline import Analyzer
from vcam.pipeline.emotion import Emotion
from vcam.sources import make_source
from vcam.types import Faces, Frame

GRIDS: dict[str, tuple[str, float]] = {
    "3x3": ("demo:3x3@1920x1080", 18.0),
    "7x7": ("demo:zoom:7x7@1920x1080", 5.0),
}
"""Grid name -> (source spec, analyses per second with identity and emotion on, quiet machine: bench/README.md)."""


def meeting_faces(spec: str) -> tuple[Frame, Faces]:
    """A frame of ``spec`` (its 10th, once the layout is found) and the faces vcam's Analyzer finds in it."""
    with make_source(spec, realtime=False) as source, Analyzer(["gaze", "names"]) as analyzer:
        for _ in range(10):
            frame = source.read()
            faces = analyzer.process(frame).faces
    return frame, faces


def one_run(model: str, frame: Frame, faces: Faces, rate: float, seconds: float, max_age: float) -> dict[str, float]:
    """A fresh stage called at ``rate`` per second of frame time for ``seconds``: its figures."""
    stage = Emotion.from_manifest(model, max_age=max_age)
    updates: Counter[int] = Counter()
    ms: list[float] = []
    try:
        for k in range(int(seconds * rate)):
            start = time.perf_counter()
            stage(Frame(frame.image, frame.index + k, frame.t + k / rate), faces)
            ms.append((time.perf_counter() - start) * 1000.0)
            updates.update(stage.last_batch)
    finally:
        stage.close()
    per_face = sorted(updates.get(int(t), 0) / seconds for t in faces.track_id)
    return {"updates_min": per_face[0], "updates_median": statistics.median(per_face),
            "ms_median": statistics.median(ms), "ms_mean": statistics.fmean(ms)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(emotion_models()), help="comma-separated emotion models")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of frame time per run")
    p.add_argument("--runs", type=int, default=3, help="fresh stages per model and grid (medians are printed)")
    p.add_argument("--max-age", type=float, default=1.0, help="the stage's max_age in seconds; inf: no floor")
    p.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models = args.models.split(",")
    results: dict[str, Any] = {}
    print(f"{'grid':5s} {'model':17s} {'faces':>5s} {'upd/face/s min':>14s} {'median':>7s} "
          f"{'ms/analysis med':>15s} {'mean':>6s} {'analysis rate x':>15s}")
    for grid, (spec, rate) in GRIDS.items():
        frame, faces = meeting_faces(spec)
        first_mean = None
        for model in models:
            runs = [one_run(model, frame, faces, rate, args.seconds, args.max_age) for _ in range(args.runs)]
            m = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            first_mean = m["ms_mean"] if first_mean is None else first_mean
            period = 1000.0 / rate
            m["analysis_rate_x"] = period / (period + m["ms_mean"] - first_mean)
            results[f"{grid} {model}"] = {"faces": len(faces), "rate": rate, "runs": runs, "median": m}
            print(f"{grid:5s} {model:17s} {len(faces):5d} {m['updates_min']:14.2f} {m['updates_median']:7.2f} "
                  f"{m['ms_median']:15.1f} {m['ms_mean']:6.1f} {m['analysis_rate_x']:15.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
