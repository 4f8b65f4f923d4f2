"""Derive pose's 3D head model from FaceMesh's own 3D landmarks on frontal portraits.

A generic anthropometric model disagrees with where FaceMesh puts its points
(a frontal face read about 25° pitch down with one). So the model is made from
FaceMesh itself: the 3D landmarks (x, y, z, z scaled like x) of the frontal,
public-domain portraits in ``tests/data``, each centred on the nose tip, levelled
(eye line horizontal), scaled to unit outer-eye-corner distance, mirrored and
averaged with itself (so the model is symmetric and a frontal face reads yaw 0),
then averaged over the portraits. Printed as Python to paste into
``vcam/pipeline/pose.py``.

Run from the repository root::

    .venv/bin/python models/convert/head_model.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from vcam.pipeline.detect import Detect
from vcam.pipeline.pose import LANDMARK_IDS, MIRROR
from vcam.types import Frame

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from facemesh_reference import FaceMeshLandmarks  # noqa: E402  (the FaceMesh the committed model was made from)

PORTRAITS = ["obama.jpg", "biden.jpg", "grace_hopper.jpg", "astronaut.jpg", "obama_partial_face.jpg"]


def normalised(points: np.ndarray) -> np.ndarray:
    """``(K, 3)`` model points of one face: nose at 0, level, unit eye distance."""
    p = points[LANDMARK_IDS].astype(np.float64)
    p -= p[0]
    right, left = points[33], points[263]
    angle = np.arctan2(left[1] - right[1], left[0] - right[0])
    c, s = np.cos(-angle), np.sin(-angle)
    p[:, :2] = p[:, :2] @ np.array([[c, s], [-s, c]])
    return p / np.linalg.norm(left[:2] - right[:2])


def symmetric(p: np.ndarray) -> np.ndarray:
    """Average ``p`` with its mirror image (x → −x, left ↔ right points)."""
    mirrored = p[MIRROR] * np.array([-1.0, 1.0, 1.0])
    return (p + mirrored) / 2


def main() -> None:
    shapes = []
    detect = Detect()
    for name in PORTRAITS:
        image = cv2.imread(f"tests/data/{name}")
        boxes = detect.find(image).select([0])
        faces = FaceMeshLandmarks()(Frame(image, 0, 0.0), boxes.replace(track_id=np.array([1])))
        shapes.append(symmetric(normalised(faces.landmarks[0])))
    model = np.mean(shapes, axis=0) * 100.0
    print("MODEL_POINTS = np.array([")
    for row in model:
        print(f"    [{row[0]:.2f}, {row[1]:.2f}, {row[2]:.2f}],")
    print("], np.float64)")


if __name__ == "__main__":
    main()
