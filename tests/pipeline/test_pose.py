"""pose: the sign convention holds on real portraits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vcam.pipeline import Analyzer
from vcam.types import Frame


def pose_of(image: np.ndarray) -> np.ndarray:
    with Analyzer() as analyzer:
        faces = analyzer.process(Frame(image, 0, 0.0)).faces
    assert len(faces) == 1
    return faces.pose[0]


@pytest.mark.parametrize("name", ["obama2.jpg", "obama3.jpg", "biden.jpg"])
def test_mirroring_a_portrait_flips_the_sign_of_yaw(load_image, name):
    image = load_image(name)
    yaw, pitch, _ = pose_of(image)
    myaw, mpitch, _ = pose_of(cv2.flip(image, 1))
    assert abs(yaw) > 5, f"{name} should be a turned face (yaw {yaw:.1f})"
    assert np.sign(myaw) == -np.sign(yaw)
    assert abs(myaw + yaw) < 4.0
    assert abs(mpitch - pitch) < 4.0


def test_a_frontal_portrait_reads_near_zero(load_image):
    yaw, pitch, roll = pose_of(load_image("obama.jpg"))
    assert abs(yaw) < 8 and abs(pitch) < 10 and abs(roll) < 5


@pytest.mark.parametrize("angle", [20.0, -20.0])
def test_rotating_a_portrait_20_degrees_gives_a_roll_of_about_20(load_image, angle):
    image = load_image("obama.jpg")
    _, _, roll0 = pose_of(image)
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    rotated = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    _, _, roll = pose_of(rotated)
    assert roll - roll0 == pytest.approx(angle, abs=3.0)
