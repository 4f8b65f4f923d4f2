"""Does a smile lift the gaze pitch? ``python bench/gaze_expression.py [--frames 90] [--eval]``.

Issue 16's known false judgement: on the classic 3x3 demo Barack Obama's smiling portrait reads a gaze
pitch of about +3° (the screen's ellipse ends at +2°), so he is "looking up". The suspicion was that a
smile lifts the eye corners (the cheeks push them up), and with them the eyeball centre the gaze model
places from their midpoint (OpenFace 2's placement, ``gaze_geometry``). This measures it on faces that
look into the lens (truth: gaze pitch about 0°):

- the 3x3 demo (``--frames`` frames, per tile the median gaze pitch and the share of frames above the
  ellipse's top edge, +2°), and every portrait of ``vcam/assets/portraits`` and every ``looking`` photo
  row of ``tests/data/gaze/labels.json`` as a 1 s still video through a fresh Analyzer;
- two placements of the eyeball centre: ``corners`` (shipped: the measured eye corners' midpoint) and
  ``rigid`` (the corners where the pose stage's rigid 16-point head model puts them, fitted by scaled
  orthography with the solved rotation: no lid, cheek or brow can move it);
- a least-squares fit of the into-lens faces' gaze pitch on head pitch, smile (mouth width over the
  outer eye corners' distance) and ``lift`` (the measured corners' midpoint above the rigid model's, in
  model units of 0.9 mm; > 0 is lower in the face: image y down);
- with ``--eval``, ``vcam eval gaze`` on the committed labels with the ``rigid`` placement.

The findings and figures are in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vcam.evaluate_gaze import face_at, frames_of, read_labels
from vcam.pipeline import Analyzer
from vcam.pipeline.gaze_geometry import EYES, gazes, rotations
from vcam.pipeline.pose import LANDMARK_IDS, MODEL_POINTS
from vcam.sources.demo import DemoSource
from vcam.sources.demo_people import DISPLAY_NAMES

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "gaze" / "labels.json"
DOWN = {DISPLAY_NAMES["06_sam.jpg"], DISPLAY_NAMES["08_casey.jpg"], "06_sam", "08_casey"}
"""The two demo portraits whose eyes are cast down (not into the lens): left out of the into-lens figures."""
CORNERS = [c for e in EYES for c in e.corners]
Face = tuple[np.ndarray, np.ndarray]  # (478, 3) landmarks in frame pixels, (3,) head pose in degrees


def rigid_corners(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """``(478, 3)`` landmarks with the 4 eye corners moved to where the rigid head model puts them.

    The 16 model points (``pose.MODEL_POINTS``), turned by the head's rotation, are fitted to their landmarks
    by scale and shift alone (scaled orthography, least squares); the corners are the fitted model's.
    """
    r = rotations(pose[None].astype(np.float64))[0]
    model = (MODEL_POINTS @ r.T)[:, :2]
    seen = points[LANDMARK_IDS, :2].astype(np.float64)
    m0, s0 = model - model.mean(0), seen - seen.mean(0)
    scale = float((m0 * s0).sum() / (m0 * m0).sum())
    out = points.astype(np.float64).copy()
    for c in CORNERS:
        out[c, :2] = scale * model[list(LANDMARK_IDS).index(c)] + seen.mean(0) - scale * model.mean(0)
    return out


def pitch(face: Face, placement: str) -> float:
    """Gaze pitch in degrees of one face with the eyeball centre placed from ``corners`` or ``rigid``."""
    points, pose = face[0].astype(np.float64), face[1].astype(np.float64)
    if placement == "rigid":
        points = rigid_corners(points, pose)
    return float(gazes(points[None], pose[None])[1][0, 1])


def measures(face: Face) -> tuple[float, float, float]:
    """``(head pitch deg, smile, lift)`` of one face (see the module docstring)."""
    points, pose = face[0].astype(np.float64), face[1]
    rigid = rigid_corners(points, pose)
    width = np.hypot(*(points[263, :2] - points[33, :2]))
    smile = float(np.hypot(*(points[291, :2] - points[61, :2])) / width)
    r = rotations(pose[None].astype(np.float64))[0]
    scale = width / max(100.0 * np.hypot(r[0, 0], r[1, 0]), 30.0)
    lift = np.linalg.pinv(r[:2, :2]) @ ((points[CORNERS, :2] - rigid[CORNERS, :2]).mean(0) / scale)
    return float(pose[1]), smile, float(lift[1])


def record_stills() -> dict[str, Face]:
    """Every portrait and every ``looking`` photo row, each through a fresh Analyzer as a 1 s still video."""
    items = [(p.stem, p, None) for p in sorted((ROOT / "vcam/assets/portraits").glob("*.jpg"))]
    items += [(f"{r.source.stem}@{r.at[0]:.0f}", r.source, r.at) for r in read_labels(LABELS)
              if r.frames is None and r.label == "looking"]
    out = {}
    for name, path, at in items:
        with Analyzer(("gaze",)) as analyzer:
            for frame in frames_of(path):
                faces = analyzer.process(frame).faces
        k = face_at(faces, at) if at is not None else int(np.argmax(faces.bbox[:, 2] * faces.bbox[:, 3]))
        if k is not None:
            out[name] = (faces.landmarks[k].copy(), faces.pose[k].copy())
    return out


def record_demo(frames: int) -> dict[str, list[Face]]:
    """Each tile's faces over ``frames`` frames of the classic 3x3 demo at 1920x1080, keyed by its name."""
    out: dict[str, list[Face]] = {}
    with DemoSource(3, 3, 1920, 1080, realtime=False) as source, Analyzer(("gaze",)) as analyzer:
        names, rects = source.tile_names(), source.tile_rects()
        for _ in range(frames):
            faces = analyzer.process(source.read()).faces
            for box, points, pose in zip(faces.bbox, faces.landmarks, faces.pose):
                cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
                tile = next(i for i, (x, y, w, h) in enumerate(rects) if x <= cx < x + w and y <= cy < y + h)
                out.setdefault(names[tile], []).append((points.copy(), pose.copy()))
    return out


def report(demo: dict[str, list[Face]], stills: dict[str, Face]) -> str:
    """The per-face table, the spread of the into-lens faces per placement, and the fit."""
    lines = [f"{'face':34s} {'head pitch':>10s} {'corners':>8s} {'rigid':>8s}"
             "  (gaze pitch, deg; demo: median, share > +2)"]
    for name, faces in demo.items():
        p = {k: np.array([pitch(f, k) for f in faces]) for k in ("corners", "rigid")}
        lines.append(f"demo {name:29s} {np.median([f[1][1] for f in faces]):+10.1f} "
                     + " ".join(f"{np.median(v):+5.1f} {np.mean(v > 2):3.0%}" for v in p.values()))
    for name, face in stills.items():
        lines.append(f"{name:34s} {face[1][1]:+10.1f} {pitch(face, 'corners'):+8.1f} {pitch(face, 'rigid'):+8.1f}")
    lens = {n: f for n, f in stills.items() if n not in DOWN}
    tiles = {n: fs for n, fs in demo.items() if n not in DOWN}
    for k in ("corners", "rigid"):
        s = np.array([pitch(f, k) for f in lens.values()])
        d = np.array([np.median([pitch(f, k) for f in fs]) for fs in tiles.values()])
        lines.append(f"{k:8s} into-lens stills ({len(s)}): mean {s.mean():+.1f} sd {s.std():.1f}; "
                     f"demo tiles ({len(d)}): mean {d.mean():+.1f} sd {d.std():.1f}")
    x = np.array([measures(f) for f in lens.values()])
    y = np.array([pitch(f, "corners") for f in lens.values()])
    design = np.c_[x, np.ones(len(y))]
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    terms = " + ".join(f"{c:+.2f} {n}" for c, n in zip(coef, ("head pitch", "smile", "lift", "1")))
    lines.append(f"fit (corners) gaze pitch = {terms}; residual sd {np.std(y - design @ coef):.1f}")
    obama = measures(lens["obama@492"])
    for j, name in enumerate(("head pitch", "smile", "lift")):
        lines.append(f"  alone: {name:10s} r {np.corrcoef(x[:, j], y)[0, 1]:+.2f}  mean {x[:, j].mean():+.2f}"
                     f"  range {x[:, j].min():+.2f}..{x[:, j].max():+.2f}  Obama (obama@492) {obama[j]:+.2f}")
    return "\n".join(lines)


def rigid_gazes(points: np.ndarray, pose: np.ndarray, shipped: Callable = gazes) -> tuple:
    """:func:`gazes` with the eyeball centres placed from the rigid model; openness and confidence unchanged."""
    moved = np.stack([rigid_corners(p, q) if np.isfinite(q).all() else p.astype(np.float64)
                      for p, q in zip(points, pose)]) if len(points) else points
    opened, _, confidence = shipped(points, pose)
    return opened, shipped(moved, pose)[1], confidence


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--eval", action="store_true", help="also run vcam eval gaze with the rigid placement")
    args = parser.parse_args()
    sys.stdout.write(report(record_demo(args.frames), record_stills()) + "\n")
    if args.eval:
        import vcam.pipeline.gaze as stage
        from vcam.evaluate_gaze import evaluate_gaze, format_report

        stage.gazes = rigid_gazes
        sys.stdout.write("\nvcam eval gaze, rigid placement:\n" + format_report(evaluate_gaze(LABELS)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
