"""identity: who is this face? dlib's ResNet descriptor matched against the gallery.

Three steps per face:

1. **Align** (:func:`~vcam.pipeline.descriptor.face_chip`, on the analysis
   thread, ~1 ms): five FaceMesh points onto dlib's 150×150 chip layout.
2. **Describe** (:class:`~vcam.pipeline.descriptor.Descriptor`, dlib's ResNet
   as ONNX, ~12-16 ms per face on one core): on the stage's worker thread;
   onnxruntime releases the GIL, so the analysis thread runs on meanwhile.
3. **Match** (:func:`~vcam.pipeline.matching.match`): the Euclidean distance
   to each enrolled person's K descriptors, aggregated per person (``median``,
   ``max``, ``mean`` or ``topN``, the mean of the N smallest); the nearest
   person under the threshold is the name, otherwise the face is unknown
   (``None``). Names are then voted per track
   (:class:`~vcam.pipeline.matching.TrackVotes`) so they do not flicker.

Thresholds, measured on the license-clean portraits in tests/data with
:func:`vcam.evaluate.evaluate_identity` (see
:data:`~vcam.pipeline.matching.DEFAULT_THRESHOLD`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from vcam.pipeline.descriptor import DESCRIPTOR_SIZE, Descriptor, face_chip
from vcam.pipeline.identity_workers import DescriptorFn, IdentityWorkers
from vcam.pipeline.matching import DEFAULT_AGGREGATION, DEFAULT_THRESHOLD, TrackVotes, aggregate, match
from vcam.types import Faces, Frame

log = logging.getLogger(__name__)


class Identity:
    """The identity stage: fills ``Faces.name`` and ``Faces.identity_distance`` per track.

    On each call (analysis thread) it makes chips for the tracks that need a
    look and hands them to its worker, then writes each track's settled vote
    into the faces; it never waits for a descriptor. A track needs a look when
    it has none yet, every ``settle`` seconds until its name settles, and every
    ``recheck`` seconds after. The worker computes descriptors (see the
    module docstring), matches them and posts results that
    the next call folds into :class:`TrackVotes`. With an empty gallery nothing
    is computed and every name is None. How the worker's queue stays bounded,
    which looks go first and when the worker lowers its priority:
    :class:`~vcam.pipeline.identity_workers.IdentityWorkers`.

    Args:
        people: the gallery, ``{name: (K, 128) float32}``; see :meth:`set_people`.
        threshold: largest distance given a name; see :data:`DEFAULT_THRESHOLD`.
        aggregation: see :func:`aggregate`.
        recheck: seconds between looks at a settled track. Shorter notices a
            swapped person sooner and costs a descriptor (~15 ms of CPU) per
            face per period: 9 faces every 6 s take ~2 % of one core.
        settle: seconds between looks while a track has not settled.
        votes, agree: see :class:`TrackVotes`.
        max_pending: requests waiting at most, and so the largest batch the
            worker computes at once. A 3×3 gallery's first looks fit in one.
        nice: CPU priority steps the workers drop below the thread that builds
            the stage once the first looks are done, so video and analysis do
            not wait for rechecks. 0 keeps them level.
        workers: worker threads, each with its own descriptor. One computes
            nine first looks in ~0.1 s, so the default is 1.
        descriptor: a factory called once on each worker thread that returns the
            chips → descriptors callable; default :class:`Descriptor`.
        clock: seconds, monotonic.

    Raises, from the call after it happened on the worker: ModelError when the
    descriptor model cannot be loaded or fails.
    """

    name = "identity"
    feature = "identity"

    def __init__(self, people: dict[str, np.ndarray] | None = None, *, threshold: float = DEFAULT_THRESHOLD,
                 aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION, recheck: float = 6.0,
                 settle: float = 0.3, votes: int = 5, agree: int = 2, max_pending: int = 9, nice: int = 3, workers: int = 1,
                 descriptor: Callable[[], DescriptorFn] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        aggregate(np.zeros(1), aggregation)  # check the name now
        if max_pending < 1 or recheck <= 0 or settle <= 0:
            raise ValueError(f"need max_pending >= 1, recheck > 0, settle > 0; got {max_pending}, {recheck}, {settle}")
        self.threshold, self.aggregation = threshold, aggregation
        self.recheck, self.settle = recheck, settle
        self._clock = clock
        self._votes = TrackVotes(votes, agree)
        self._asked: dict[int, float] = {}  # analysis thread only
        self._seen_generation = 0
        self._workers = IdentityWorkers(self._match, descriptor or Descriptor, max_pending=max_pending, nice=nice,
                                        workers=workers)
        self.set_people(people or {})

    def set_people(self, people: dict[str, np.ndarray]) -> None:
        """Replace the gallery (any thread). Every track is looked at afresh."""
        checked = {str(n): np.asarray(d, np.float32).reshape(-1, DESCRIPTOR_SIZE) for n, d in people.items()}
        wanted = self._workers.set_people(checked)
        log.info("identity gallery: %d people", len(checked))
        if wanted:
            self._workers.start()  # load the descriptor now, not when the first face arrives

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        error, people, generation, results = self._workers.collect()
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
            if tid >= 0 and self._due(tid, now) and self._submit(
                    tid, self._votes.results(tid) == 0, lambda p=points: face_chip(frame.image, p), generation):
                self._asked[tid] = now

    def _due(self, tid: int, now: float) -> bool:
        if tid not in self._asked:
            return True
        wait = self.recheck if self._votes.settled(tid) is not None else self.settle
        return now - self._asked[tid] >= wait

    def _submit(self, tid: int, first: bool, make_chip: Callable[[], np.ndarray], generation: int) -> bool:
        """Queue a look at ``tid`` if it gets a place; True if queued. A recheck that gave its place asks again."""
        queued, evicted = self._workers.submit(tid, first, make_chip, generation)
        if evicted is not None:
            self._asked.pop(evicted, None)  # it asks again on the next call
        return queued

    def _match(self, vector: np.ndarray, people: dict[str, np.ndarray]) -> tuple[str | None, float]:
        """:func:`match` with this stage's threshold and aggregation (called on a worker thread)."""
        return match(vector, people, self.threshold, self.aggregation)

    @property
    def started(self) -> bool:
        """Whether the worker has been started (with a non-empty gallery, or the first request)."""
        return self._workers.started

    @property
    def computed(self) -> int:
        """Descriptors computed so far."""
        return self._workers.computed

    def idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no request is waiting or being computed; True if so."""
        return self._workers.idle(timeout)

    def pending(self) -> int:
        """Requests waiting for the worker (at most ``max_pending``)."""
        return self._workers.pending()

    def forget(self, track_ids: set[int]) -> None:
        """Drop the votes of tracks not in ``track_ids`` (call with the tracker's live ids)."""
        self._votes.forget(track_ids)
        for tid in [t for t in self._asked if t not in track_ids]:
            del self._asked[tid]

    def close(self) -> None:
        """Stop the workers (waits for a descriptor in flight)."""
        self._workers.close()

    def __enter__(self) -> Identity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
