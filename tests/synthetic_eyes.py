"""A face of known head pose and gaze as 478 FaceMesh-indexed points: pose's 3D model, eyes and irises.

The head is :data:`vcam.pipeline.pose.MODEL_POINTS` (the 16 points pose solves on) plus, per eye, its lids
and its iris centre placed on the eyeball of :mod:`vcam.pipeline.gaze_geometry`, turned to the gaze asked.
Points the gaze stage does not read stay at the nose tip.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vcam.pipeline.gaze_geometry import EYES, OFFSET, RADIUS, rotation
from vcam.pipeline.pose import LANDMARK_IDS, MODEL_POINTS

LID_GAP = 10.0
"""Model units between the lids of an open eye (~0.3 of its width)."""


def head_model(lid_gap: float = LID_GAP) -> np.ndarray:
    """``(478, 3)`` head-frame points (model units) with lids ``lid_gap`` apart; irises not set."""
    mesh = np.zeros((478, 3))
    mesh[LANDMARK_IDS] = MODEL_POINTS
    for eye in EYES:
        a, b = mesh[eye.corners[0]], mesh[eye.corners[1]]
        for f, (upper, lower) in zip((0.25, 0.5, 0.75), eye.lids):
            mesh[upper] = a + f * (b - a) + [0, -lid_gap / 2, -2]
            mesh[lower] = a + f * (b - a) + [0, lid_gap / 2, -2]
    return mesh


def gaze_vector(yaw: float, pitch: float) -> np.ndarray:
    """``(3,)`` unit vector in camera axes for a gaze of ``yaw``, ``pitch`` degrees (head pose's convention)."""
    y, p = math.radians(yaw), math.radians(pitch)
    return np.array([math.sin(y) * math.cos(p), -math.sin(p), -math.cos(y) * math.cos(p)])


def posed(head: tuple[float, float, float], gaze: tuple[float, float], lid_gap: float = LID_GAP) -> np.ndarray:
    """``(478, 3)`` camera-frame points of a head turned by ``head`` degrees, eyes looking at ``gaze`` degrees."""
    r = rotation(*head)
    points = head_model(lid_gap) @ r.T
    for eye in EYES:
        centre = r @ ((head_model()[eye.corners[0]] + head_model()[eye.corners[1]]) / 2 + OFFSET)
        points[eye.iris] = centre + RADIUS * gaze_vector(*gaze)
    return points


def orthographic(points: np.ndarray, scale: float = 2.0, at: tuple[float, float] = (320, 240)) -> np.ndarray:
    """``(478, 3)`` image points: x, y scaled to pixels around ``at``, z kept."""
    out = points * scale
    out[:, :2] += at
    return out


def perspective(points: np.ndarray, camera: np.ndarray, distance: float = 700.0) -> np.ndarray:
    """``(478, 3)`` image points of ``points`` placed ``distance`` units in front of a pinhole ``camera``."""
    image, _ = cv2.projectPoints(points, np.zeros(3), np.array([0.0, 0.0, distance]), camera, None)
    return np.concatenate([image.reshape(-1, 2), points[:, 2:]], axis=1)
