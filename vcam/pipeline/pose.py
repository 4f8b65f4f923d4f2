"""pose: head yaw, pitch and roll in degrees, by solvePnP against a 3D face model.

Sign convention (for the person as seen in the image, unmirrored):

- **yaw > 0**: the face points towards the image's right (the person turned
  to their own left). Mirroring the image flips yaw's sign.
- **pitch > 0**: the face points up.
- **roll > 0**: the head is tilted counter-clockwise as displayed, the same
  sense as the angle of ``cv2.getRotationMatrix2D``: rotating an upright
  portrait by +20° that way gives a roll of about +20°.

All three are 0 for a face looking straight into its camera. They are measured
against the line of sight from the camera to the face, not the optical axis, so
a face near the frame's edge, or in any tile of a meeting grid (each tile is
another camera), reads 0 when it faces its camera. The camera is modelled as a
pinhole with focal length = frame width and the principal point at the frame
centre unless intrinsics are given (most webcams are 55-75° wide, which this
matches).

The 3D model is FaceMesh's own geometry: 16 rigid points (nose, nose bridge,
forehead, chin, eye corners, cheeks, nostrils; no lips or brows, which move with
expression) averaged over frontal public-domain portraits and made left-right
symmetric, by ``models/convert/head_model.py``. Axes are camera-like: x right,
y down, z away from the camera, nose tip at the origin, 100 units = the distance
between the outer eye corners. A generic anthropometric model read frontal
faces as 25-35° pitched down, because FaceMesh places its points differently.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vcam.types import Faces, Frame

#: MediaPipe FaceMesh indices of the model points, in the order of MODEL_POINTS.
LANDMARK_IDS = np.array([1, 4, 6, 10, 152, 168, 33, 263, 133, 362, 234, 454, 98, 327, 127, 356])

#: For each model point, the index of its mirror image (left ↔ right).
MIRROR = np.array([0, 1, 2, 3, 4, 5, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14])

#: ``(16, 3)`` model points (see the module docstring).
MODEL_POINTS = np.array([
    [0.00, 0.00, 0.00],
    [0.00, -7.47, -2.43],
    [0.00, -41.50, 18.35],
    [0.00, -101.78, 28.87],
    [0.00, 83.46, 43.17],
    [0.00, -49.59, 23.41],
    [-50.00, -46.51, 48.66],
    [50.00, -46.51, 48.66],
    [-19.26, -44.99, 43.15],
    [19.26, -44.99, 43.15],
    [-78.34, -25.40, 108.74],
    [78.34, -25.40, 108.74],
    [-22.32, 1.29, 26.88],
    [22.32, 1.29, 26.88],
    [-78.58, -41.24, 103.62],
    [78.58, -41.24, 103.62],
], np.float64)


def camera_matrix(width: int, height: int) -> np.ndarray:
    """``(3, 3)`` pinhole intrinsics estimated from the frame size in pixels."""
    f = float(width)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)


def euler_from_rotation(r: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees from a ``(3, 3)`` model-to-camera rotation."""
    forward = r @ np.array([0.0, 0.0, -1.0])  # where the face points (towards the camera when 0)
    right = r @ np.array([1.0, 0.0, 0.0])  # the face's image-right axis
    yaw = math.degrees(math.atan2(forward[0], -forward[2]))
    pitch = math.degrees(math.atan2(-forward[1], math.hypot(forward[0], forward[2])))
    roll = math.degrees(math.atan2(-right[1], right[0]))
    return yaw, pitch, roll


def head_pose(points: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """``[yaw, pitch, roll]`` degrees from one face's ``(478, 3)`` frame-pixel landmarks; NaN if unsolvable."""
    image_points = points[LANDMARK_IDS, :2].astype(np.float64)
    if not np.all(np.isfinite(image_points)):
        return np.full(3, np.nan, np.float32)
    ok, rvec, tvec = cv2.solvePnP(MODEL_POINTS, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0:
        return np.full(3, np.nan, np.float32)
    rotation = line_of_sight(tvec.ravel()).T @ cv2.Rodrigues(rvec)[0]
    return np.array(euler_from_rotation(rotation), np.float32)


def line_of_sight(target: np.ndarray) -> np.ndarray:
    """``(3, 3)`` rotation taking the optical axis (0, 0, 1) onto the ray towards ``target`` (camera coordinates)."""
    d = target / np.linalg.norm(target)
    axis = np.cross([0.0, 0.0, 1.0], d)
    angle = np.arctan2(np.linalg.norm(axis), d[2])
    if np.linalg.norm(axis) < 1e-12:
        return np.eye(3)
    return cv2.Rodrigues(axis / np.linalg.norm(axis) * angle)[0]


class Pose:
    """The pose stage.

    Args:
        camera: ``(3, 3)`` calibrated intrinsics; None estimates them from each frame's size.
    """

    name = "pose"
    feature = None

    def __init__(self, camera: np.ndarray | None = None) -> None:
        self.camera = camera

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        if len(faces) == 0:
            return faces
        cam = self.camera if self.camera is not None else camera_matrix(*frame.size)
        return faces.replace(pose=np.stack([head_pose(p, cam) for p in faces.landmarks]))

    def forget(self, track_ids: set[int]) -> None:
        """Nothing per track."""

    def close(self) -> None:
        """Nothing to free."""
