"""identity: who is this face? dlib's ResNet descriptor matched against the gallery.

Three steps per face (STACK.md, "Identity"):

1. **Align** (:func:`face_chip`, on the calling thread, ~1 ms): a similarity
   transform (rotation, uniform scale, shift) takes five FaceMesh points onto
   the places dlib's own aligner puts them in a 150×150 chip, so the chip looks
   like the ones the descriptor was trained on. No dlib detector and no dlib
   68-point shape predictor (its iBUG 300-W training data forbids commercial
   use): the points come from our FaceMesh landmarks.
2. **Describe** (:class:`Descriptor`, ~90-120 ms per face on a laptop core): a
   ``(128,) float32`` vector; two photos of one person lie close together.
3. **Match** (:func:`match`): the Euclidean distance to each enrolled person's
   K descriptors, aggregated per person (``median``, ``max``, ``mean`` or
   ``topN``, the mean of the N smallest); the nearest person under the
   threshold is the name, otherwise the face is unknown (``None``).

The :class:`Identity` stage runs step 2 off the analysis thread. dlib holds
the GIL for the whole ~100 ms of ``compute_face_descriptor`` (measured: a 1 ms
sleep on another thread took 100 ms), so a worker *thread* alone would still
stall the analysis thread. The stage's worker thread therefore drives a small
child process (:class:`DescriptorProcess`, only numpy + OpenCV + dlib loaded)
and waits on its pipe with the GIL released.

Thresholds, measured on the license-clean portraits in tests/data with
:func:`vcam.evaluate.evaluate_identity` (see :data:`DEFAULT_THRESHOLD`).
"""

from __future__ import annotations

import logging
import re
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import ModelError
from vcam.types import Faces, Frame

log = logging.getLogger(__name__)

CHIP_SIZE = 150
"""Side of the aligned face chip in pixels; dlib's descriptor takes 150×150."""
CHIP_PADDING = 0.25
"""Border around dlib's mean face, as a fraction of its size (dlib's default for the descriptor)."""
DESCRIPTOR_SIZE = 128

DEFAULT_THRESHOLD = 0.5
"""Largest aggregated distance still given a name (Euclidean, descriptor units).

dlib's usual cut is 0.6 (its LFW figure). Raising it names more photos of
enrolled people (recall) and also names more strangers as someone (false names);
lowering it calls more enrolled people "unknown" and names a stranger less often.
In a meeting a wrong name is worse than none, so we sit below 0.6.

Measured with ``vcam.evaluate.evaluate_identity`` on the tests/data portraits:
Obama enrolled from obama.jpg, Biden from biden.jpg (his only photo, so he has no
probes), each with ``Augment()``'s 5 variants; 4 Obama probes (obama2, obama3,
obama_partial_face, obama_partial_face2); 23 impostor faces (grace_hopper,
astronaut and every face of group1-6). Every aggregation gave precision, recall
and F1 1.00 (4 TP, 0 FP, 0 FN) for thresholds 0.44-0.80 (``max`` 0.46-0.84):
the Obama probes lay at 0.22-0.44 (obama2, speaking with an open mouth, the
farthest) and the nearest impostor at 0.82. The set is small and easy, so 0.5
is chosen by reasoning inside that measured range: it keeps every probe with
room to spare and stays well under dlib's 0.6, where other studies report
different people of similar looks starting to match.
"""

DEFAULT_AGGREGATION = "top3"
"""How one person's K per-image distances become one distance (see :func:`aggregate`).

On the set described under :data:`DEFAULT_THRESHOLD` all four aggregations tied
(F1 1.00). Their margins (nearest impostor minus farthest Obama probe) were
within 0.01 of each other: max 0.396, mean 0.395, median 0.391, top3 0.387. So
the data does not decide, and ``top3`` (the mean of the 3 nearest) is chosen by
reasoning: with augmentation each photo gives 6 descriptors, and people enroll
photos taken in different light. ``max`` lets the one least-alike variant or
photo veto a match, and ``median``/``mean`` drift with that spread. ``top3``
follows the nearest photo and its closest variants, and averaging 3 is steadier
than trusting one lookalike descriptor (``top1``).
"""

# --- alignment ----------------------------------------------------------------

# dlib's mean face (dlib/image_transforms/interpolation.h, get_face_chip_details,
# "Average positions of face points 17-67", x and y in 0..1 of the face box),
# the rows for the 68-point landmarks we align on:
_DLIB_RIGHT_EYE = [(0.121737, 0.216423), (0.187122, 0.178758), (0.265825, 0.179852),
                   (0.334606, 0.231733), (0.260918, 0.245099), (0.182743, 0.244077)]  # points 36-41
_DLIB_LEFT_EYE = [(0.645647, 0.231733), (0.714428, 0.179852), (0.793132, 0.178758),
                  (0.858516, 0.216423), (0.79751, 0.244077), (0.719335, 0.245099)]  # points 42-47
_DLIB_NOSE_TIP = (0.490127, 0.515625)  # point 30
_DLIB_MOUTH_RIGHT, _DLIB_MOUTH_LEFT = (0.254149, 0.780233), (0.726104, 0.780233)  # points 48, 54

MEAN_FACE_5 = np.array([np.mean(_DLIB_RIGHT_EYE, axis=0), np.mean(_DLIB_LEFT_EYE, axis=0), _DLIB_NOSE_TIP,
                        _DLIB_MOUTH_RIGHT, _DLIB_MOUTH_LEFT], np.float64)
"""``(5, 2)`` dlib's mean face in 0..1 units: the person's right eye centre (image left),
left eye centre, nose tip, right and left mouth corner. Eye centres are the means
of dlib's six eye points: (0.2255, 0.2160) and (0.7548, 0.2160); nose tip (0.4901,
0.5156); mouth corners (0.2541, 0.7802), (0.7261, 0.7802)."""

# The matching FaceMesh points: eye centres are the means of each eye's 16-point
# contour (not the irises, which move with the gaze), 1 is the nose tip, 61 and
# 291 the mouth corners (the person's right one first, as in dlib's order).
FACEMESH_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
FACEMESH_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
FACEMESH_NOSE_TIP, FACEMESH_MOUTH_RIGHT, FACEMESH_MOUTH_LEFT = 1, 61, 291


def chip_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """``(5, 2) float64`` chip pixels where the five points go, as dlib computes them:
    ``(padding + mean) / (2 × padding + 1) × size``.

    For 150 px and padding 0.25: eyes at (50.3, 47.9) and (103.2, 47.9), nose tip
    (74.0, 76.6), mouth corners (50.4, 103.0) and (97.6, 103.0).
    """
    return (padding + MEAN_FACE_5) / (2 * padding + 1) * size


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """``(5, 2) float64`` eye centres, nose tip and mouth corners from ``(478, 3)`` FaceMesh landmarks (pixels)."""
    pts = np.asarray(landmarks, np.float64)[:, :2]
    return np.stack([pts[list(FACEMESH_RIGHT_EYE)].mean(axis=0), pts[list(FACEMESH_LEFT_EYE)].mean(axis=0),
                     pts[FACEMESH_NOSE_TIP], pts[FACEMESH_MOUTH_RIGHT], pts[FACEMESH_MOUTH_LEFT]])


def chip_transform(landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """The ``(2, 3)`` similarity from frame pixels to chip pixels, least squares over all five points.

    The RANSAC threshold is larger than any face, so every point is an inlier and
    OpenCV's final refinement is the least-squares fit dlib's ``find_similarity_transform`` makes.
    """
    src = five_points(landmarks)
    if not np.isfinite(src).all():
        raise ValueError("landmarks must be finite (478, 3) frame pixels; got NaN in the eye, nose or mouth points")
    m, _ = cv2.estimateAffinePartial2D(src, chip_template(size, padding), ransacReprojThreshold=1e9)
    if m is None:
        raise ValueError("landmarks are degenerate (all five alignment points coincide)")
    return m


def face_chip(image_bgr: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE,
              padding: float = CHIP_PADDING) -> np.ndarray:
    """The aligned ``(size, size, 3) uint8`` **RGB** chip of one face, laid out as ``dlib.get_face_chip``.

    Args:
        image_bgr: ``(H, W, 3) uint8`` BGR frame.
        landmarks: ``(478, 3)`` FaceMesh points in frame pixels.

    Like dlib, a face much larger than the chip is first halved with a Gaussian
    pyramid (only a crop around the face), so the chip is not aliased. Parts
    outside the frame come out black.
    """
    m = chip_transform(landmarks, size, padding)
    region, m = _crop_around(image_bgr, m, size)
    while np.sqrt(abs(np.linalg.det(m[:, :2]))) < 0.5 and min(region.shape[:2]) >= 4:
        region, m = cv2.pyrDown(region), np.hstack([m[:, :2] * 2.0, m[:, 2:]])
    chip = cv2.warpAffine(region, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return cv2.cvtColor(chip, cv2.COLOR_BGR2RGB)


def _crop_around(image: np.ndarray, m: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` the chip samples (with a margin for the pyramid), and ``m`` for that crop."""
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    margin = 4.0 / max(np.sqrt(abs(np.linalg.det(m[:, :2]))), 1e-6) + 4.0  # pyramid taps, in frame pixels
    h, w = image.shape[:2]
    x0, y0 = (int(max(0, np.floor(corners[:, i].min() - margin))) for i in (0, 1))
    x1, y1 = int(min(w, np.ceil(corners[:, 0].max() + margin))), int(min(h, np.ceil(corners[:, 1].max() + margin)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((2, 2, 3), np.uint8), m
    shifted = m.copy()
    shifted[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    return image[y0:y1, x0:x1], shifted


# --- the descriptor ---------------------------------------------------------------------


def descriptor_model_path() -> Path:
    """The dlib ResNet face descriptor file (face-recognition-models 0.3.0, CC0), checked against the manifest."""
    from vcam.models import model_path

    return model_path("face-descriptor")


def _load_net(path: Path):
    import dlib

    fix = "reinstall it with `pip install --force-reinstall face-recognition-models==0.3.0`"
    if not path.is_file():
        raise ModelError(f"the face descriptor model {path} is missing; {fix}")
    try:
        return dlib.face_recognition_model_v1(str(path))
    except (RuntimeError, ValueError) as err:
        raise ModelError(f"the face descriptor model {path} cannot be loaded ({' '.join(str(err).split())[:200]}); "
                         f"it is corrupt or not a dlib model; {fix}") from err


def as_chips(chips: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, bool]:
    """``(B, 150, 150, 3) uint8`` from one chip or a batch, and whether a single chip was given."""
    batch = np.asarray(chips)
    single = batch.ndim == 3
    batch = batch[None] if single else batch
    if batch.dtype != np.uint8:
        raise TypeError(f"face chips must be uint8 RGB, got {batch.dtype}")
    if batch.ndim != 4 or batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"face chips must be (150, 150, 3) or (B, 150, 150, 3), got {np.shape(chips)}; use face_chip()")
    return np.ascontiguousarray(batch), single


class Descriptor:
    """dlib's face descriptor, in this process (it holds the GIL while it runs).

    ``descriptor(chip)`` maps a ``(150, 150, 3) uint8`` RGB chip from :func:`face_chip`
    to a ``(128,) float32`` vector (unit-free; Euclidean distances between two
    photos of one person are mostly under 0.6); a batch ``(B, 150, 150, 3)`` or a
    list of chips gives ``(B, 128)``. Raises ModelError for a missing or broken file.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else descriptor_model_path()
        self._net = _load_net(self.path)

    def __call__(self, chips: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        batch, single = as_chips(chips)
        if len(batch) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        out = np.array(self._net.compute_face_descriptor(list(batch)), np.float32)
        return out[0] if single else out


class DescriptorProcess:
    """The same call as :class:`Descriptor`, computed in a child process.

    The caller waits on a pipe with the GIL released, so other threads run on.
    The child starts with the CPU priority of the thread that creates this
    object, loads only numpy, OpenCV and dlib, and exits when :meth:`close`
    closes its input. A missing or broken model is a ModelError here, at start.
    """

    def __init__(self, path: str | Path | None = None, start_timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else descriptor_model_path()
        if not self.path.is_file():
            _load_net(self.path)  # raises the ModelError naming the file
        self._proc = subprocess.Popen([sys.executable, "-P", __file__, "--serve", str(self.path)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if self._proc.stdout.read(3) != b"ok\n":
            err = self._proc.stderr.read().decode(errors="replace").strip()
            self.close()
            raise ModelError(err.splitlines()[-1] if err else f"the face descriptor process for {self.path} did not start")

    def __call__(self, chips: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        batch, single = as_chips(chips)
        self._proc.stdin.write(struct.pack("<I", len(batch)) + batch.tobytes())
        self._proc.stdin.flush()
        data = _read_exactly(self._proc.stdout, len(batch) * DESCRIPTOR_SIZE * 4)
        out = np.frombuffer(data, np.float32).reshape(len(batch), DESCRIPTOR_SIZE)
        return out[0] if single else out

    def close(self) -> None:
        """Stop the child (waits up to 5 s, then kills it)."""
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _read_exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise ModelError("the face descriptor process stopped unexpectedly; see the log, then restart vcam")
    return data


def _serve(model: str) -> None:
    """The child's loop: ``<uint32 n><n chips>`` in on stdin, ``n × 128 float32`` out on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        descriptor = Descriptor(model)
    except ModelError as err:
        print(" ".join(str(err).split()), file=sys.stderr)
        raise SystemExit(2) from None
    stdout.write(b"ok\n")
    stdout.flush()
    chip_bytes = CHIP_SIZE * CHIP_SIZE * 3
    while header := stdin.read(4):
        (n,) = struct.unpack("<I", header)
        batch = np.frombuffer(stdin.read(n * chip_bytes), np.uint8).reshape(n, CHIP_SIZE, CHIP_SIZE, 3)
        stdout.write(descriptor(batch).astype(np.float32).tobytes())
        stdout.flush()


# --- matching ---------------------------------------------------------------------------

_TOP = re.compile(r"top(\d+)")


def aggregate(dists: np.ndarray, aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION) -> float:
    """One distance from one person's ``(K,)`` per-image distances.

    ``aggregation``: ``"median"``, ``"max"``, ``"mean"``, ``"topN"`` (the mean of the
    N smallest, e.g. ``"top3"``; all K when K < N), or a callable ``(K,) -> float``.
    ``max`` demands that every enrolled image look alike (strict, hurt by one odd
    photo); ``top1`` trusts the single nearest (lenient, hurt by one lookalike).
    """
    d = np.asarray(dists, np.float64)
    if callable(aggregation):
        return float(aggregation(d))
    if aggregation in ("median", "max", "mean"):
        return float(getattr(np, aggregation)(d))
    top = _TOP.fullmatch(str(aggregation))
    if top and int(top.group(1)) >= 1:
        return float(np.sort(d)[: int(top.group(1))].mean())
    raise ValueError(f"aggregation must be 'median', 'max', 'mean', 'topN' (N >= 1) or a callable, got {aggregation!r}")


def distances(descriptor: np.ndarray, people: dict[str, np.ndarray],
              aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION) -> dict[str, float]:
    """Aggregated Euclidean distance from a ``(128,)`` descriptor to each person's ``(K, 128)`` descriptors."""
    d = np.asarray(descriptor, np.float32).reshape(DESCRIPTOR_SIZE)
    return {name: aggregate(np.linalg.norm(np.asarray(known, np.float32).reshape(-1, DESCRIPTOR_SIZE) - d, axis=1),
                            aggregation)
            for name, known in people.items() if len(known)}


def match(descriptor: np.ndarray, people: dict[str, np.ndarray], threshold: float = DEFAULT_THRESHOLD,
          aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION) -> tuple[str | None, float]:
    """``(name, distance)`` of the nearest person, or ``(None, distance to the nearest)`` when over ``threshold``.

    With nobody enrolled: ``(None, nan)``. See :data:`DEFAULT_THRESHOLD` for the trade-off.
    """
    found = distances(descriptor, people, aggregation)
    if not found:
        return None, float("nan")
    name = min(found, key=found.__getitem__)
    return (name if found[name] <= threshold else None), found[name]


# --- votes per track --------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """A settled identity: ``name`` (None = unknown) and the mean distance of the votes for it."""

    name: str | None
    distance: float


class TrackVotes:
    """Per track, the last ``votes`` match results and the name they settle on.

    A name (or "unknown") settles when it has at least ``agree`` of the last
    ``votes`` results and strictly more than any other; otherwise the track keeps
    what it had settled before (nothing, at first). So one outlier neither flips a
    settled name nor settles one. The one exception is a track's very first
    result when it is a clear match (distance at most ``sure``): it settles at
    once, so a known face is named within one descriptor (~0.15 s) instead of
    two; later results can still overturn it by agreeing. Lives on the analysis
    thread (no lock).

    Args:
        votes: results kept per track. More is steadier and slower to follow a
            real change (a person walking in front of another).
        agree: results that must agree before a name settles (>= 2).
        sure: a first match at or under this distance settles alone. dlib's
            same-person distances on the test portraits were 0.22-0.44 and the
            nearest other person 0.82; 0.4 keeps a wide margin. 0 turns it off.
    """

    def __init__(self, votes: int = 5, agree: int = 2, sure: float = 0.4) -> None:
        if votes < 1 or not 2 <= agree <= max(votes, 2):
            raise ValueError(f"need votes >= 1 and 2 <= agree <= votes; got votes={votes}, agree={agree}")
        self.votes, self.agree, self.sure = votes, agree, sure
        self._history: dict[int, deque[tuple[str | None, float]]] = {}
        self._settled: dict[int, Vote] = {}

    def add(self, track_id: int, name: str | None, distance: float) -> Vote | None:
        """Record one result for ``track_id``; returns its settled vote."""
        history = self._history.setdefault(track_id, deque(maxlen=self.votes))
        history.append((name, distance))
        if len(history) == 1 and name is not None and distance <= self.sure:
            self._settled[track_id] = Vote(name, float(distance))
        ranked = Counter(n for n, _ in history).most_common(2)
        (best, count), runner_up = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0)
        if count >= self.agree and count > runner_up:
            self._settled[track_id] = Vote(best, float(np.mean([d for n, d in history if n == best])))
        return self._settled.get(track_id)

    def settled(self, track_id: int) -> Vote | None:
        """The settled vote of ``track_id``, or None while it has not settled."""
        return self._settled.get(track_id)

    def forget(self, live: set[int]) -> None:
        """Drop the tracks not in ``live``."""
        for tid in [t for t in self._history if t not in live]:
            self._history.pop(tid, None)
            self._settled.pop(tid, None)

    def clear(self) -> None:
        """Forget every track (the gallery changed)."""
        self.forget(set())


# --- the stage ---------------------------------------------------------------------------

DescriptorFn = Callable[[np.ndarray], np.ndarray]


class Identity:
    """The identity stage: fills ``Faces.name`` and ``Faces.identity_distance`` per track.

    On each call (analysis thread) it makes chips for the tracks that need a
    look and hands them to its worker, then writes each track's settled vote
    into the faces; it never waits for a descriptor. A track needs a look when
    it has none yet, every ``settle`` seconds until its name settles, and every
    ``recheck`` seconds after. The worker computes descriptors (in a child
    process, see the module docstring), matches them and posts results that
    the next call folds into :class:`TrackVotes`.

    The request queue never grows: one pending chip per track (a newer one
    replaces it) and at most ``max_pending`` in all (the oldest is dropped; its
    track asks again next time). With an empty gallery nothing is computed and
    every name is None.

    Args:
        people: the gallery, ``{name: (K, 128) float32}``; see :meth:`set_people`.
        threshold: largest distance given a name; see :data:`DEFAULT_THRESHOLD`.
        aggregation: see :func:`aggregate`.
        recheck: seconds between looks at a settled track. Shorter notices a
            swapped person sooner and costs a descriptor (~0.14 s of CPU) per
            face per period: 9 faces every 6 s take a fifth of one core.
        settle: seconds between looks while a track has not settled.
        votes, agree: see :class:`TrackVotes`.
        max_pending: requests waiting at most; more only adds latency.
        nice: CPU priority steps the worker (and its child process) sits below
            the thread that first calls the stage, so video never waits for it.
        descriptor: a factory called once on the worker thread that returns the
            chips → descriptors callable; default :class:`DescriptorProcess`.
        clock: seconds, monotonic.

    Raises, from the call after it happened on the worker: ModelError when the
    descriptor model cannot be loaded or its process dies.
    """

    def __init__(self, people: dict[str, np.ndarray] | None = None, *, threshold: float = DEFAULT_THRESHOLD,
                 aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION, recheck: float = 6.0,
                 settle: float = 0.3, votes: int = 5, agree: int = 2, max_pending: int = 4, nice: int = 3,
                 descriptor: Callable[[], DescriptorFn] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        aggregate(np.zeros(1), aggregation)  # check the name now
        if max_pending < 1 or recheck <= 0 or settle <= 0:
            raise ValueError(f"need max_pending >= 1, recheck > 0, settle > 0; got {max_pending}, {recheck}, {settle}")
        self.threshold, self.aggregation = threshold, aggregation
        self.recheck, self.settle, self.max_pending, self.nice = recheck, settle, max_pending, nice
        self._factory = descriptor or DescriptorProcess
        self._clock = clock
        self._votes = TrackVotes(votes, agree)
        self._asked: dict[int, float] = {}  # analysis thread only
        self._seen_generation = 0
        self._cond = threading.Condition()  # guards everything below
        self._people: dict[str, np.ndarray] = {}
        self._generation = 0
        self._pending: OrderedDict[int, tuple[np.ndarray, int]] = OrderedDict()
        self._busy: set[int] = set()
        self._results: list[tuple[int, int, str | None, float]] = []
        self._error: BaseException | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self.computed = 0
        self.set_people(people or {})

    def set_people(self, people: dict[str, np.ndarray]) -> None:
        """Replace the gallery (any thread). Every track is looked at afresh."""
        checked = {str(n): np.asarray(d, np.float32).reshape(-1, DESCRIPTOR_SIZE) for n, d in people.items()}
        with self._cond:
            self._people = {n: d for n, d in checked.items() if len(d)}
            self._generation += 1
            self._busy -= set(self._pending)
            self._pending.clear()
            self._results.clear()
            wanted = bool(self._people)
        log.info("identity gallery: %d people", len(checked))
        if wanted:
            self._start_worker()  # load the descriptor now, not when the first face arrives

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        with self._cond:
            error, people, generation = self._error, bool(self._people), self._generation
            results, self._results = self._results, []
        if error is not None:
            raise error
        if generation != self._seen_generation:
            self._seen_generation = generation
            self._votes.clear()
            self._asked.clear()
        for tid, gen, name, distance in results:
            if gen == generation:
                self._votes.add(tid, name, distance)
        if not people or len(faces) == 0:
            return faces.replace(name=np.full(len(faces), None, object),
                                 identity_distance=np.full(len(faces), np.nan, np.float32))
        self._ask(frame, faces, generation)
        settled = [self._votes.settled(int(t)) for t in faces.track_id]
        return faces.replace(name=np.array([v.name if v else None for v in settled], object),
                             identity_distance=np.array([v.distance if v else np.nan for v in settled], np.float32))

    def _ask(self, frame: Frame, faces: Faces, generation: int) -> None:
        now = self._clock()
        for tid, points in zip(faces.track_id.tolist(), faces.landmarks):
            if tid < 0 or not self._due(tid, now):
                continue
            try:
                chip = face_chip(frame.image, points)
            except ValueError:
                continue  # no landmarks for this face this frame
            self._asked[tid] = now
            self._submit(tid, chip, generation)

    def _due(self, tid: int, now: float) -> bool:
        if tid not in self._asked:
            return True
        wait = self.recheck if self._votes.settled(tid) is not None else self.settle
        return now - self._asked[tid] >= wait

    def _submit(self, tid: int, chip: np.ndarray, generation: int) -> None:
        with self._cond:
            if tid in self._busy and tid not in self._pending:
                return  # being computed now; its result is on the way
            self._pending.pop(tid, None)
            while len(self._pending) >= self.max_pending:
                dropped, _ = self._pending.popitem(last=False)
                self._busy.discard(dropped)
                self._asked.pop(dropped, None)  # ask again next call
            self._pending[tid] = (chip, generation)
            self._busy.add(tid)
            self._cond.notify()
        self._start_worker()

    def _start_worker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="vcam-identity", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        from vcam.daemon import _lower_priority  # here, not at the top: vcam.daemon imports the pipeline

        _lower_priority(self.nice)
        describe = None
        try:
            describe = self._factory()
            while (job := self._next()) is not None:
                tid, chip, generation = job
                vector = describe(chip)
                with self._cond:
                    people = self._people if generation == self._generation else {}
                name, distance = match(vector, people, self.threshold, self.aggregation)
                with self._cond:
                    self.computed += 1
                    self._busy.discard(tid)
                    if people:
                        self._results.append((tid, generation, name, distance))
                    self._cond.notify_all()
        except Exception as err:  # noqa: BLE001 - reported to the analysis thread by the next call
            log.error("identity worker stopped: %s", err)
            with self._cond:
                self._error = err if isinstance(err, ModelError) else ModelError(f"face descriptor failed: {err}")
                self._cond.notify_all()
        finally:
            if describe is not None and hasattr(describe, "close"):
                describe.close()

    def _next(self) -> tuple[int, np.ndarray, int] | None:
        with self._cond:
            while not self._pending and not self._stop:
                self._cond.wait()
            if self._stop:
                return None
            tid, (chip, generation) = self._pending.popitem(last=False)
            return tid, chip, generation

    @property
    def started(self) -> bool:
        """Whether the worker has been started (with a non-empty gallery, or the first request)."""
        return self._thread is not None

    def idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no request is waiting or being computed; True if so."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy or self._error is not None or self._stop, timeout)

    def pending(self) -> int:
        """Requests waiting for the worker (at most ``max_pending``)."""
        with self._cond:
            return len(self._pending)

    def forget(self, live: set[int]) -> None:
        """Drop the votes of tracks not in ``live`` (call with the tracker's live ids)."""
        self._votes.forget(live)
        for tid in [t for t in self._asked if t not in live]:
            del self._asked[tid]

    def close(self) -> None:
        """Stop the worker and its descriptor process (waits for a descriptor in flight)."""
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None

    def __enter__(self) -> Identity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    _serve(sys.argv[2])
