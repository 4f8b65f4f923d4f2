"""gaze geometry: each eye's openness and gaze ray from the 478 landmarks and the head pose.

**The eyeball model** is OpenFace 2.0's (Baltrušaitis et al., "OpenFace 2.0: Facial Behavior Analysis
Toolkit", FG 2018; ``GazeEstimation.cpp``, after Wood et al., "Rendering of Eyes for Eye-Shape
Registration and Gaze Estimation", ICCV 2015): each eyeball is a sphere of radius 12 mm whose centre
sits at a fixed offset from the midpoint of its eye corners in the head's frame, ``(0, -3.5, 7)`` mm
(x right, y down, z away from the camera: 3.5 mm up, 7 mm behind; 2.3 mm up for FaceMesh's corners, see
:data:`OFFSET`). The gaze ray runs from the
eyeball's centre through the iris centre.

Here the head's frame is :mod:`vcam.pipeline.pose`'s model (100 units = the outer eye corners'
distance, about 90 mm in adults, so :data:`MM` = 0.9 mm per unit), and the camera is taken as
scaled-orthographic along the line of sight (the face's depth is small against its distance, and the
head pose is measured against that line), so in image pixels::

    centre = (corner + corner) / 2 + s · R[:2] · OFFSET        s: pixels per model unit
    g_xy   = (iris − centre) / (s · RADIUS)                    the unit gaze vector's image part
    g      = (g_x, g_y, −√(1 − |g_xy|²))                       towards the camera (−z)

``R`` is the head's rotation from ``[yaw, pitch, roll]`` (:func:`rotation`), ``s`` the outer corners'
pixel distance over their projected model distance. ``g`` gives gaze yaw and pitch in degrees with
head pose's sign convention (yaw > 0 towards the image's right, pitch > 0 up; 0, 0 into the lens).

**Eye openness** is the mean of three lid gaps (across the eye at a quarter, half and three quarters
of its length) over the corner-to-corner width, measured in the eye's own frame (head roll does not
bias it): about 0.25-0.4 open, under 0.1 shut. It is Soukupová and Čech's eye aspect
ratio ("Real-Time Eye Blink Detection using Facial Landmarks", CVWW 2016) with three gaps for two.

The eyes combine as unit vectors, each weighted by its pixel width (foreshortened when turned away from the
camera) times how open it is (:data:`OPEN_EYE`): an eye closing, or turned away, counts less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MM = 0.9
"""Millimetres per model unit (100 units = the outer eye corners' distance, ~90 mm)."""
RADIUS = 12.0 / MM
"""The eyeball's radius in model units (OpenFace 2: 12 mm)."""
OFFSET = np.array([0.0, -2.3, 7.0]) / MM
"""``(3,)`` the eyeball centre from the eye corners' midpoint, model units, head frame: OpenFace 2's 7 mm
behind, and 2.3 mm up where OpenFace has 3.5 mm for its own corner points. FaceMesh's corners (33, 133,
362, 263) sit higher: with 3.5 mm the five public-domain portraits of ``tests/data`` that look into the
lens (obama, obama3, biden, grace_hopper, astronaut) read a gaze pitch of -5.8° on average, with 2.3 mm 0°."""

CLOSED_EYE = 0.14
"""Mean openness of both eyes under which they count as shut: midway between the shut frames of the
labelled clip (90 % under 0.10) and the least open of the open-eyed portraits (0.185, a broad smile).
Higher calls more squints and downward looks shut."""
OPEN_EYE = 0.18
"""Openness from which an eye's iris is trusted fully (its weight falls linearly to 0 at half CLOSED_EYE)."""


@dataclass(frozen=True)
class Eye:
    """MediaPipe FaceMesh indices of one eye: corners (the person's right one first), lid pairs, iris centre."""

    corners: tuple[int, int]
    lids: tuple[tuple[int, int], ...]  # (upper, lower) pairs, right corner to left
    iris: int


#: The person's right eye (the image's left when unmirrored), then their left eye.
EYES = (Eye((33, 133), ((160, 144), (159, 145), (158, 153)), 468),
        Eye((362, 263), ((385, 380), (386, 374), (387, 373)), 473))


def openness(points: np.ndarray, eye: Eye) -> float:
    """Lid gap over eye width of one eye from ``(478, 2+)`` landmarks; NaN when the eye has no width."""
    return float(openness_of(np.asarray(points)[None], eye)[0])


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``(3, 3)`` head rotation (model to camera) from head-pose degrees.

    ``Ry(−yaw) · Rx(−pitch) · Rz(−roll)``: it points the face exactly where ``yaw`` and ``pitch`` say
    (:func:`vcam.pipeline.pose.euler_from_rotation` gives them back); its roll matches pose's within a
    degree or two at moderate yaw and pitch, which moves the eyeball centre by a small part of a pixel.
    """
    return rotations(np.array([[yaw, pitch, roll]], np.float64))[0]


def gaze(points: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One face's ``(openness (2,), [yaw, pitch] (2,) degrees, confidence 0..1)``, eyes in :data:`EYES` order.

    ``points`` are ``(478, 2+)`` frame pixels, ``pose`` ``[yaw, pitch, roll]`` degrees. The direction is
    NaN when the pose is unknown or both eyes are shut; the confidence is the eyes' summed weight
    over what two fully open eyes of this face would give.
    """
    opened, direction, confidence = gazes(np.asarray(points)[None], np.asarray(pose, np.float64)[None])
    return opened[0], direction[0], float(confidence[0])


def openness_of(points: np.ndarray, eye: Eye) -> np.ndarray:
    """``(N,)`` :func:`openness` of one eye of ``N`` faces' ``(N, 478, 2+)`` landmarks, at once."""
    a, b = points[:, eye.corners[0], :2], points[:, eye.corners[1], :2]
    axis = b - a
    width = np.hypot(axis[:, 0], axis[:, 1])
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1) / np.maximum(width, 1e-3)[:, None]
    gaps = sum(((points[:, low, :2] - points[:, up, :2]) * normal).sum(axis=1) for up, low in eye.lids)
    return np.where(width < 1e-3, np.nan, np.maximum(0.0, gaps / len(eye.lids) / np.maximum(width, 1e-3)))


def rotations(pose: np.ndarray) -> np.ndarray:
    """``(N, 3, 3)`` :func:`rotation` of ``N`` head poses ``(N, 3)`` ``[yaw, pitch, roll]`` degrees."""
    y, p, r = (np.radians(-pose[:, k].astype(np.float64)) for k in range(3))
    one, zero = np.ones_like(y), np.zeros_like(y)
    ry = np.stack([np.cos(y), zero, np.sin(y), zero, one, zero, -np.sin(y), zero, np.cos(y)], 1).reshape(-1, 3, 3)
    rx = np.stack([one, zero, zero, zero, np.cos(p), -np.sin(p), zero, np.sin(p), np.cos(p)], 1).reshape(-1, 3, 3)
    rz = np.stack([np.cos(r), -np.sin(r), zero, np.sin(r), np.cos(r), zero, zero, zero, one], 1).reshape(-1, 3, 3)
    return ry @ rx @ rz


def gazes(points: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`gaze` of ``N`` faces at once: ``(N, 2)`` openness, ``(N, 2)`` ``[yaw, pitch]`` degrees (NaN where
    the pose is unknown or both eyes are shut) and ``(N,)`` confidence, from ``(N, 478, 2+)`` landmarks
    (frame pixels) and ``(N, 3+)`` poses (degrees)."""
    n = len(points)
    opened = np.stack([openness_of(points, e) for e in EYES], axis=1).astype(np.float32)
    posed = np.isfinite(pose[:, :3]).all(axis=1)
    r = rotations(np.where(posed[:, None], pose[:, :3], 0.0))
    widths = np.stack([np.hypot(*(points[:, e.corners[1], :2] - points[:, e.corners[0], :2]).T) for e in EYES], 1)
    s = np.hypot(*(points[:, 263, :2] - points[:, 33, :2]).T) / np.maximum(
        100.0 * np.hypot(r[:, 0, 0], r[:, 1, 0]), 30.0)
    trust = np.clip((opened - CLOSED_EYE / 2) / (OPEN_EYE - CLOSED_EYE / 2), 0.0, 1.0)
    weights = np.where(np.isfinite(opened), widths * np.nan_to_num(trust), 0.0)  # (N, 2)
    g = np.zeros((n, 3))
    for k, e in enumerate(EYES):
        g += weights[:, k, None] * _rays(points, e, r, s)
    total = weights.sum(axis=1)
    usable = posed & (total > 0) & (s > 0)
    g /= np.maximum(np.linalg.norm(g, axis=1), 1e-12)[:, None]
    yaw = np.degrees(np.arctan2(g[:, 0], -g[:, 2]))
    pitch = np.degrees(np.arctan2(-g[:, 1], np.hypot(g[:, 0], g[:, 2])))
    direction = np.where(usable[:, None], np.stack([yaw, pitch], 1), np.nan).astype(np.float32)
    confidence = np.where(usable, np.minimum(1.0, total / np.maximum(widths.sum(axis=1), 1e-6)), 0.0)
    return opened, direction, confidence.astype(np.float32)


def _rays(points: np.ndarray, eye: Eye, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``(N, 3)`` unit gaze vectors of one eye of ``N`` faces in camera axes (x right, y down, z away), from the
    eyeball model (rotations ``r`` ``(N, 3, 3)``, scales ``s`` ``(N,)`` pixels per model unit)."""
    a, b = points[:, eye.corners[0], :2], points[:, eye.corners[1], :2]
    centre = (a + b) / 2.0 + s[:, None] * (r[:, :2] @ OFFSET)
    g = (points[:, eye.iris, :2] - centre) / np.maximum(s * RADIUS, 1e-9)[:, None]
    norm = np.hypot(g[:, 0], g[:, 1])
    g = g * np.where(norm > 0.99, 0.99 / np.maximum(norm, 1e-12), 1.0)[:, None]
    return np.concatenate([g, -np.sqrt(np.maximum(1.0 - (g * g).sum(axis=1), 0.0))[:, None]], axis=1)
