"""gaze: is this person looking at their screen?

Two measurements per face:

- **iris ratios** (``Faces.gaze``): where each iris centre sits inside its eye,
  averaged over both eyes. ``h_ratio`` runs along the eye-corner axis from the
  person's right corner (0; the image's left when unmirrored) to their left
  corner (1); ``v_ratio`` runs from the upper lid (0) to the lower lid (1).
  0.5, 0.5 is an iris in the middle.
- **head pose** from :mod:`vcam.pipeline.pose`.

They combine into a gaze direction in degrees::

    gaze_yaw   = yaw   + EYE_YAW_DEG   × (h_ratio − 0.5)
    gaze_pitch = pitch − EYE_PITCH_DEG × (v_ratio − 0.5)

Every camera sits somewhere else relative to its screen, so "looking at the
screen" is not "looking into the camera". In a meeting people mostly look at
their screen, so each track learns its own baseline on the fly: the median gaze
direction over its last ``window`` seconds (pulled towards straight-ahead
while there are few samples, and clamped to ``max_offset`` degrees, since a
camera sits near its screen). A face is on screen when its gaze lies inside an
ellipse of ``yaw_tol`` × ``pitch_tol`` degrees around its baseline and its eyes
are open.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from vcam.types import Faces, Frame

#: Degrees of eye rotation for the iris moving from the eye's centre to its corner (ratio 0.5).
EYE_YAW_DEG = 90.0
EYE_PITCH_DEG = 60.0

# (corner on the person's right, corner on their left, upper lid, lower lid, iris centre)
_RIGHT_EYE = (33, 133, 159, 145, 468)
_LEFT_EYE = (362, 263, 386, 374, 473)

#: Eye opening (lid gap / eye width) below which an eye counts as closed.
CLOSED_EYE = 0.09


def eye_ratios(points: np.ndarray, eye: tuple[int, int, int, int, int]) -> tuple[float, float, float]:
    """``(h_ratio, v_ratio, openness)`` of one eye from ``(478, 3)`` landmarks.

    Measured in the eye's own frame, so head roll does not bias them.
    """
    a, b, up, low, iris = (points[i, :2] for i in eye)
    axis = b - a
    width2 = float(axis @ axis)
    if width2 < 1e-6:
        return np.nan, np.nan, np.nan
    normal = np.array([-axis[1], axis[0]]) / np.sqrt(width2)  # points down the face when upright
    h = float((iris - a) @ axis) / width2
    top, bottom = float((up - a) @ normal), float((low - a) @ normal)
    gap = bottom - top
    v = (float((iris - a) @ normal) - top) / gap if abs(gap) > 1e-6 else np.nan
    return h, v, gap / np.sqrt(width2)


def iris_ratios(points: np.ndarray) -> tuple[float, float, float]:
    """``(h_ratio, v_ratio, openness)`` averaged over both eyes (one eye if the other is unmeasurable)."""
    r, l = eye_ratios(points, _RIGHT_EYE), eye_ratios(points, _LEFT_EYE)
    return tuple(_mean_finite(x, y) for x, y in zip(r, l))


def _mean_finite(x: float, y: float) -> float:
    values = [v for v in (x, y) if math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


def gaze_direction(pose: np.ndarray, h: float, v: float) -> np.ndarray:
    """``[gaze_yaw, gaze_pitch]`` degrees from ``pose`` ``[yaw, pitch, roll]`` and iris ratios."""
    return np.array([pose[0] + EYE_YAW_DEG * (h - 0.5), pose[1] - EYE_PITCH_DEG * (v - 0.5)], np.float32)


class Baseline:
    """One person's learnt "looking at the screen" direction.

    Args:
        window: seconds of history. Longer is steadier, slower to follow a moved camera.
        warmup: samples (at 10 Hz) before the learnt median counts fully; until then it is
            blended with straight-ahead.
        max_offset: ``(yaw, pitch)`` degrees the baseline may sit from straight-ahead.
    """

    #: Seconds between kept samples: 10 Hz bounds the cost of the median.
    every = 0.1

    def __init__(self, window: float = 30.0, warmup: int = 20, max_offset: tuple[float, float] = (25.0, 20.0)) -> None:
        self.window, self.warmup, self.max_offset = window, warmup, np.array(max_offset, np.float32)
        self._samples: deque[tuple[float, np.ndarray]] = deque()
        self._value = np.zeros(2, np.float32)

    def add(self, t: float, direction: np.ndarray) -> None:
        """Record a ``[yaw, pitch]`` gaze direction at time ``t`` (seconds), at most every ``every`` s."""
        if self._samples and 0 <= t - self._samples[-1][0] < self.every:
            return
        self._samples.append((t, direction))
        while self._samples and t - self._samples[0][0] > self.window:
            self._samples.popleft()
        median = np.median(np.stack([d for _, d in self._samples]), axis=0)
        self._value = np.clip(median * self.weight, -self.max_offset, self.max_offset)

    @property
    def weight(self) -> float:
        """How far the baseline is learnt, 0..1."""
        return min(1.0, len(self._samples) / self.warmup)

    def value(self) -> np.ndarray:
        """``[yaw, pitch]`` degrees of the learnt baseline (recomputed when a sample is kept)."""
        return self._value


class Gaze:
    """The gaze stage: iris ratios and eye openness, then ``on_screen`` against each person's baseline.

    Args:
        yaw_tol, pitch_tol: half-axes in degrees of the "on screen" ellipse around
            the baseline. Wider calls more glances "looking"; narrower flags more
            look-aways, and more noise as look-aways.
        window: seconds of gaze history per person (see :class:`Baseline`).
    """

    name = "gaze"
    feature = "gaze"

    def __init__(self, yaw_tol: float = 15.0, pitch_tol: float = 12.0, window: float = 30.0) -> None:
        self.tol = np.array([yaw_tol, pitch_tol], np.float32)
        self.window = window
        self._baselines: dict[int, Baseline] = {}

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        if len(faces) == 0:
            return faces
        rows = [self._judge(frame.t, int(tid), pts, pose)
                for tid, pts, pose in zip(faces.track_id, faces.landmarks, faces.pose)]
        ratios, openness, on, conf = zip(*rows)
        return faces.replace(gaze=np.array(ratios, np.float32), eye_openness=np.array(openness, np.float32),
                             on_screen=np.array(on), on_screen_conf=np.array(conf, np.float32))

    def _judge(self, t: float, tid: int, points: np.ndarray,
               pose: np.ndarray) -> tuple[tuple[float, float], float, bool, float]:
        h, v, openness = iris_ratios(points)
        if not np.isfinite([h, v, *pose[:2]]).all():
            return (h, v), openness, False, np.nan
        direction = gaze_direction(pose, h, v)
        baseline = self._baselines.setdefault(tid, Baseline(self.window))
        d = float(np.linalg.norm((direction - baseline.value()) / self.tol))  # 1.0 = on the ellipse
        if openness >= CLOSED_EYE:
            baseline.add(t, direction)
        looking = d < 1.0 and openness >= CLOSED_EYE
        confidence = min(1.0, abs(1.0 - d) * 2.0) * (0.5 + 0.5 * baseline.weight)
        return (h, v), openness, looking, confidence

    def forget(self, track_ids: set[int]) -> None:
        """Drop the baselines of tracks not in ``track_ids``."""
        for tid in [t for t in self._baselines if t not in track_ids]:
            del self._baselines[tid]

    def close(self) -> None:
        """Nothing to free."""
