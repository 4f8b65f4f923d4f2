"""How much of `vcam eval gaze`'s figure is fitted to its own labels: ``python bench/gaze_holdout.py [--labels FILE]``.

The gaze stage's few numbers (the screen's centre ``PRIOR`` and half-axes ``TOL``, the calibration's bound
``max_shift`` and the eyes-closed time ``blink_s``) were chosen looking at the same labelled set the eval
scores. This refits them leave-one-source-out: for each photo or clip of the labels, the numbers that score
best (balanced recall, the eval's headline) on all the *other* sources are chosen from a grid, and the
held-out source is judged with them. The held-out judgements of every fold, pooled, give the held-out
figure; it is printed beside the in-sample ones (the shipped numbers, and the grid's best on everything).

Each source runs through a fresh Analyzer once, as in `vcam eval gaze`; the gaze decision is then replayed
on its recorded eye openness, gaze angles and head pose for every candidate (the geometry does not depend
on these numbers): the grid costs ~2 minutes on 2 cores. The replay of the shipped numbers must give the
pipeline's own judgement (``vcam eval gaze``'s) on every labelled frame; the script stops if it does not.

``--json OUT`` writes the figures, each fold's chosen numbers and its held-out score.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcam.evaluate_gaze import Judgement, Row, face_at, frames_of, is_photo, read_labels, score
from vcam.pipeline import Analyzer
from vcam.pipeline.gaze import PRIOR, TOL, Gaze
from vcam.pipeline.gaze_geometry import gazes

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "gaze" / "labels.json"
SHIPPED = (*PRIOR, *TOL, 10.0, 0.4)
"""The numbers vcam ships: prior yaw, pitch; tol yaw, pitch (degrees); max_shift (degrees); blink_s (s)."""
GRID = {
    "prior_yaw": (-4.0, 0.0, 4.0),
    "prior_pitch": (-16.0, -13.0, -10.0, -7.0, -4.0),
    "tol_yaw": (14.0, 18.0, 22.0, 26.0, 30.0),
    "tol_pitch": (6.0, 9.0, 12.0, 15.0, 18.0),
    "max_shift": (5.0, 10.0, 15.0),
    "blink_s": (0.2, 0.4, 0.8),
}
"""The candidates of each number; every combination is tried (3375). The shipped numbers are one of them."""
SPAN = np.array([4.0, 3.0, 4.0, 3.0, 5.0, 0.2])
"""One grid step of each number: ties are broken by the candidate nearest the shipped numbers in steps."""


@dataclass
class Recorded:
    """One source's frames as the gaze stage saw them, and which face each labelled frame is about.

    ``frames``: per frame ``(t s, track ids (N,), opened (N, 2), angles (N, 2) deg, confidence (N,), pose (N, 3) deg)``.
    ``asked``: per frame index, ``[(row, face index or None)]`` of the rows judged on it.
    ``live``: what the pipeline itself judged on those frames, with the shipped numbers (as ``vcam eval gaze``).
    """

    frames: list[tuple]
    asked: dict[int, list[tuple[Row, int | None]]]
    live: list[Judgement]


def record(source: Path, rows: list[Row]) -> Recorded:
    """Run ``source`` through a fresh Analyzer with gaze on and keep what the gaze stage's decision reads."""
    photo, frames, asked, live = is_photo(source), [], {}, {}
    with Analyzer(("gaze",)) as analyzer:
        for frame in frames_of(source):
            faces = analyzer.process(frame).faces
            opened, angles, confidence = gazes(faces.landmarks, faces.pose)
            frames.append((frame.t, faces.track_id.copy(), opened, angles, confidence, faces.pose.copy()))
            asked[frame.index] = [(r, face_at(faces, r.at)) for r in rows if photo or r.covers(frame.index)]
            live[frame.index] = [Judgement(r, frame.index, None if k is None else bool(faces.on_screen[k]))
                                 for r, k in asked[frame.index]]
    last = len(frames) - 1
    if photo:
        asked, live = {last: asked[last]}, {last: live[last]}
    return Recorded(frames, asked, [j for js in live.values() for j in js])


def replay(rec: Recorded, numbers: tuple[float, ...]) -> list[Judgement]:
    """The judgements of ``rec``'s labelled frames with the gaze stage built from ``numbers`` (see :data:`SHIPPED`)."""
    gaze = Gaze(prior=numbers[0:2], tol=numbers[2:4], max_shift=numbers[4], blink_s=numbers[5])
    out = []
    for i, (t, tids, opened, angles, confidence, pose) in enumerate(rec.frames):
        looking = [gaze._judge(t, int(tid), o, d, float(c), p)[1]
                   for tid, o, d, c, p in zip(tids, opened, angles, confidence, pose)]
        gaze.forget({int(tid) for tid in tids})
        out += [Judgement(row, i, None if k is None else bool(looking[k])) for row, k in rec.asked.get(i, [])]
    return out


def candidates() -> list[tuple[float, ...]]:
    """Every combination of :data:`GRID`, nearest the shipped numbers first (so ties go to them)."""
    grid = list(itertools.product(*GRID.values()))
    return sorted(grid, key=lambda c: float(np.abs((np.array(c) - SHIPPED) / SPAN).sum()))


def fit(per_source: dict[Path, list[list[Judgement]]], sources: list[Path]) -> int:
    """The candidate index with the best balanced recall over ``sources`` (the first, nearest shipped, of ties)."""
    best, best_score = 0, -1.0
    for k in range(len(next(iter(per_source.values())))):
        s = score(j for src in sources for j in per_source[src][k])["balanced"]
        if s > best_score + 1e-12:
            best, best_score = k, s
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--json", help="write the figures and each fold's numbers here")
    args = parser.parse_args()
    rows = read_labels(args.labels)
    sources = list(dict.fromkeys(r.source for r in rows))
    recorded = {s: record(s, [r for r in rows if r.source == s]) for s in sources}
    grid = candidates()
    assert grid[0] == SHIPPED, "the shipped numbers must be on the grid"
    per_source = {s: [replay(rec, c) for c in grid] for s, rec in recorded.items()}
    for s, rec in recorded.items():
        if [j.looking for j in per_source[s][0]] != [j.looking for j in rec.live]:
            raise SystemExit(f"the replay of the shipped numbers differs from the pipeline's own judgement on {s}")
    shipped = score(j for s in sources for j in per_source[s][0])
    best_all = fit(per_source, sources)
    folds = []
    for held in sources:
        k = fit(per_source, [s for s in sources if s != held])
        folds.append({"held_out": held.name, "numbers": grid[k], "score": score(per_source[held][k])})
    pooled = [j for held, f in zip(sources, folds) for j in per_source[held][grid.index(f["numbers"])]]
    report = {"shipped": shipped, "refit_all": {"numbers": grid[best_all],
                                                "score": score(j for s in sources for j in per_source[s][best_all])},
              "held_out": score(pooled), "held_out_photos": score(j for j in pooled if j.row.frames is None),
              "held_out_clips": score(j for j in pooled if j.row.frames is not None), "folds": folds, "grid": GRID}
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


def format_report(report: dict) -> str:
    """The three figures, then each fold's chosen numbers and held-out score."""
    def line(name: str, s: dict) -> str:
        recall = "  ".join(f"{k} {v:.0%}" for k, v in s["recall"].items())
        return f"{name:34s} {s['n']:6d} {s['accuracy']:8.1%} {s['balanced']:8.1%}  {recall}"

    out = [f"{'':34s} {'frames':>6s} {'accuracy':>8s} {'balanced':>8s}  recall per label",
           line("in-sample, shipped numbers", report["shipped"]),
           line("in-sample, refit on everything", report["refit_all"]["score"]),
           line("held out (leave one source out)", report["held_out"]),
           line("  of which photos", report["held_out_photos"]),
           line("  of which the clip(s)", report["held_out_clips"]),
           "", f"refit on everything: {_numbers(report['refit_all']['numbers'])}", "",
           f"{'held-out source':22s} {'frames':>6s} {'accuracy':>8s}  numbers fitted on the others"]
    out += [f"{f['held_out']:22s} {f['score']['n']:6d} {f['score']['accuracy']:8.1%}  {_numbers(f['numbers'])}"
            for f in report["folds"]]
    return "\n".join(out)


def _numbers(c: tuple[float, ...]) -> str:
    return (f"prior ({c[0]:+.0f}, {c[1]:+.0f})  tol ({c[2]:.0f}, {c[3]:.0f})  max_shift {c[4]:.0f}  "
            f"blink {c[5]:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
