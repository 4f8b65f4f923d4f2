"""What "Gaze calibration ▸ Everyone is looking at their screen now" changes: ``python bench/gaze_calibrate.py``.

1. **The classic 3x3 demo** at 1920x1080 (``--frames`` frames, not real time): per tile, the share of
   frames judged looking before and after :meth:`vcam.pipeline.gaze.Gaze.calibrate`, called once half
   way. Seven of the nine portraits look into the lens; two (Sam, Casey) look down. Before, Barack
   Obama's portrait reads about +3° of gaze pitch, above the screen region's top edge (+2°), and is
   "looking up" in every frame: the estimate's per-person bias that the automatic calibration cannot
   learn (it learns only from gaze already inside the region).
2. **Misuse on the labelled clip** (``tests/data/gaze/pexels_langer.mp4``: an actress who never looks at
   the lens): calibrated at frame ``--at`` while she looks up, how many of her labelled "away" frames
   after it are judged looking, against none without. The bound (``max_shift``, 10°) is what limits it.

Prints a table per part; the figures are in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from vcam.evaluate_gaze import frames_of, read_labels
from vcam.pipeline import Analyzer
from vcam.sources.demo import DemoSource

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "gaze" / "labels.json"


def demo_shares(frames: int) -> list[tuple[str, float, float]]:
    """Per tile of the 3x3 demo ``(name, share looking before, share looking after)`` the calibration."""
    looks: dict[str, list[list[bool]]] = {}
    with DemoSource(3, 3, 1920, 1080, realtime=False) as source, Analyzer(("gaze",)) as analyzer:
        names, rects = source.tile_names(), source.tile_rects()
        for i in range(frames):
            if i == frames // 2:
                done, tracked = analyzer.stage("gaze").calibrate()
                print(f"calibrated {done} of {tracked} tracks at frame {i}", file=sys.stderr)
            faces = analyzer.process(source.read()).faces
            for box, on in zip(faces.bbox, faces.on_screen):
                cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
                tile = next(k for k, (x, y, w, h) in enumerate(rects) if x <= cx < x + w and y <= cy < y + h)
                looks.setdefault(names[tile], [[], []])[i >= frames // 2].append(bool(on))
    return [(name, float(np.mean(b)), float(np.mean(a))) for name, (b, a) in looks.items()]


def clip_misuse(at: int) -> tuple[int, int, int]:
    """``(away frames after at, judged looking without calibrating, judged looking calibrated at at)``."""
    rows = [r for r in read_labels(LABELS) if r.frames is not None and r.label == "away"]
    source = rows[0].source
    counts = []
    for calibrate in (False, True):
        looking = total = 0
        with Analyzer(("gaze",)) as analyzer:
            for frame in frames_of(source):
                if calibrate and frame.index == at:
                    analyzer.stage("gaze").calibrate()
                faces = analyzer.process(frame).faces
                if frame.index > at and len(faces) and any(r.covers(frame.index) for r in rows):
                    total += 1
                    looking += bool(faces.on_screen[0])
        counts.append((total, looking))
    return counts[0][0], counts[0][1], counts[1][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames of the 3x3 demo (default 120)")
    parser.add_argument("--at", type=int, default=300, help="clip frame to calibrate at (default 300: looking up)")
    args = parser.parse_args()
    print("3x3 demo: share of frames judged looking")
    print(f"{'tile':24} {'before':>7} {'after':>7}")
    for name, before, after in demo_shares(args.frames):
        print(f"{name:24} {before:7.0%} {after:7.0%}")
    total, plain, calibrated = clip_misuse(args.at)
    print(f"\nclip calibrated at frame {args.at} (she looks up): of {total} labelled away frames after it, "
          f"{plain} judged looking without calibration, {calibrated} with")
    return 0


if __name__ == "__main__":
    sys.exit(main())
