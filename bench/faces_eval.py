"""Faces found and participants named on simulated meetings, with the meeting layout and without it.

```
.venv/bin/python bench/faces_eval.py [--frames 30] [--specs demo:zoom:7x7 ...] [--json out.json]
```

Each spec is a demo meeting (``vcam.sources.demo``: real portraits in Zoom- or Teams-like galleries, with
the truth of every frame: tiles, names as drawn, cameras off). The analyzer runs on ``--frames`` frames,
5 analyses per second of video (every 6th frame at 30 fps), twice:

- **layout**: vcam's default stages (the layout stage, tile-by-tile detection, names);
- **no layout**: the stages before the layout stage existed (whole-frame and square-tile detection).

Over the last 5 frames it counts, against the truth: **tiles found** (camera-on tiles with a tracked face
whose centre is inside), **extra faces** (tracked faces in no camera-on tile, or a second one in a tile of
one person), and in the layout run **names right** (faces whose participant name equals the tile's name as
drawn, accents ignored, or exactly). Prints one line per spec and mode; no child processes.
"""

from __future__ import annotations

import argparse
import json
import logging
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from vcam.pipeline import Analyzer
from vcam.pipeline.detect import Detect
from vcam.pipeline.engagement import Engagement
from vcam.pipeline.gaze import Gaze
from vcam.pipeline.landmarks import Landmarks
from vcam.pipeline.pose import Pose
from vcam.pipeline.track import Track
from vcam.sources import make_source

SPECS = ("demo:zoom:3x3@1920x1080", "demo:zoom:5x5@1920x1080", "demo:zoom:7x7@1920x1080",
         "demo:teams:5x5@1920x1080", "demo:zoom:n=23:off=4:@1920x1080", "demo:zoom:7x7@1280x720")
STEP = 6
"""Frames between analyses: 5 analyses per second of a 30 fps source."""
SCORED = 5
"""The last frames scored (the first ones let tracks and names settle)."""


def fold(text: str | None) -> str | None:
    """``text`` without accents, or None."""
    if text is None:
        return None
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def old_stages() -> list:
    """The stages before the layout stage: whole-frame and square-tile detection, no names."""
    track = Track()
    return [track.start, Detect(), track, Landmarks(), track.confirm, Pose(), Gaze(), Engagement()]


def score(analysis: Any, truth: Any) -> dict[str, int]:
    """Tiles found, extra faces and names right in one analysed frame, against the demo's truth."""
    layout = truth.layout()
    faces = analysis.faces.select(analysis.faces.track_id >= 0)
    tile = layout.tile_of(faces.bbox[:, :2] + faces.bbox[:, 2:] / 2)
    on = ~layout.camera_off
    counts = np.bincount(tile[tile >= 0], minlength=len(layout))
    found = int(np.count_nonzero(on & (counts >= 1)))
    extra = int(np.count_nonzero((tile < 0) | ~on[np.maximum(tile, 0)])) + int(np.sum(np.maximum(counts[on] - 1, 0)))
    names = [(p, layout.participant[t]) for p, t in zip(faces.participant, tile) if t >= 0 and on[t]]
    return {"tiles": int(np.count_nonzero(on)), "found": found, "extra": extra,
            "named_exact": sum(p == n for p, n in names), "named_folded": sum(fold(p) == fold(n) for p, n in names),
            "faces_in_tiles": len(names)}


def run(spec: str, frames: int, with_layout: bool) -> dict[str, Any]:
    """Analyse ``frames`` analyses of ``spec``; the summed scores of the last :data:`SCORED`."""
    source = make_source(spec, realtime=False)
    stages = None if with_layout else old_stages()
    totals: dict[str, int] = {}
    with source, Analyzer(["gaze", "names"], stages=stages) as analyzer:
        for k in range(frames):
            for _ in range(STEP - 1):
                source.read()
            frame = source.read()
            analysis = analyzer.process(frame)
            if k >= frames - SCORED:
                for key, value in score(analysis, source.truth(frame.index)).items():
                    totals[key] = totals.get(key, 0) + value
    return totals


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=30, help="analyses per run (5 per second of video)")
    p.add_argument("--specs", nargs="+", default=list(SPECS))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, Any] = {}
    print(f"{'spec':34s} {'mode':9s} {'tiles found':>12s} {'extra':>6s} {'names exact':>12s} {'accents ign.':>12s}")
    for spec in args.specs:
        for with_layout in (False, True):
            mode = "layout" if with_layout else "no layout"
            r = run(spec, args.frames, with_layout)
            results[f"{spec} {mode}"] = r
            named = (f"{r['named_exact'] / r['faces_in_tiles']:12.1%} {r['named_folded'] / r['faces_in_tiles']:12.1%}"
                     if with_layout and r["faces_in_tiles"] else f"{'-':>12s} {'-':>12s}")
            print(f"{spec:34s} {mode:9s} {r['found'] / SCORED:5.1f} of {r['tiles'] / SCORED:4.0f} "
                  f"{r['extra'] / SCORED:6.1f} {named}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
