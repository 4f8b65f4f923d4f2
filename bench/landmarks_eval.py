"""The batched landmarks stage against MediaPipe FaceMesh (vcam's stage before it), on real faces and the demo gallery.

    .venv/bin/python bench/landmarks_eval.py [--frames 20] [--json out.json] [--eye-points mesh|lids|all]

Both stages see exactly the same faces: vcam's analyzer runs with a landmarks stage that
calls FaceMesh (``tests/facemesh_reference.py``) and the new stage on the same tracked boxes
and passes the new stage's result on. Each stage's output then goes through its own pose
and gaze stages, so the downstream values are compared as vcam computes them.

Sets: every photo in tests/data (each analysed as 3 frames of a still video; the last one
counts, as a live face is seen again and again), and the demo gallery at 1920×1080 with
3×3 and 7×7 tiles (``--frames`` frames each; every frame counts after the first 3).

Figures per set, over the faces both stages found (FaceMesh is the reference):

- **found**: faces FaceMesh found, and how many of them the new stage found (and extra ones);
- **mesh / iris / eye error**: per face, the mean distance of the 468 mesh points, the 10
  iris points, the 8 eye points gaze uses, divided by the inter-ocular distance (outer eye
  corners 33–263 of FaceMesh): median and p95 over faces;
- **pose**: |yaw|, |pitch|, |roll| difference in degrees, median and p95;
- **iris ratio**: |h_ratio|, |v_ratio| and |eye openness| difference, median and p95;
- **on_screen**: the share of faces where both say the same.

It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the FaceMesh reference lives beside the tests that use it
DATA = ROOT / "tests" / "data"
PHOTOS = sorted(p.name for p in DATA.glob("*.jpg"))
GAZE_EYE_POINTS = np.array([33, 133, 159, 145, 362, 263, 386, 374])


class Both:
    """A landmarks stage running FaceMesh and the new stage on the same faces; records both, passes the new one's on."""

    name = "landmarks"
    feature = None

    def __init__(self, new, reference) -> None:
        self.new, self.reference = new, reference
        self.last: tuple | None = None

    def __call__(self, frame, faces):
        ref, new = self.reference(frame, faces), self.new(frame, faces)
        self.last = (frame, ref, new)
        return new

    def forget(self, track_ids: set[int]) -> None:
        self.new.forget(track_ids)
        self.reference.forget(track_ids)

    def close(self) -> None:
        self.new.close()
        self.reference.close()


class Downstream:
    """Pose and gaze for one stage's faces (a Gaze per stage: its baselines are per track)."""

    def __init__(self) -> None:
        from vcam.pipeline.gaze import Gaze
        from vcam.pipeline.pose import Pose

        self.pose, self.gaze = Pose(), Gaze()

    def __call__(self, frame, faces):
        return self.gaze(frame, self.pose(frame, faces))


def face_rows(ref, new) -> list[tuple[int, int]]:
    """``(row in ref, row in new)`` for every track both found."""
    where = {int(t): i for i, t in enumerate(new.track_id)}
    return [(i, where[int(t)]) for i, t in enumerate(ref.track_id) if int(t) in where]


def compare(ref, new) -> dict[str, list]:
    """Per-face differences between two analysed Faces of one frame (see the module docstring)."""
    out: dict[str, list] = {k: [] for k in ("mesh", "iris", "eyes", "yaw", "pitch", "roll", "h", "v", "open", "agree")}
    for i, j in face_rows(ref, new):
        a, b = ref.landmarks[i], new.landmarks[j]
        d = np.linalg.norm(a[:, :2] - b[:, :2], axis=1) / np.linalg.norm(a[33, :2] - a[263, :2])
        out["mesh"].append(float(d[:468].mean()))
        out["iris"].append(float(d[468:].mean()))
        out["eyes"].append(float(d[GAZE_EYE_POINTS].mean()))
        for k, name in enumerate(("yaw", "pitch", "roll")):
            out[name].append(float(abs(ref.pose[i, k] - new.pose[j, k])))
        out["h"].append(float(abs(ref.gaze[i, 0] - new.gaze[j, 0])))
        out["v"].append(float(abs(ref.gaze[i, 1] - new.gaze[j, 1])))
        out["open"].append(float(abs(ref.eye_openness[i] - new.eye_openness[j])))

        out["agree"].append(float(ref.on_screen[i] == new.on_screen[j]))
    return out


def run_frames(frames, stage_kwargs: dict) -> dict:
    """Analyse ``frames`` (an iterable of (Frame, counts)) with both stages; the per-face differences and face counts."""
    from facemesh_reference import FaceMeshLandmarks

    from vcam.pipeline import Analyzer, default_stages
    from vcam.pipeline.landmarks import Landmarks

    stages = default_stages()
    both = Both(Landmarks(**stage_kwargs), FaceMeshLandmarks())
    stages = [both if s.name == "landmarks" else s for s in stages]
    ref_down, new_down = Downstream(), Downstream()
    diffs: dict[str, list] = {}
    counts = {"reference": 0, "found_of_reference": 0, "new": 0}
    with Analyzer(["gaze"], stages=stages) as analyzer:
        for frame, counted in frames:
            analyzer.process(frame)
            if not counted:
                continue
            _, ref, new = both.last
            ref, new = ref_down(frame, ref), new_down(frame, new)
            counts["reference"] += len(ref)
            counts["new"] += len(new)
            counts["found_of_reference"] += len(face_rows(ref, new))
            for k, v in compare(ref, new).items():
                diffs.setdefault(k, []).extend(v)
    return {"counts": counts, "diffs": diffs}


def photo_frames(name: str):
    """A photo as 3 frames of a still video; only the last counts."""
    import cv2

    from vcam.types import Frame

    image = cv2.imread(str(DATA / name))
    return [(Frame(image, k, k / 30), k == 2) for k in range(3)]


def demo_frames(rows: int, cols: int, n: int):
    """``n`` frames of the demo gallery at 1920×1080; the first 3 do not count (tracks start)."""
    from vcam.sources.demo import DemoSource
    from vcam.types import Frame

    with DemoSource(rows=rows, cols=cols, realtime=False) as source:
        yield from ((Frame(source.render(i), i, i / 30), i >= 3) for i in range(n))


def summary(result: dict) -> dict:
    """Medians and p95s of the differences, and the counts."""
    d = result["diffs"]
    stats = {k: (float(np.median(v)), float(np.percentile(v, 95))) for k, v in d.items() if v and k != "agree"}
    agree = float(np.mean(d["agree"])) if d.get("agree") else float("nan")
    return {"counts": result["counts"], "stats": stats, "on_screen_agreement": agree}


def print_row(name: str, s: dict) -> None:
    c, st = s["counts"], s["stats"]
    fmt = lambda k, p=3: f"{st[k][0]:.{p}f}/{st[k][1]:.{p}f}" if k in st else "-"  # noqa: E731
    print(f"{name:14s} {c['found_of_reference']:4d}/{c['reference']:<4d} {c['new']:5d}  {fmt('mesh')} {fmt('iris')} "
          f"{fmt('eyes')}  {fmt('yaw', 1)} {fmt('pitch', 1)} {fmt('roll', 1)}  {fmt('h')} {fmt('v')} {fmt('open')}  "
          f"{s['on_screen_agreement']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="demo frames per gallery (the first 3 are warm-up)")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--eye-points", choices=["mesh", "lids", "all"],
                        help="the new stage's eye_points (default: the stage's default)")
    args = parser.parse_args()
    from vcam.nativelog import filter_native_logs

    filter_native_logs()
    kwargs = {"eye_points": args.eye_points} if args.eye_points else {}
    results = {"photos": merge([run_frames(photo_frames(p), kwargs) for p in PHOTOS])}
    for rows, cols in ((3, 3), (7, 7)):
        results[f"demo {rows}x{cols}"] = run_frames(demo_frames(rows, cols, args.frames), kwargs)
    summaries = {k: summary(v) for k, v in results.items()}
    print(f"new stage Landmarks({kwargs or 'defaults'}); FaceMesh is the reference; cells are median/p95 over faces")
    print(f"{'set':14s} {'found':>9s} {'new':>5s}  {'mesh/IOD':11s} {'iris/IOD':11s} {'eyes/IOD':11s}  "
          f"{'yaw°':9s} {'pitch°':9s} {'roll°':9s}  {'h_ratio':11s} {'v_ratio':11s} {'openness':11s}  on_screen")
    for name, s in summaries.items():
        print_row(name, s)
    if args.json:
        Path(args.json).write_text(json.dumps({"summaries": summaries, "results": results}, indent=1))


def merge(results: list[dict]) -> dict:
    """One result from several (counts added, differences concatenated)."""
    out = {"counts": {k: sum(r["counts"][k] for r in results) for k in results[0]["counts"]}, "diffs": {}}
    for r in results:
        for k, v in r["diffs"].items():
            out["diffs"].setdefault(k, []).extend(v)
    return out


if __name__ == "__main__":
    main()
