"""gaze: is this person looking at their screen, and if not, why?

Per face, from the landmarks and the head pose (:mod:`vcam.pipeline.gaze_geometry`):

- **each eye's openness** (``Faces.eye_open``; their mean is ``eye_openness``);
- **the gaze direction** ``[yaw, pitch]`` in degrees (``Faces.gaze_angles``), head pose's sign
  convention: an eyeball-centre model per eye, the eyes combined by their weight;
- **iris ratios** (``Faces.gaze``): where each iris centre sits between its eye's corners (0 the
  person's right corner, 1 their left) and lids (0 upper, 1 lower), both eyes averaged.

The decision, per track:

1. **Eyes closed**: both eyes' mean openness under ``CLOSED_EYE`` for ``blink_s`` (0.4 s) or longer is "not
   looking (eyes closed)". A shorter closure is a blink: the last decision holds.
2. **The screen** is a region of gaze directions: an ellipse of ``tol`` half-axes around
   ``prior`` (the screen sits below and around the camera: a laptop's camera is above its screen; a
   meeting tile's camera is unknown). A face whose gaze falls inside is looking.
3. **A bounded calibration** moves that ellipse per person, towards the median of their own gaze,
   but only from frames with both eyes open, a steady gaze and the gaze already inside the prior's
   ellipse (not widened: widened by ``max_shift`` it learns the clip's upward looks as the screen,
   and ``vcam eval gaze`` falls from 97.5% to 56%), and never more than ``max_shift`` (10°) per axis. So someone whose
   camera sits beside their screen is followed, and someone who never looks at the screen is
   reported away however long they keep it up: their gaze never teaches the ellipse.
4. **Calibrating on request** (:meth:`Gaze.calibrate`, the tray's "Gaze calibration" menu): when the
   presenter asks the room to look at their screens and says so, each person's ellipse is centred on the
   median of their own open-eyed gaze of the last ``RECENT_S`` seconds, still within ``max_shift``, and
   kept there (the automatic calibration stops for them) until :meth:`Gaze.uncalibrate` or their track
   ends. It is for the person whose measured gaze sits outside the prior's ellipse while they look at
   the screen (the estimate's per-person bias: 39 into-lens stills read a gaze pitch of -6.1° ± 4.4°,
   ``bench/gaze_expression.py``), whom the automatic calibration cannot learn. On the 3x3 demo it makes
   Obama's portrait, "looking up" in every frame, look (``bench/gaze_calibrate.py``).

``Faces.away_reason`` says why a face is not looking: ``eyes closed``, ``head turned`` (the head
alone is outside the ellipse's yaw), else ``looking up``, ``looking down`` or ``looking aside`` by the
axis that is furthest out.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vcam.pipeline.gaze_geometry import CLOSED_EYE, OPEN_EYE, gazes
from vcam.types import Faces, Frame

# (corner on the person's right, corner on their left, upper lid, lower lid, iris centre)
_RIGHT_EYE = (33, 133, 159, 145, 468)
_LEFT_EYE = (362, 263, 386, 374, 473)

PRIOR = (0.0, -10.0)
"""``(yaw, pitch)`` degrees of the screen's centre before calibration: straight ahead, a little below the lens."""
RECENT_S = 2.0
"""Seconds of each person's open-eyed gaze (both eyes at least ``OPEN_EYE``: irises trusted fully) that
:meth:`Gaze.calibrate` centres their ellipse on: the moments after the presenter asked the room to look,
before the click; at 3 analyses a second (a loaded 7x7 gallery) still about six samples each."""
TOL = (22.0, 12.0)
"""``(yaw, pitch)`` half-axes in degrees of the screen's ellipse: -22° to +2° of pitch around PRIOR covers a
laptop's screen at arm's length below its camera, and the lens; ±22° of yaw a wide screen."""


def eye_ratios(points: np.ndarray, eye: tuple[int, int, int, int, int]) -> tuple[float, float]:
    """``(h_ratio, v_ratio)`` of one eye from ``(478, 3)`` landmarks, in the eye's own frame (roll does not bias them)."""
    a, b, up, low, iris = (points[i, :2] for i in eye)
    axis = b - a
    width2 = float(axis @ axis)
    if width2 < 1e-6:
        return math.nan, math.nan
    normal = np.array([-axis[1], axis[0]]) / np.sqrt(width2)  # points down the face when upright
    top, bottom = float((up - a) @ normal), float((low - a) @ normal)
    gap = bottom - top
    v = (float((iris - a) @ normal) - top) / gap if abs(gap) > 1e-6 else math.nan
    return float((iris - a) @ axis) / width2, v


def iris_ratios(points: np.ndarray) -> tuple[float, float]:
    """``(h_ratio, v_ratio)`` averaged over both eyes (one eye if the other is unmeasurable)."""
    h, v = iris_ratios_of(points[None])[0]
    return float(h), float(v)


def iris_ratios_of(points: np.ndarray) -> np.ndarray:
    """``(N, 2)`` :func:`iris_ratios` of ``N`` faces' ``(N, 478, 2+)`` landmarks, at once."""
    per_eye = np.stack([_eye_ratios_of(points, eye) for eye in (_RIGHT_EYE, _LEFT_EYE)], axis=1)  # (N, 2, 2)
    return np.stack([_mean_eyes(per_eye[:, :, 0]), _mean_eyes(per_eye[:, :, 1])], axis=1)


def _eye_ratios_of(points: np.ndarray, eye: tuple[int, int, int, int, int]) -> np.ndarray:
    """``(N, 2)`` :func:`eye_ratios` of one eye of ``N`` faces."""
    a, b, up, low, iris = (points[:, i, :2].astype(np.float64) for i in eye)
    axis = b - a
    width2 = (axis * axis).sum(axis=1)
    ok = width2 >= 1e-6
    safe2 = np.where(ok, width2, 1.0)
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1) / np.sqrt(safe2)[:, None]
    top, bottom = ((up - a) * normal).sum(axis=1), ((low - a) * normal).sum(axis=1)
    gap = bottom - top
    v = np.where(np.abs(gap) > 1e-6, (((iris - a) * normal).sum(axis=1) - top) / np.where(gap == 0, 1.0, gap), np.nan)
    h = ((iris - a) * axis).sum(axis=1) / safe2
    return np.where(ok[:, None], np.stack([h, v], axis=1), np.nan)


def _mean_eyes(opened: np.ndarray) -> np.ndarray:
    """``(N,)`` mean of ``(N, 2)`` per-eye values over the finite ones; NaN where neither is."""
    finite = np.isfinite(opened)
    total = np.where(finite, opened, 0.0).sum(axis=1)
    return np.where(finite.any(axis=1), total / np.maximum(finite.sum(axis=1), 1), np.nan).astype(np.float32)


@dataclass
class Calibration:
    """One person's shift of the screen's ellipse, learnt from their open-eyed, steady gaze.

    Args:
        max_shift: degrees per axis the ellipse may move from the prior. Larger follows a camera
            further from its screen; it also lets a steady look just outside the screen count.
        window: seconds of samples kept (10 Hz). Longer is steadier and slower to follow.
        steady: degrees the gaze may move between two samples and still be steady.
    """

    max_shift: float = 10.0
    window: float = 30.0
    steady: float = 4.0
    _samples: deque = field(default_factory=deque)
    _last: tuple[float, np.ndarray] | None = None
    shift: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    anchored: bool = False
    """Set by :meth:`anchor`: the shift was given on request and learning stops until :meth:`reset`."""

    every = 0.1
    """Seconds between kept samples: 10 Hz bounds the cost of the median."""

    def add(self, t: float, direction: np.ndarray, inside: bool) -> None:
        """Offer a ``[yaw, pitch]`` sample of open eyes at ``t`` s, degrees from the prior; kept when steady
        and ``inside`` the prior's ellipse."""
        last, self._last = self._last, (t, direction)
        if self.anchored:
            return
        if last is None or not 0 <= t - last[0] <= 0.5 or np.abs(direction - last[1]).max() > self.steady:
            return
        if not inside or (self._samples and t - self._samples[-1][0] < self.every):
            return
        self._samples.append((t, direction))
        while t - self._samples[0][0] > self.window:
            self._samples.popleft()
        learnt = np.median(np.stack([d for _, d in self._samples]), axis=0) * min(1.0, len(self._samples) / 20)
        self.shift = np.clip(learnt, -self.max_shift, self.max_shift).astype(np.float32)

    def anchor(self, shift: np.ndarray) -> None:
        """Move the ellipse by ``shift`` ``[yaw, pitch]`` degrees from the prior (clipped to ``max_shift``) and keep it."""
        self.shift = np.clip(np.asarray(shift, np.float32), -self.max_shift, self.max_shift).astype(np.float32)
        self.anchored = True

    def reset(self) -> None:
        """Forget what was learnt or anchored: the prior's ellipse again, learning afresh."""
        self._samples.clear()
        self.shift = np.zeros(2, np.float32)
        self.anchored = False


@dataclass
class _Track:
    calibration: Calibration
    closed_since: float | None = None
    looking: bool = False
    reason: str | None = "no gaze yet"
    recent: deque = field(default_factory=deque)
    """``(t s, [yaw, pitch] degrees)`` of the open-eyed gaze of the last :data:`RECENT_S` seconds."""


class Gaze:
    """The gaze stage: eye openness, gaze angles, iris ratios, then ``on_screen`` and ``away_reason``.

    Args:
        prior: ``(yaw, pitch)`` degrees of the screen's centre (see the module docstring).
        tol: ``(yaw, pitch)`` half-axes of the screen's ellipse. Wider calls more glances looking;
            narrower calls more of the screen's edges away.
        max_shift: degrees per axis a person's calibration may move the ellipse (see :class:`Calibration`).
        blink_s: seconds both eyes must stay shut to count as closed; shorter ones are blinks, which
            keep the last decision. Shorter flags blinks as look-aways; longer misses short naps.
    """

    name = "gaze"
    feature = "gaze"

    def __init__(self, prior: tuple[float, float] = PRIOR, tol: tuple[float, float] = TOL,
                 max_shift: float = 10.0, blink_s: float = 0.4) -> None:
        self.prior, self.tol = np.array(prior, np.float32), np.array(tol, np.float32)
        self.max_shift, self.blink_s = max_shift, blink_s
        self._tracks: dict[int, _Track] = {}
        self._now = -math.inf  # the last frame's time, s

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        self._now = frame.t
        if len(faces) == 0:
            return faces
        opened, angles, confidence = gazes(faces.landmarks, faces.pose)  # every face at once: ~5 µs each
        rows = [self._judge(frame.t, int(tid), o, d, float(c), pose)
                for tid, o, d, c, pose in zip(faces.track_id, opened, angles, confidence, faces.pose)]
        closed, on, conf, reason, calibrated = zip(*rows)
        return faces.replace(gaze=iris_ratios_of(faces.landmarks).astype(np.float32), eye_open=opened,
                             eye_openness=_mean_eyes(opened), gaze_angles=angles, eyes_closed=np.array(closed),
                             on_screen=np.array(on), on_screen_conf=np.array(conf, np.float32),
                             away_reason=np.array(reason, object),
                             gaze_calibrated=np.array(calibrated, bool))

    def _judge(self, t: float, tid: int, opened: np.ndarray, direction: np.ndarray, confidence: float,
               pose: np.ndarray) -> tuple:
        """``(closed, looking, confidence, reason, calibrated on request)`` of one face of track ``tid`` from its
        measured ``opened`` ``(2,)`` eyes, gaze ``direction`` ``(2,)`` degrees and its ``confidence``; updates the
        track's state."""
        track = self._tracks.setdefault(tid, _Track(Calibration(self.max_shift)))
        shut = bool(_mean_eyes(opened[None])[0] < CLOSED_EYE)
        closed = self._closed(track, t, shut)
        if closed:
            track.looking, track.reason, confidence = False, "eyes closed", 1.0
        elif not shut and np.isfinite(direction).all():
            track.looking, track.reason, d = self.decide(track, t, direction, pose, opened)
            confidence *= min(1.0, 2.0 * abs(1.0 - d))
        elif not shut:
            track.looking, track.reason, confidence = False, "no gaze", 0.0
        return closed, track.looking, confidence, None if track.looking else track.reason, track.calibration.anchored

    def _closed(self, track: _Track, t: float, shut: bool) -> bool:
        """Both eyes shut for ``blink_s`` or longer (a shorter closure is a blink)."""
        if not shut:
            track.closed_since = None
            return False
        if track.closed_since is None or t < track.closed_since:
            track.closed_since = t
        return t - track.closed_since >= self.blink_s - 1e-9

    def decide(self, track: _Track, t: float, direction: np.ndarray, pose: np.ndarray,
               opened: np.ndarray) -> tuple[bool, str | None, float]:
        """``(looking, reason, d)`` for an open-eyed gaze ``direction`` ``[yaw, pitch]`` degrees; calibrates.

        ``d`` is the gaze's distance from the ellipse's centre in half-axes (1 on its edge).
        """
        centre = self.prior + track.calibration.shift
        off = (direction - centre) / self.tol
        prior = (direction - self.prior) / self.tol
        if bool(np.nanmin(opened) >= OPEN_EYE):
            track.calibration.add(t, direction - self.prior, float(prior @ prior) < 1.0)
            track.recent.append((t, direction.astype(np.float32)))
            while t - track.recent[0][0] > RECENT_S:
                track.recent.popleft()
        d = math.sqrt(float(off @ off))
        if d < 1.0:
            return True, None, d
        return False, self.reason(off, float(pose[0]) - float(centre[0])), d

    def reason(self, off: np.ndarray, head_yaw: float) -> str:
        """Why a gaze ``off`` the ellipse (in half-axes from its centre) is away; ``head_yaw`` from its centre."""
        if abs(head_yaw) > self.tol[0]:
            return "head turned"
        if abs(off[1]) > abs(off[0]):
            return "looking up" if off[1] > 0 else "looking down"
        return "looking aside"

    def calibrate(self) -> tuple[int, int]:
        """Everyone is looking at their screen now: centre each person's ellipse on their own recent gaze.

        Each track seen with open eyes in the last :data:`RECENT_S` seconds (up to the last frame) is
        anchored on the median of that gaze (``Calibration.anchor``: within ``max_shift``, kept until
        :meth:`uncalibrate`); the others (eyes closed, gone) keep theirs. Call it on the thread that runs
        the stage. Returns ``(calibrated, tracks)``.
        """
        done = 0
        for track in self._tracks.values():
            now = [d for t, d in track.recent if self._now - t <= RECENT_S]
            if now:
                track.calibration.anchor(np.median(np.stack(now), axis=0) - self.prior)
                done += 1
        return done, len(self._tracks)

    def uncalibrate(self) -> int:
        """Forget every person's calibration (asked for or learnt); returns how many tracks were reset."""
        for track in self._tracks.values():
            track.calibration.reset()
        return len(self._tracks)

    def forget(self, track_ids: set[int]) -> None:
        """Drop the state of tracks not in ``track_ids``."""
        for tid in [t for t in self._tracks if t not in track_ids]:
            del self._tracks[tid]

    def close(self) -> None:
        """Nothing to free."""
