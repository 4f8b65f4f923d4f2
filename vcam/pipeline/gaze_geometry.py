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

The eyes combine as unit vectors weighted by :func:`eye_weight`: an eye closing, or turned away from
the camera (foreshortened), counts less.
"""

from __future__ import annotations

import math
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
    a, b = points[eye.corners[0], :2], points[eye.corners[1], :2]
    axis = b - a
    width = float(np.hypot(*axis))
    if width < 1e-3:
        return math.nan
    normal = np.array([-axis[1], axis[0]]) / width  # points down the face when upright
    gaps = [float((points[low, :2] - points[up, :2]) @ normal) for up, low in eye.lids]
    return max(0.0, sum(gaps) / len(gaps) / width)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``(3, 3)`` head rotation (model to camera) from head-pose degrees.

    ``Ry(−yaw) · Rx(−pitch) · Rz(−roll)``: it points the face exactly where ``yaw`` and ``pitch`` say
    (:func:`vcam.pipeline.pose.euler_from_rotation` gives them back); its roll matches pose's within a
    degree or two at moderate yaw and pitch, which moves the eyeball centre by a small part of a pixel.
    """
    y, p, r = (math.radians(-v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def scale(points: np.ndarray, r: np.ndarray) -> float:
    """Pixels per model unit: the outer corners' pixel distance over their projected model distance (100 units)."""
    projected = 100.0 * float(np.hypot(r[0, 0], r[1, 0]))
    return float(np.hypot(*(points[263, :2] - points[33, :2]))) / max(projected, 30.0)


def eye_ray(points: np.ndarray, eye: Eye, r: np.ndarray, s: float) -> np.ndarray:
    """``(3,)`` unit gaze vector of one eye in camera axes (x right, y down, z away), from the eyeball model."""
    a, b = points[eye.corners[0], :2], points[eye.corners[1], :2]
    centre = (a + b) / 2.0 + s * (r[:2] @ OFFSET)
    g = (points[eye.iris, :2] - centre) / (s * RADIUS)
    norm = float(np.hypot(*g))
    if norm > 0.99:
        g = g * (0.99 / norm)
    return np.array([g[0], g[1], -math.sqrt(1.0 - float(g @ g))])


def angles(g: np.ndarray) -> tuple[float, float]:
    """``(yaw, pitch)`` degrees of a gaze vector, head pose's convention (0, 0: into the lens)."""
    yaw = math.degrees(math.atan2(g[0], -g[2]))
    pitch = math.degrees(math.atan2(-g[1], math.hypot(g[0], g[2])))
    return yaw, pitch


def eye_weight(points: np.ndarray, eye: Eye, open_: float) -> float:
    """How much one eye's ray counts: its pixel width (foreshortened when turned away) × how open it is."""
    if not math.isfinite(open_):
        return 0.0
    width = float(np.hypot(*(points[eye.corners[1], :2] - points[eye.corners[0], :2])))
    return width * min(1.0, max(0.0, (open_ - CLOSED_EYE / 2) / (OPEN_EYE - CLOSED_EYE / 2)))


def gaze(points: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """One face's ``(openness (2,), [yaw, pitch] (2,) degrees, confidence 0..1)``, eyes in :data:`EYES` order.

    ``points`` are ``(478, 2+)`` frame pixels, ``pose`` ``[yaw, pitch, roll]`` degrees. The direction is
    NaN when the pose is unknown or both eyes are shut; the confidence is the eyes' summed weight
    over what two fully open eyes of this face would give.
    """
    opened = np.array([openness(points, e) for e in EYES], np.float32)
    if not np.isfinite(pose[:3]).all():
        return opened, np.full(2, np.nan, np.float32), 0.0
    r = rotation(*(float(v) for v in pose[:3]))
    s = scale(points, r)
    weights = [eye_weight(points, e, o) for e, o in zip(EYES, opened)]
    total = sum(weights)
    if total <= 0 or s <= 0:
        return opened, np.full(2, np.nan, np.float32), 0.0
    g = sum(w * eye_ray(points, e, r, s) for w, e in zip(weights, EYES) if w > 0)
    full = sum(float(np.hypot(*(points[e.corners[1], :2] - points[e.corners[0], :2]))) for e in EYES)
    return opened, np.array(angles(g / np.linalg.norm(g)), np.float32), min(1.0, total / max(full, 1e-6))
