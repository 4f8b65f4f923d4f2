"""Track continuity when the gallery re-flows: do people keep their track ids when tiles move?

```
.venv/bin/python bench/continuity_eval.py [--seconds 48] [--specs demo:zoom:n=12:churn ...] [--json out.json]
```

Each spec is a demo meeting with churn (``vcam.sources.demo``): one person joins or leaves every 8 s and
the gallery re-flows, so most people's tiles move. The analyzer (vcam's default stages) runs 5 analyses
per second of video, twice: with name reading off (continuity by appearance only) and on (names first).
Against the demo's truth (which participant each camera-on tile shows) it counts:

- **switches**: the times a participant seen in two analyses in a row has another track id in the second
  (a re-flow that gives a person a new id counts one; one that swaps two people's ids counts two);
- **mixed**: the share of sightings whose track id belongs to another participant (the id's most
  frequent one): history written into someone else's record, the worse failure;
- **ids per person**: distinct track ids per participant (1.0 is perfect).

Prints one line per spec and mode; no child processes.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from vcam.pipeline import Analyzer
from vcam.sources import make_source

SPECS = ("demo:zoom:n=12:churn:@1280x720", "demo:teams:n=12:churn:@1280x720", "demo:zoom:n=23:churn:@1920x1080")
STEP = 6
"""Frames between analyses: 5 analyses per second of a 30 fps source."""


def sightings(analysis: Any, truth: Any) -> list[tuple[int, int]]:
    """``(participant, track id)`` of each tracked face alone in a camera-on tile of ``truth``."""
    layout = truth.layout()
    faces = analysis.faces.select(analysis.faces.track_id >= 0)
    tile = layout.tile_of(faces.bbox[:, :2] + faces.bbox[:, 2:] / 2)
    inside = [t for t in tile.tolist() if t >= 0]
    alone = {t for t in inside if inside.count(t) == 1}
    return [(truth.tiles[t].participant, tid) for t, tid in zip(tile.tolist(), faces.track_id.tolist())
            if t in alone and not truth.tiles[t].camera_off]


def score(frames: list[list[tuple[int, int]]]) -> dict[str, float]:
    """Switches, mixed sightings and ids per person over the sightings of consecutive analyses."""
    switches, last = 0, {}
    owners: dict[int, Counter] = defaultdict(Counter)
    ids: dict[int, set[int]] = defaultdict(set)
    for seen in frames:
        now = dict(seen)
        switches += sum(1 for p, tid in now.items() if p in last and last[p] != tid)
        last = now
        for p, tid in seen:
            owners[tid][p] += 1
            ids[p].add(tid)
    total = sum(sum(c.values()) for c in owners.values())
    mixed = sum(sum(c.values()) - max(c.values()) for c in owners.values())
    return {"switches": switches, "mixed": mixed / max(total, 1), "sightings": total,
            "ids_per_person": sum(len(v) for v in ids.values()) / max(len(ids), 1), "people": len(ids)}


def run(spec: str, seconds: float, names: bool) -> dict[str, float]:
    """Analyse ``seconds`` of ``spec`` at 5 analyses a second; the scores of :func:`score`."""
    source = make_source(spec, realtime=False)
    frames = []
    with source, Analyzer(["gaze", "names"] if names else ["gaze"]) as analyzer:
        for _ in range(int(seconds * 30 / STEP)):
            for _ in range(STEP - 1):
                source.read()
            frame = source.read()
            frames.append(sightings(analyzer.process(frame), source.truth(frame.index)))
    return score(frames)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=48.0, help="seconds of video per run (a churn event every 8 s)")
    p.add_argument("--specs", nargs="+", default=list(SPECS))
    p.add_argument("--modes", nargs="+", default=["no names", "names"], choices=["no names", "names"])
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results: dict[str, Any] = {}
    print(f"{'spec':34s} {'mode':9s} {'switches':>9s} {'mixed':>7s} {'ids/person':>11s} {'people':>7s}")
    for spec in args.specs:
        for mode in args.modes:
            r = run(spec, args.seconds, names=mode == "names")
            results[f"{spec} {mode}"] = r
            print(f"{spec:34s} {mode:9s} {r['switches']:9d} {r['mixed']:7.1%} {r['ids_per_person']:11.2f} "
                  f"{r['people']:7d}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
