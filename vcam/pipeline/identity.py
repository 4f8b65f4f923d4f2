"""identity: who is this face? dlib's ResNet descriptor matched against the gallery.

Three steps per face (STACK.md, "Identity"):

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
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vcam.errors import ModelError
from vcam.pipeline.descriptor import DESCRIPTOR_SIZE, Descriptor, face_chip
from vcam.pipeline.matching import DEFAULT_AGGREGATION, DEFAULT_THRESHOLD, TrackVotes, aggregate, match
from vcam.threads import lower_priority
from vcam.types import Faces, Frame

log = logging.getLogger(__name__)

# --- the stage ---------------------------------------------------------------------------

DescriptorFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _Request:
    """One look the worker is asked for: a ``(150, 150, 3) uint8`` RGB chip of a track."""

    chip: np.ndarray
    generation: int  # the gallery it was asked under; results of an older gallery are dropped
    first: bool  # the track has no result yet: it goes before every recheck


class Identity:
    """The identity stage: fills ``Faces.name`` and ``Faces.identity_distance`` per track.

    On each call (analysis thread) it makes chips for the tracks that need a
    look and hands them to its worker, then writes each track's settled vote
    into the faces; it never waits for a descriptor. A track needs a look when
    it has none yet, every ``settle`` seconds until its name settles, and every
    ``recheck`` seconds after. The worker computes descriptors (see the
    module docstring), matches them and posts results that
    the next call folds into :class:`TrackVotes`.

    The request queue never grows: one pending chip per track (a newer one
    replaces it and keeps its place in line) and at most ``max_pending`` in all.
    A track's first look goes before any recheck, and first looks are served in
    the order their tracks appeared, so when a room of faces appears at once
    each is named once before any is looked at again. When the queue is full, a
    first look takes the place of the newest recheck; otherwise the track is
    not queued (and no chip is cut) and asks again on the next call. With an
    empty gallery nothing is computed and every name is None.

    The first looks, when a room of faces appears at once, run at the priority
    of the thread that builds the stage (the analysis thread): every face waits
    for its name. When the first second look is taken (first looks go first,
    so by then every track has had one), the workers drop ``nice`` steps, so
    rechecks and faces that join later run below the video and the analysis
    (an unprivileged thread can lower its priority but not raise it again).
    The worker takes every first look waiting as one batch (else every
    recheck): nine first looks take ~0.1 s of one core (bench/descriptor.py).

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
        self.recheck, self.settle, self.max_pending, self.nice = recheck, settle, max_pending, nice
        self.workers = max(1, workers)
        self._factory = descriptor or Descriptor
        self._clock = clock
        self._votes = TrackVotes(votes, agree)
        self._asked: dict[int, float] = {}  # analysis thread only
        self._seen_generation = 0
        self._cond = threading.Condition()  # guards everything below
        self._people: dict[str, np.ndarray] = {}
        self._generation = 0
        self._pending: OrderedDict[int, _Request] = OrderedDict()
        self._busy: set[int] = set()
        self._results: list[tuple[int, int, str | None, float]] = []
        self._error: BaseException | None = None
        self._stop = False
        self._threads: list[threading.Thread] = []
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
            if tid >= 0 and self._due(tid, now) and self._submit(
                    tid, self._votes.results(tid) == 0, lambda p=points: face_chip(frame.image, p), generation):
                self._asked[tid] = now

    def _due(self, tid: int, now: float) -> bool:
        if tid not in self._asked:
            return True
        wait = self.recheck if self._votes.settled(tid) is not None else self.settle
        return now - self._asked[tid] >= wait

    def _submit(self, tid: int, first: bool, make_chip: Callable[[], np.ndarray], generation: int) -> bool:
        """Queue a look at ``tid`` if it gets a place (see the class docstring); True if queued.

        The chip (~1 ms) is cut only then, under the lock, so a full queue costs the analysis thread nothing.
        """
        with self._cond:
            if not self._make_room(tid, first):
                return False
            try:
                chip = make_chip()
            except ValueError:
                return False  # no usable landmarks for this face this frame
            self._pending[tid] = _Request(chip, generation, first)  # a track already in line keeps its place
            self._busy.add(tid)
            self._cond.notify_all()
        self._start_worker()
        return True

    def _make_room(self, tid: int, first: bool) -> bool:
        """Whether ``tid`` may be queued now, evicting the newest recheck for a first look (lock held)."""
        if tid in self._pending:
            return True
        if tid in self._busy:
            return False  # being computed now; its result is on the way
        if len(self._pending) < self.max_pending:
            return True
        rechecks = [t for t, request in self._pending.items() if not request.first] if first else []
        if not rechecks:
            return False
        del self._pending[rechecks[-1]]
        self._busy.discard(rechecks[-1])
        self._asked.pop(rechecks[-1], None)  # it asks again on the next call
        return True

    def _start_worker(self) -> None:
        """Start the ``workers`` worker threads, once."""
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"vcam-identity-{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        describe = None
        lowered = False
        try:
            describe = self._factory()  # at the builder's priority, for the first looks
            while jobs := self._next():
                if not jobs[0][1].first and not lowered:
                    self._lower()  # first looks go first, so they are done
                    lowered = True
                vectors = describe(np.stack([request.chip for _, request in jobs]))
                for (tid, request), vector in zip(jobs, vectors):
                    self._post(tid, request.generation, vector)
        except Exception as err:  # noqa: BLE001 - reported to the analysis thread by the next call
            log.error("identity worker stopped: %s", err)
            with self._cond:
                self._error = err if isinstance(err, ModelError) else ModelError(f"face descriptor failed: {err}")
                self._cond.notify_all()
        finally:
            if describe is not None and hasattr(describe, "close"):
                describe.close()

    def _post(self, tid: int, generation: int, vector: np.ndarray) -> None:
        """Match ``vector`` against the gallery it was asked under and leave the result for the next call."""
        with self._cond:
            people = self._people if generation == self._generation else {}
        name, distance = match(vector, people, self.threshold, self.aggregation)
        with self._cond:
            self.computed += 1
            self._busy.discard(tid)
            if people:
                self._results.append((tid, generation, name, distance))
            self._cond.notify_all()

    def _next(self) -> list[tuple[int, _Request]]:
        """The next batch: every first look waiting, else every recheck, oldest first; empty when stopping.

        A batch of 9 costs ~8 % less per face than single chips (bench/descriptor.py: 8.8 against 9.6 ms).
        """
        with self._cond:
            while not self._pending and not self._stop:
                self._cond.wait()
            if self._stop:
                return []
            first = any(request.first for request in self._pending.values())
            tids = [t for t, request in self._pending.items() if request.first == first]
            return [(t, self._pending.pop(t)) for t in tids]

    def _lower(self) -> None:
        """Drop this worker thread ``nice`` steps (once; see the class docstring)."""
        lower_priority(self.nice)
        log.debug("identity: first looks done; worker lowered by %d nice steps", self.nice)

    @property
    def started(self) -> bool:
        """Whether the worker has been started (with a non-empty gallery, or the first request)."""
        return bool(self._threads)

    def idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no request is waiting or being computed; True if so."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy or self._error is not None or self._stop, timeout)

    def pending(self) -> int:
        """Requests waiting for the worker (at most ``max_pending``)."""
        with self._cond:
            return len(self._pending)

    def forget(self, track_ids: set[int]) -> None:
        """Drop the votes of tracks not in ``track_ids`` (call with the tracker's live ids)."""
        self._votes.forget(track_ids)
        for tid in [t for t in self._asked if t not in track_ids]:
            del self._asked[tid]

    def close(self) -> None:
        """Stop the workers (waits for a descriptor in flight)."""
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10.0)
        self._threads = []

    def __enter__(self) -> Identity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
