"""Gaze calibration on request ("everyone is looking at their screen now"): on the real 3x3 demo, within
the bound, only from open eyes seen just now, kept until forgotten."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_eyes import orthographic, posed

from vcam.pipeline import Analyzer
from vcam.pipeline.gaze import RECENT_S, Gaze
from vcam.sources.demo import DemoSource
from vcam.types import Faces, Frame

BLACK = np.zeros((4, 4, 3), np.uint8)


def looking_at(head: tuple[float, float, float], direction: tuple[float, float]) -> np.ndarray:
    return orthographic(posed(head, direction)).astype(np.float32)


def step(gaze: Gaze, t: float, landmarks: np.ndarray, pose: tuple[float, float, float] = (0, 0, 0)) -> Faces:
    faces = Faces.from_boxes(np.array([[0, 0, 100, 100]], np.float32)).replace(
        track_id=np.array([7]), pose=np.array([pose], np.float32), landmarks=landmarks[None])
    return gaze(Frame(BLACK, int(t * 10), t), faces)


def test_the_demo_portrait_read_as_looking_up_looks_once_calibrated():
    """Obama's portrait looks into the lens but reads above the screen region: away in every frame until the
    presenter calibrates; the two portraits looking down (eyes lowered) are not calibrated and stay away."""
    judged: dict[str, list[list[bool]]] = {}
    with DemoSource(3, 3, 1280, 720, realtime=False) as source, Analyzer(("gaze",)) as analyzer:
        names, rects = source.tile_names(), source.tile_rects()
        for i in range(40):
            if i == 20:
                done, tracked = analyzer.stage("gaze").calibrate()
                assert (done, tracked) == (7, 9)
            faces = analyzer.process(source.read()).faces
            for box, on in zip(faces.bbox, faces.on_screen):
                cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
                tile = next(k for k, (x, y, w, h) in enumerate(rects) if x <= cx < x + w and y <= cy < y + h)
                judged.setdefault(names[tile], [[], []])[i >= 20].append(bool(on))
    before = {name: np.mean(b[5:]) for name, (b, a) in judged.items()}
    after = {name: np.mean(a) for name, (b, a) in judged.items()}
    assert before["Barack Obama"] == 0 and after["Barack Obama"] == 1
    down = [name for name, share in after.items() if share < 0.5]
    assert len(down) == 2 and all(before[name] == 0 for name in down)
    assert sum(share == 1 for share in after.values()) == 7


def test_a_person_far_above_the_screen_stays_away_calibrated_within_the_bound():
    gaze = Gaze()
    for i in range(10):
        step(gaze, i / 10, looking_at((0, 0, 0), (0, 25)))
    assert gaze.calibrate() == (1, 1)
    assert gaze._tracks[7].calibration.shift.tolist() == pytest.approx([0.0, 10.0])
    out = step(gaze, 1.0, looking_at((0, 0, 0), (0, 25)))
    assert not out.on_screen[0] and out.away_reason[0] == "looking up" and out.gaze_calibrated[0]
    assert step(gaze, 1.1, looking_at((0, 0, 0), (0, 8))).on_screen[0], "8° up is inside the moved region"


def test_only_open_eyes_seen_in_the_last_two_seconds_count():
    gaze = Gaze()
    for i in range(10):
        step(gaze, i / 10, looking_at((0, 0, 0), (0, 5)))
    for i in range(10, 40):  # then the face is not seen for 3 s (other faces are)
        gaze(Frame(BLACK, i, i / 10), Faces.from_boxes(np.zeros((0, 4), np.float32)))
    assert gaze._now - 0.9 > RECENT_S
    assert gaze.calibrate() == (0, 1)
    assert not step(gaze, 4.0, looking_at((0, 0, 0), (0, 5))).gaze_calibrated[0]


def test_a_calibration_is_kept_until_forgotten_and_learning_does_not_move_it():
    gaze = Gaze()
    for i in range(10):
        step(gaze, i / 10, looking_at((0, 0, 0), (0, 5)))
    gaze.calibrate()
    anchored = gaze._tracks[7].calibration.shift.copy()
    for i in range(10, 300):  # 29 s of steady looks lower down, inside the prior's region
        step(gaze, i / 10, looking_at((0, 0, 0), (5, -15)))
    assert gaze._tracks[7].calibration.shift.tolist() == anchored.tolist()
    assert gaze.uncalibrate() == 1
    assert gaze._tracks[7].calibration.shift.tolist() == [0.0, 0.0]
    out = step(gaze, 30.0, looking_at((0, 0, 0), (0, 5)))
    assert not out.on_screen[0] and not out.gaze_calibrated[0], "5° up is above the prior's region"
