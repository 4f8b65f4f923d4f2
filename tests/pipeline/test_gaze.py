"""gaze: eye openness, gaze angles and the looking decision on real landmarks; blinks, closed eyes, calibration."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_eyes import orthographic, posed

from vcam.pipeline import Analyzer
from vcam.pipeline.gaze import Gaze, iris_ratios
from vcam.pipeline.gaze_geometry import CLOSED_EYE, EYES, openness
from vcam.types import Faces, Frame

BLACK = np.zeros((4, 4, 3), np.uint8)


@pytest.fixture(scope="module")
def obama(load_image):
    with Analyzer() as analyzer:
        return analyzer.process(Frame(load_image("obama.jpg"), 0, 0.0)).faces


def faces_with(pose: list[float], landmarks: np.ndarray) -> Faces:
    return Faces.from_boxes(np.array([[0, 0, 100, 100]], np.float32)).replace(
        track_id=np.array([7]), pose=np.array([pose], np.float32), landmarks=landmarks[None])


def shut(landmarks: np.ndarray) -> np.ndarray:
    """The same face with every lid pair meeting half-way."""
    lm = landmarks.copy()
    for eye in EYES:
        for upper, lower in eye.lids:
            lm[upper, :2] = lm[lower, :2] = (lm[upper, :2] + lm[lower, :2]) / 2
    return lm


def run(gaze: Gaze, frames: list[tuple[float, np.ndarray]], pose: list[float] | None = None) -> list[Faces]:
    return [gaze(Frame(BLACK, i, t), faces_with(pose or [0, 0, 0], lm)) for i, (t, lm) in enumerate(frames)]


def test_a_person_looking_into_the_camera_has_centred_irises_and_open_eyes(obama):
    h, v = iris_ratios(obama.landmarks[0])
    assert 0.4 < h < 0.6 and 0.3 < v < 0.7
    assert (obama.eye_open[0] > 0.15).all()
    assert obama.eye_openness[0] == pytest.approx(obama.eye_open[0].mean())


def test_a_frontal_face_looking_into_the_camera_is_on_screen_with_a_gaze_near_zero(obama):
    assert bool(obama.on_screen[0]) and obama.away_reason[0] is None
    assert np.abs(obama.gaze_angles[0]).max() < 8.0


def test_looking_into_the_lens_for_a_few_seconds_moves_the_screen_up_to_it(obama):
    """The prior puts the lens near the screen's top edge (low confidence); a steady look calibrates it."""
    out = run(Gaze(), [(i / 10, obama.landmarks[0]) for i in range(40)], pose=obama.pose[0].tolist())
    assert all(bool(f.on_screen[0]) for f in out)
    assert out[0].on_screen_conf[0] < 0.5 < 0.8 < out[-1].on_screen_conf[0]


def test_shut_lids_read_under_the_closed_threshold(obama):
    lm = shut(obama.landmarks[0])
    assert all(openness(lm, eye) < CLOSED_EYE / 4 for eye in EYES)


def test_eyes_shut_longer_than_a_blink_are_not_looking_and_say_why(obama):
    lm, closed = obama.landmarks[0], shut(obama.landmarks[0])
    out = run(Gaze(), [(0.0, lm), (0.1, lm), (0.2, closed), (0.4, closed), (0.7, closed)])
    assert [bool(f.on_screen[0]) for f in out] == [True, True, True, True, False]
    assert [bool(f.eyes_closed[0]) for f in out] == [False, False, False, False, True]
    assert out[-1].away_reason[0] == "eyes closed" and np.isnan(out[-1].gaze_angles[0]).all()


def test_a_blink_does_not_flip_the_decision(obama):
    lm, closed = obama.landmarks[0], shut(obama.landmarks[0])
    out = run(Gaze(), [(t / 10, closed if 3 <= t <= 5 else lm) for t in range(10)])
    assert all(bool(f.on_screen[0]) for f in out) and not any(bool(f.eyes_closed[0]) for f in out)


def looking_at(head: tuple[float, float, float], direction: tuple[float, float]) -> np.ndarray:
    return orthographic(posed(head, direction)).astype(np.float32)


def test_a_turned_head_with_eyes_that_follow_it_is_away_and_says_the_head_turned():
    out = run(Gaze(), [(0.0, looking_at((45, 0, 0), (45, 0)))], pose=[45, 0, 0])
    assert not out[0].on_screen[0] and out[0].away_reason[0] == "head turned"
    assert out[0].gaze_angles[0] == pytest.approx([45, 0], abs=0.1)


def test_a_turned_head_with_eyes_kept_on_the_lens_is_looking():
    out = run(Gaze(), [(0.0, looking_at((35, 0, 0), (0, 0)))], pose=[35, 0, 0])
    assert out[0].on_screen[0] and out[0].away_reason[0] is None


@pytest.mark.parametrize("direction, reason", [((0, 20), "looking up"), ((0, -35), "looking down"),
                                               ((35, -10), "looking aside")])
def test_eyes_off_the_screen_say_which_way(direction, reason):
    out = run(Gaze(), [(0.0, looking_at((0, 0, 0), direction))])
    assert not out[0].on_screen[0] and out[0].away_reason[0] == reason


def test_someone_who_keeps_looking_up_is_never_taught_that_up_is_the_screen():
    """Eyes open and steady 15° up (the lens is at 0°) for a minute: away throughout, calibration never moves."""
    gaze = Gaze()
    out = run(gaze, [(i / 10, looking_at((0, 5, 0), (0, 15))) for i in range(600)], pose=[0, 5, 0])
    assert not any(bool(f.on_screen[0]) for f in out)
    assert {f.away_reason[0] for f in out} == {"looking up"}
    assert gaze._tracks[7].calibration.shift.tolist() == [0.0, 0.0]


def test_a_screen_beside_the_camera_is_learnt_within_the_bound():
    """Someone reading a screen 18° aside and 10° below the lens: the ellipse moves there, never past 10°."""
    gaze = Gaze()
    run(gaze, [(i / 10, looking_at((10, 0, 0), (18, -10))) for i in range(200)], pose=[10, 0, 0])
    assert gaze._tracks[7].calibration.shift.tolist() == pytest.approx([10.0, 0.0], abs=0.1)
    edge = run(gaze, [(20.1, looking_at((10, 0, 0), (30, -10)))], pose=[10, 0, 0])[0]
    assert edge.on_screen[0], "12° beyond their screen's centre is inside the moved ellipse"
    far = run(gaze, [(20.2, looking_at((10, 0, 0), (-15, -10)))], pose=[10, 0, 0])[0]
    assert not far.on_screen[0] and far.away_reason[0] == "looking aside"
