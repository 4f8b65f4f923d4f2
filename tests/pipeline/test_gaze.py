"""gaze: iris ratios from real landmarks, and a per-person baseline learnt on the fly."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.pipeline import Analyzer
from vcam.pipeline.gaze import Baseline, Gaze, iris_ratios
from vcam.types import Faces, Frame


@pytest.fixture(scope="module")
def obama(load_image):
    with Analyzer() as analyzer:
        return analyzer.process(Frame(load_image("obama.jpg"), 0, 0.0)).faces


def test_a_person_looking_into_the_camera_has_centred_irises(obama):
    h, v, openness = iris_ratios(obama.landmarks[0])
    assert 0.4 < h < 0.6 and 0.3 < v < 0.7
    assert openness > 0.15


def test_the_gaze_stage_publishes_each_faces_eye_openness(obama):
    assert obama.eye_openness[0] == pytest.approx(iris_ratios(obama.landmarks[0])[2])
    assert 0.15 < obama.eye_openness[0] < 0.5, "open eyes"


def test_closed_eyes_have_a_small_openness_and_are_not_on_screen(obama):
    lm = obama.landmarks[0].copy()
    for upper, lower in ((159, 145), (386, 374)):  # lids of each eye meet
        lm[upper, :2] = lm[lower, :2] = (lm[upper, :2] + lm[lower, :2]) / 2
    faces = Gaze()(Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0), faces_with([0, 0, 0], lm))
    assert faces.eye_openness[0] < 0.05 and not faces.on_screen[0]


def test_a_frontal_face_looking_into_the_camera_is_on_screen(obama):
    assert bool(obama.on_screen[0]) and obama.on_screen_conf[0] > 0.3


def faces_with(pose: list[float], landmarks: np.ndarray) -> Faces:
    return Faces.from_boxes(np.array([[0, 0, 100, 100]], np.float32)).replace(
        track_id=np.array([7]), pose=np.array([pose], np.float32), landmarks=landmarks[None])


def test_a_camera_beside_the_screen_is_learnt_as_the_baseline(obama):
    """Someone whose camera sits 20° to the side reads yaw 20° while reading their screen."""
    gaze, lm = Gaze(), obama.landmarks[0]
    judged = [gaze(Frame(np.zeros((4, 4, 3), np.uint8), i, i / 10), faces_with([20, 0, 0], lm)).on_screen[0]
              for i in range(60)]
    assert not judged[0], "before learning, 20° off is away"
    assert all(judged[-20:]), "after learning, their usual direction is the screen"


def test_looking_away_from_the_learnt_baseline_is_not_on_screen(obama):
    gaze, lm = Gaze(), obama.landmarks[0]
    for i in range(60):
        gaze(Frame(np.zeros((4, 4, 3), np.uint8), i, i / 10), faces_with([0, 0, 0], lm))
    away = gaze(Frame(np.zeros((4, 4, 3), np.uint8), 61, 6.1), faces_with([40, 0, 0], lm))
    assert not away.on_screen[0] and away.on_screen_conf[0] > 0.5


def test_the_baseline_is_clamped_near_straight_ahead():
    base = Baseline(warmup=1)
    for i in range(50):
        base.add(i, np.array([80.0, -60.0], np.float32))
    assert base.value().tolist() == [25.0, -20.0]
