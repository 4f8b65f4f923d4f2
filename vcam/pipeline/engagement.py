"""engagement: per person, from attention (gaze) and expression.

One formula, whose parts are published alongside it (see :mod:`vcam.records`; the room's
totals are means over the people present)::

    attention  = (1 / W) ∫ on_screen(τ) dτ  over the last W seconds of the track
                 W = min(window, time since the track was first seen)
    expression = 1 − p(neutral)                       from Faces.emotion; NaN when emotion is off
    engagement = (w_attention · attention + w_expression · expression) / (w_attention + w_expression)
               = attention                            when expression is NaN (renormalised)

All three lie in 0..1. ``on_screen`` is sampled at each analysed frame and held
until the next one (time-weighted, so a slow frame counts for its duration); a
track's history restarts when frame time runs backwards (a looping video).

Defaults: ``w_attention = 0.75``, ``w_expression = 0.25``, ``window = 10`` s.

- Raising ``w_expression`` rewards visible reactions (smiles, surprise, but also
  frowns: it measures "not neutral", not "positive") and marks a focused, blank
  face as less engaged; it also passes more of the emotion model's errors
  (~66 % accurate on posed, frontal faces) into the score.
- Raising ``w_attention`` makes the score follow looking-at-the-screen, which is
  measured more reliably, and treats a still, attentive face as fully engaged.
- A longer ``window`` steadies attention and makes it slower to show a drop.

Expression is an ESTIMATE derived from the emotion classes, like valence and arousal.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from vcam.errors import ConfigError
from vcam.types import EMOTIONS, ENGAGEMENT_WEIGHTS, Faces, Frame

_NEUTRAL = EMOTIONS.index("neutral")


class AttentionWindow:
    """One track's on-screen history as runs ``(start time, on_screen)``, for the last ``window`` seconds.

    Only changes are stored, so memory grows with look-aways, not with the frame rate.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._runs: deque[tuple[float, bool]] = deque()
        self._last_t = -math.inf

    def add(self, t: float, on_screen: bool) -> None:
        """Record ``on_screen`` at time ``t`` seconds."""
        if t < self._last_t:
            self._runs.clear()
        self._last_t = t
        if not self._runs or self._runs[-1][1] != on_screen:
            self._runs.append((t, on_screen))
        while len(self._runs) >= 2 and self._runs[1][0] <= t - self.window:
            self._runs.popleft()

    def share(self) -> float:
        """Time-weighted share of the window spent on screen, 0..1 (NaN with no samples)."""
        if not self._runs:
            return math.nan
        now = self._last_t
        start = max(now - self.window, self._runs[0][0])
        if now - start <= 0:
            return float(self._runs[-1][1])
        ends = [t for t, _ in list(self._runs)[1:]] + [now]
        on = sum(max(0.0, end - max(t, start)) for (t, looking), end in zip(self._runs, ends) if looking)
        return on / (now - start)


class Engagement:
    """The engagement stage: fills ``attention``, ``expression`` and ``engagement``.

    Needs ``on_screen`` from the gaze stage; run it only while gaze is on.

    Args:
        window: seconds of on-screen history per track (see the module docstring).
        w_attention, w_expression: the formula's weights, each ≥ 0; ``w_attention`` > 0
            so that a score exists without emotion.
    """

    name = "engagement"
    feature = "gaze"

    def __init__(self, window: float = 10.0, w_attention: float = ENGAGEMENT_WEIGHTS[0],
                 w_expression: float = ENGAGEMENT_WEIGHTS[1]) -> None:
        if not window > 0:
            raise ConfigError(f"engagement window must be > 0 seconds, got {window!r}")
        if not w_attention > 0 or not w_expression >= 0:
            raise ConfigError(f"engagement weights must be w_attention > 0 and w_expression >= 0, "
                              f"got w_attention={w_attention!r}, w_expression={w_expression!r}")
        self.window, self.w_attention, self.w_expression = window, w_attention, w_expression
        self._tracks: dict[int, AttentionWindow] = {}

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        return self.update(frame.t, faces)

    def update(self, t: float, faces: Faces) -> Faces:
        """Fill the three columns for ``faces`` seen at time ``t`` (seconds)."""
        if len(faces) == 0:
            return faces
        attention = np.array([self._attention(t, int(tid), bool(on))
                              for tid, on in zip(faces.track_id, faces.on_screen)], np.float32)
        expression = expression_of(faces.emotion)
        return faces.replace(attention=attention, expression=expression,
                             engagement=self.combine(attention, expression))

    def _attention(self, t: float, tid: int, on_screen: bool) -> float:
        track = self._tracks.setdefault(tid, AttentionWindow(self.window))
        track.add(t, on_screen)
        return track.share()

    def weights(self, has_expression: bool) -> tuple[float, float]:
        """The effective ``(w_attention, w_expression)``, summing to 1 (renormalised without expression)."""
        if not has_expression:
            return 1.0, 0.0
        total = self.w_attention + self.w_expression
        return self.w_attention / total, self.w_expression / total

    def combine(self, attention: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """``(N,) float32`` engagement from ``(N,)`` attention and expression (NaN = unknown)."""
        w_a, w_e = self.weights(True)
        mixed = w_a * attention + w_e * np.nan_to_num(expression)
        return np.where(np.isfinite(expression), mixed, attention).astype(np.float32)

    def forget(self, track_ids: set[int]) -> None:
        """Drop the history of tracks not in ``track_ids``."""
        for tid in [t for t in self._tracks if t not in track_ids]:
            del self._tracks[tid]

    def close(self) -> None:
        """Nothing to free."""


def expression_of(emotion: np.ndarray) -> np.ndarray:
    """``(N,) float32`` 1 − p(neutral) from ``(N, 7)`` probabilities; NaN for rows not computed."""
    emotion = np.asarray(emotion, np.float32).reshape(-1, len(EMOTIONS))
    known = np.isfinite(emotion).all(axis=1)
    return np.where(known, 1.0 - emotion[:, _NEUTRAL], np.nan).astype(np.float32)
