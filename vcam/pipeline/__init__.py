"""The analysis pipeline: the stages in order, each with its budget, written once in :func:`default_stages`.

Stage order, top to bottom, each ``(frame, faces) -> faces`` (the contract: :mod:`vcam.pipeline.stage`)::

    tracks      live tracks from the last frame                       (the tracker's first step)
    layout      the meeting's tiles (Analysis.layout), found again     (screen, window, file: LayoutFinder)
                only when the probe sees a change
    detect      + fresh detections                                     (a tile or region at a time; see Detect)
    track       one row per live track, with ids
    landmarks   478 points; faces not found are dropped
    observe     record sightings, merge two tracks on one face
    tiles       each face's tile and whether it shares it              (the layout's second step)
    names       each tile's participant name, read on a worker thread  (feature "names")
    relabel     a named face takes the track its name was on, an       (the tracker's last step)
                unnamed one the track its tile looked like
    pose        yaw, pitch, roll
    gaze        eye openness, gaze angles, on_screen and why not       (feature "gaze")
    identity    name, distance                                         (feature "identity")
    emotion     class probabilities, valence, arousal                  (feature "emotion")
    engagement  attention, expression, engagement                      (feature "gaze")

A stage whose feature is off does not run. After every frame each stage forgets the tracks
that ended (:meth:`vcam.pipeline.stage.Stage.forget` with the tracker's live ids).

Budget (how often each stage runs per face):

- layout: a probe of ~0.1 ms per frame; a find (15-80 ms at 1080p) when it sees a change,
  at most every 0.25 s, and every 3 s regardless.
- detect: one region (the whole frame or one tile, in turn) per analysed frame;
  every region at once while no face is tracked or one was lost, at most every
  ``min_interval`` (0.2 s). With a layout, the tiles are the regions: every tile
  when the layout changes, then the tiles without a face, ``per_frame`` at a time.
- names: only labels that changed are read (PP-OCRv4, ~35 ms each), on a worker
  that uses at most half a core; a known label is a cache lookup.
- landmarks, pose, gaze: every analysed frame, every face; above 16 faces each face's eyes are
  refined by the iris model every other analysis, carried on the new mesh in between.
- identity: a descriptor per new track, then one every ``recheck`` seconds,
  computed on its own worker thread (~8-16 ms each, batched); the analysis thread only
  cuts the 150×150 chip and reads back settled names.
- emotion: round-robin across faces within ``budget_ms`` per frame, each face at
  most every ``min_interval`` seconds and at least about every ``max_age`` (0.8 s, past
  the budget if need be, within 15 % of the time between analyses), smoothed per track.

Identity and emotion are off until switched on on purpose; their stages (and
models) are built the first time they are needed (:class:`~vcam.pipeline.stage.Lazy`),
as is the names stage (on by default; it reads only when there is a layout).

A stage that raises is reported as :class:`StageError` naming the stage (the
daemon counts it, and the frame goes out unannotated); the analyzer stays usable
for the next frame.

The analyzer is used by one thread only (trackers and per-face state live on
the analysis thread), so it holds no locks; the :class:`~vcam.features.Switches`
it reads may be flipped from any thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import numpy as np

from vcam.features import Switches
from vcam.models import model_path
from vcam.pipeline.detect import Detect
from vcam.pipeline.emotion import Emotion
from vcam.pipeline.engagement import Engagement
from vcam.pipeline.gaze import Gaze
from vcam.pipeline.identity import Identity
from vcam.pipeline.landmarks import Landmarks
from vcam.pipeline.layout import LayoutFinder
from vcam.pipeline.names import Names
from vcam.pipeline.pose import Pose
from vcam.pipeline.stage import Lazy, Stage, Step
from vcam.pipeline.track import Track
from vcam.types import Analysis, Faces, Frame

log = logging.getLogger(__name__)

__all__ = ["Analyzer", "Stage", "StageError", "Step", "Switches", "default_stages"]

People = Callable[[], dict[str, np.ndarray]]
"""Returns the enrolled people, ``{name: (K, 128) descriptors}``, when identity is first switched on."""


class StageError(Exception):
    """A stage raised while analysing one frame.

    Attributes:
        stage: the stage's name, e.g. ``"pose"`` or ``"identity"``.
        feature: the feature that switches that stage, or None when it always runs.
        cause: what it raised (also ``__cause__``).
    """

    def __init__(self, stage: Stage, cause: BaseException) -> None:
        super().__init__(f"stage {stage.name} failed: {type(cause).__name__}: {cause}")
        self.stage, self.feature, self.cause = stage.name, stage.feature, cause


def default_stages(people: People = dict, warm: Iterable[str] = (),
                   emotion_model: str | Callable[[], str] = "emotion-fer", cores: int | None = None) -> list[Stage]:
    """vcam's stages in order (see the module docstring); a new stage is one more line here.

    Args:
        people: the gallery for identity, asked for when identity first runs.
        warm: features on at the start. Identity's worker starts loading its model now, beside the
            others; emotion loads at its first frame, after identity has asked for its first looks
            (loading it here delayed the first names by ~0.7 s: bench/live.py grid-all).
        emotion_model: the manifest's emotion model the emotion stage runs (``emotion-fer`` or
            ``emotion-face-api``; see :mod:`vcam.pipeline.emotion`), or a callable read at every frame:
            when its answer changes, the emotion stage alone is rebuilt on the new model (the tray's
            choice; :class:`~vcam.pipeline.stage.Lazy`).
        cores: the cores the landmarks stage may use (:func:`landmarks_for`): 1 in a ``vcam batch`` worker
            (one core); None (the default) or more: two workers side by side.
    """
    identity = Lazy("identity", "identity", lambda: Identity(people()))
    model = emotion_model if callable(emotion_model) else (lambda: emotion_model)
    emotion = Lazy("emotion", "emotion", lambda: Emotion.from_manifest(model()), choice=model)
    finder = LayoutFinder()
    names = Lazy("names", "names", lambda: Names(lambda: finder.usable, finder.name_tiles))
    if "identity" in warm:
        identity.warm()
    try:
        landmarks = landmarks_for(cores)
        track = Track(layout=lambda: finder.usable, on_move=landmarks.rename)
        stages = [track.start, finder, Detect(layout=lambda: finder.usable), track, landmarks,
                  track.confirm, finder.assign, names, track.relabel, Pose(), Gaze(), identity, emotion,
                  Engagement()]
    except BaseException:
        identity.close()  # a model failed to load: stop the identity worker already started
        raise
    return stages


def landmarks_for(cores: int | None) -> Landmarks:
    """The landmarks stage for ``cores``: 1, every model call on the analysis thread with one thread (a
    ``vcam batch`` worker); None or more, :class:`Landmarks`' default (two workers fitting half the faces each)."""
    return Landmarks(workers=1, threads=1) if cores is not None and cores <= 1 else Landmarks()


class Analyzer:
    """Runs the stages in order on one frame at a time.

    Args:
        features: the live switches (or the names on); read once per frame.
        people: the gallery for identity (see :func:`default_stages`).
        stages: the stages in order (default :func:`default_stages`); there must be one
            :class:`~vcam.pipeline.track.Track`, whose live ids tell the stages what to forget.
        emotion_model: the emotion model of the default stages (see :func:`default_stages`).
        cores: the cores the default stages' models may use (see :func:`landmarks_for`); None: the live default.
    """

    def __init__(self, features: Switches | Iterable[str] | None = None, *, people: People | None = None,
                 stages: list[Stage] | None = None, emotion_model: str | Callable[[], str] = "emotion-fer",
                 cores: int | None = None) -> None:
        self.features = features if isinstance(features, Switches) else Switches(features or ("gaze",))
        self.stages = stages if stages is not None else default_stages(people or dict, self.features.on(),
                                                                       emotion_model, cores)
        self.track = next((s for s in self.stages if isinstance(s, Track)), None)
        if self.track is None:
            self.close()
            raise ValueError("the analyzer's stages need a Track: it tells the other stages which tracks live")
        self.engagement = self.stage("engagement")
        self.layout = next((s for s in self.stages if isinstance(s, LayoutFinder)), None)

    def stage(self, name: str) -> Stage | None:
        """The stage called ``name``, or None."""
        return next((s for s in self.stages if s.name == name), None)

    def process(self, frame: Frame) -> Analysis:
        """Analyse one frame. Raises StageError (naming the stage) when a stage raises."""
        on = self.features.on()
        timings: dict[str, float] = {}
        faces = Faces.empty()
        for stage in self.stages:
            if stage.feature is None or stage.feature in on:
                faces = self._timed(stage, timings, frame, faces)
        live = self.track.live_ids()
        for stage in self.stages:
            stage.forget(live)
        return Analysis(frame.index, frame.t, frame.size, faces, frame.captured, time.monotonic(), timings, on,
                        self._weights(), self.layout.usable if self.layout is not None else None)

    @staticmethod
    def _timed(stage: Stage, timings: dict[str, float], frame: Frame, faces: Faces) -> Faces:
        start = time.perf_counter()
        try:
            out = stage(frame, faces)
        except Exception as err:  # noqa: BLE001 - any failure of any stage is reported the same way
            raise StageError(stage, err) from err
        timings[stage.name] = (time.perf_counter() - start) * 1000.0
        return out

    def _weights(self) -> tuple[float, float]:
        e = self.engagement
        return e.weights(True) if e is not None else (1.0, 0.0)

    def drop(self, name: str) -> None:
        """Close the stage called ``name`` and forget its per-track state.

        The daemon calls this when it switches a broken feature off; a lazy stage (identity,
        emotion) is built afresh when its feature is switched on again.
        """
        stage = self.stage(name)
        if stage is not None and isinstance(stage, Lazy):
            stage.close()
        elif stage is not None:
            stage.forget(set())

    def close(self) -> None:
        """Free every stage's models and threads."""
        for stage in self.stages:
            stage.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
