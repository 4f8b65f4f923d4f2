"""The identity stage's worker threads: a bounded queue of looks, descriptors and matching off the analysis thread.

:class:`~vcam.pipeline.identity.Identity` (the stage, on the analysis thread) decides when a
track needs a look, cuts its chip and reads the results back; :class:`IdentityWorkers` holds
everything it shares with the worker threads, under one lock: the gallery and its generation,
the queue of looks, the tracks being computed, the results waiting for the next call, and a
worker's error. The workers describe chips with dlib's ResNet
(:class:`~vcam.pipeline.descriptor.Descriptor`) and match them with the stage's matcher.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vcam.errors import ModelError
from vcam.threads import lower_priority

log = logging.getLogger(__name__)

DescriptorFn = Callable[[np.ndarray], np.ndarray]
"""Chips ``(N, 150, 150, 3) uint8`` RGB → descriptors ``(N, 128) float32``."""

Matcher = Callable[[np.ndarray, dict[str, np.ndarray]], tuple[str | None, float]]
"""``(descriptor (128,), gallery {name: (K, 128)}) -> (name or None, distance)``."""

Result = tuple[int, int, str | None, float]
"""``(track id, gallery generation, name or None, distance)`` of one look."""


@dataclass(frozen=True)
class _Request:
    """One look the worker is asked for: a ``(150, 150, 3) uint8`` RGB chip of a track."""

    chip: np.ndarray
    generation: int  # the gallery it was asked under; results of an older gallery are dropped
    first: bool  # the track has no result yet: it goes before every recheck


class IdentityWorkers:
    """The identity stage's workers and all they share with it, behind one lock.

    The request queue never grows: one pending chip per track (a newer one
    replaces it and keeps its place in line) and at most ``max_pending`` in all.
    A track's first look goes before any recheck, and first looks are served in
    the order their tracks appeared, so when a room of faces appears at once
    each is named once before any is looked at again. When the queue is full, a
    first look takes the place of the newest recheck; otherwise the track is
    not queued (and no chip is cut) and asks again on the next call.

    The first looks, when a room of faces appears at once, run at the priority
    of the thread that builds the stage (the analysis thread): every face waits
    for its name. When the first second look is taken (first looks go first,
    so by then every track has had one), the workers drop ``nice`` steps, so
    rechecks and faces that join later run below the video and the analysis
    (an unprivileged thread can lower its priority but not raise it again).
    The worker takes every first look waiting as one batch (else every
    recheck): nine first looks take ~0.1 s of one core (bench/descriptor.py).

    Args:
        match: called on a worker thread with each descriptor and the gallery its look was
            asked under (``{}`` once the gallery has changed since).
        descriptor: a factory called once on each worker thread that returns the
            chips → descriptors callable.
        max_pending, nice, workers: see :class:`~vcam.pipeline.identity.Identity`.
    """

    def __init__(self, match: Matcher, descriptor: Callable[[], DescriptorFn], *, max_pending: int, nice: int,
                 workers: int) -> None:
        self.max_pending, self.nice, self.workers = max_pending, nice, max(1, workers)
        self._match = match
        self._factory = descriptor
        self._cond = threading.Condition()  # guards everything below
        self._people: dict[str, np.ndarray] = {}
        self._generation = 0
        self._pending: OrderedDict[int, _Request] = OrderedDict()
        self._busy: set[int] = set()
        self._results: list[Result] = []
        self._error: BaseException | None = None
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.computed = 0

    def set_people(self, people: dict[str, np.ndarray]) -> bool:
        """Replace the gallery, ``{name: (K, 128) float32}`` (any thread), dropping every waiting look and result.

        Returns whether anyone is enrolled (people with no descriptor are left out).
        """
        with self._cond:
            self._people = {n: d for n, d in people.items() if len(d)}
            self._generation += 1
            self._busy -= set(self._pending)
            self._pending.clear()
            self._results.clear()
            return bool(self._people)

    def collect(self) -> tuple[BaseException | None, bool, int, list[Result]]:
        """At one moment: a worker's error (or None), whether anyone is enrolled, the gallery's
        generation, and the results posted since the last call (which this takes)."""
        with self._cond:
            error, people, generation = self._error, bool(self._people), self._generation
            results, self._results = self._results, []
        return error, people, generation, results

    def submit(self, tid: int, first: bool, make_chip: Callable[[], np.ndarray],
               generation: int) -> tuple[bool, int | None]:
        """Queue a look at ``tid`` if it gets a place (see the class docstring): ``(queued, evicted)``.

        ``evicted`` is the track whose recheck gave its place to this first look (it should ask
        again on the next call), or None. The chip (~1 ms) is cut only once there is a place,
        under the lock, so a full queue costs the analysis thread nothing.
        """
        with self._cond:
            room, evicted = self._make_room(tid, first)
            if not room:
                return False, evicted
            try:
                chip = make_chip()
            except ValueError:
                return False, evicted  # no usable landmarks for this face this frame
            self._pending[tid] = _Request(chip, generation, first)  # a track already in line keeps its place
            self._busy.add(tid)
            self._cond.notify_all()
        self.start()
        return True, evicted

    def _make_room(self, tid: int, first: bool) -> tuple[bool, int | None]:
        """Whether ``tid`` may be queued now, and the newest recheck evicted for a first look (lock held)."""
        if tid in self._pending:
            return True, None
        if tid in self._busy:
            return False, None  # being computed now; its result is on the way
        if len(self._pending) < self.max_pending:
            return True, None
        rechecks = [t for t, request in self._pending.items() if not request.first] if first else []
        if not rechecks:
            return False, None
        del self._pending[rechecks[-1]]
        self._busy.discard(rechecks[-1])
        return True, rechecks[-1]

    def start(self) -> None:
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
        name, distance = self._match(vector, people)
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

    def close(self) -> None:
        """Stop the workers (waits for a descriptor in flight)."""
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10.0)
        self._threads = []
