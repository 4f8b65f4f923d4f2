"""The analysis pipeline: the stage order and each stage's budget, written once.

Stage order, top to bottom, each ``(frame, faces) -> faces``::

    tracks    = track.tracks()              live tracks from the last frame
    detect    (frame, tracks)   -> + fresh detections          (one region per frame; see Detect)
    track     (frame, faces)    -> one row per live track, with ids
    landmarks (frame, faces)    -> 478 points; faces not found are dropped
    (track.observe: record sightings, merge two tracks on one face)
    pose      (frame, faces)    -> yaw, pitch, roll
    gaze      (frame, faces)    -> iris ratios, on_screen                 (feature "gaze")
    identity  (frame, faces)    -> name, distance                         (feature "identity")
    emotion   (frame, faces)    -> class probabilities, valence, arousal  (feature "emotion")
    engagement(frame, faces)    -> attention, expression, engagement      (with gaze)

Budget (how often each stage runs per face):

- detect: one region (the whole frame or one tile, in turn) per analysed frame;
  every region at once while no face is tracked or one was lost, at most every
  ``min_interval`` (0.2 s);
- landmarks, pose, gaze: every analysed frame, every face.
- identity: a descriptor per new track, then one every ``recheck`` seconds,
  computed on its own worker thread (~8-16 ms each, batched); the analysis thread only
  cuts the 150×150 chip and reads back settled names.
- emotion: round-robin across faces within ``budget_ms`` per frame, each face at
  most every ``min_interval`` seconds, smoothed per track.

Identity and emotion are off until switched on on purpose; their stages (and
models) are built the first time they are needed.

A stage that raises is reported as :class:`StageError` naming the stage (the
daemon counts it, and the frame goes out unannotated); the analyzer stays usable
for the next frame.

The analyzer is used by one thread only (DESIGN.md: trackers and per-face
state live on the analysis thread), so it holds no locks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vcam.models import model_path
from vcam.pipeline.detect import Detect
from vcam.pipeline.emotion import Emotion
from vcam.pipeline.engagement import Engagement
from vcam.pipeline.gaze import Gaze
from vcam.pipeline.identity import Identity
from vcam.pipeline.landmarks import Landmarks
from vcam.pipeline.pose import Pose
from vcam.pipeline.track import Track
from vcam.types import Analysis, Faces, Frame

log = logging.getLogger(__name__)

__all__ = ["Analyzer", "Features", "StageError"]


class StageError(Exception):
    """A stage raised while analysing one frame.

    Attributes:
        stage: the stage's name, e.g. ``"pose"`` or ``"identity"``.
        cause: what it raised (also ``__cause__``).
    """

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"stage {stage} failed: {type(cause).__name__}: {cause}")
        self.stage, self.cause = stage, cause


@dataclass
class Features:
    """Which optional stages run. Gaze is on by default; identity and emotion are opt-in."""

    gaze: bool = True
    identity: bool = False
    emotion: bool = False

    def names(self) -> tuple[str, ...]:
        """The names of the features that are on."""
        return tuple(name for name, on in vars(self).items() if on)


class Analyzer:
    """Runs the stages in order on one frame at a time.

    Args:
        features: which optional stages run; can be changed between frames.
        people: returns the enrolled people (name -> ``(K, 128)`` descriptors) when
            identity is first switched on; None means nobody is enrolled.
        detect, track, landmarks, pose, gaze: the stages (defaults if None).
    """

    def __init__(self, features: Features | None = None, *, people: Callable[[], dict[str, np.ndarray]] | None = None,
                 detect: Detect | None = None, track: Track | None = None, landmarks: Landmarks | None = None,
                 pose: Pose | None = None, gaze: Gaze | None = None) -> None:
        self.features = features or Features()
        self.people = people or dict
        self.identity: Identity | None = None
        self.emotion: Emotion | None = None
        if self.features.identity:
            try:
                self._identity()  # first: its worker loads the descriptor while the other models load
            except Exception as err:  # noqa: BLE001 - raised again, as a StageError, by the first process()
                log.debug("identity could not start yet: %s", err)
        try:
            self.detect = detect or Detect()
            self.track = track or Track()
            self.landmarks = landmarks or Landmarks()
            self.pose = pose or Pose()
            self.gaze = gaze or Gaze()
        except BaseException:
            if self.identity is not None:  # a model failed to load: stop the identity worker already started
                self.identity.close()
            raise
        self.engagement = Engagement()

    def process(self, frame: Frame) -> Analysis:
        """Analyse one frame. Raises StageError (naming the stage) when a stage raises."""
        timings: dict[str, float] = {}
        faces = self.track.tracks()
        faces = self._timed("detect", timings, self.detect, frame, faces)
        faces = self._timed("track", timings, self.track, frame, faces)
        faces = self._timed("landmarks", timings, self.landmarks, frame, faces)
        faces = self.track.observe(frame.t, faces)
        faces = self._timed("pose", timings, self.pose, frame, faces)
        self._forget(set(self.track.tracks().track_id.tolist()))
        if self.features.gaze:
            faces = self._timed("gaze", timings, self.gaze, frame, faces)
        if self.features.identity:
            faces = self._timed("identity", timings, lambda *a: self._identity()(*a), frame, faces)
        if self.features.emotion:
            faces = self._timed("emotion", timings, lambda *a: self._emotion()(*a), frame, faces)
        if self.features.gaze:
            faces = self._timed("engagement", timings, self.engagement, frame, faces)
        return Analysis(frame.index, frame.t, frame.size, faces, frame.captured, time.monotonic(), timings,
                        self.features.names(), (self.engagement.w_attention, self.engagement.w_expression))

    @staticmethod
    def _timed(name: str, timings: dict[str, float], stage, frame: Frame, faces: Faces) -> Faces:
        start = time.perf_counter()
        try:
            out = stage(frame, faces)
        except Exception as err:  # noqa: BLE001 - any failure of any stage is reported the same way
            raise StageError(name, err) from err
        timings[name] = (time.perf_counter() - start) * 1000.0
        return out

    def _forget(self, live: set[int]) -> None:
        """Drop per-person state of tracks that ended."""
        for stage in (self.gaze, self.engagement, self.identity):
            if stage is not None:
                stage.forget(live)

    def _identity(self) -> Identity:
        if self.identity is None:
            self.identity = Identity(self.people())
        return self.identity

    def _emotion(self) -> Emotion:
        if self.emotion is None:
            self.emotion = Emotion(model_path("emotion-fer"))
        return self.emotion

    def drop(self, stage: str) -> None:
        """Close and forget the ``"identity"`` or ``"emotion"`` stage, so it is built afresh when next needed.

        The daemon calls this when it switches a broken stage off; other names do nothing.
        """
        if stage in ("identity", "emotion") and getattr(self, stage) is not None:
            getattr(self, stage).close()
            setattr(self, stage, None)

    def close(self) -> None:
        """Free the models and the identity worker."""
        self.detect.close()
        self.landmarks.close()
        for stage in (self.identity, self.emotion):
            if stage is not None:
                stage.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
