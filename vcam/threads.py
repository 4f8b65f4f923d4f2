"""The daemon's thread plumbing: a one-item mailbox, run counters, CPU priority, and a prefetching iterator.

Kept apart from :mod:`vcam.daemon` so the stages (the identity worker lowers its
own priority) and the benchmarks can use them without importing the daemon.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from queue import Full, Queue
from typing import Generic, TypeVar

import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Holds the newest item only. ``put`` never blocks; ``get`` waits for an item not yet taken."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> None:
        """Store ``item``, replacing (and counting as dropped) any unread one."""
        with self._cond:
            self.dropped += self._item is not None
            self._item = item
            self._cond.notify_all()

    def get(self, timeout: float) -> T | None:
        """Take the item, waiting up to ``timeout`` seconds; None if none came."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


@dataclass
class Stats:
    """Counters and latencies of a run (seconds; bounded history)."""

    captured: int = 0
    analysed: int = 0
    sent: int = 0
    analysis_latency: deque = field(default_factory=lambda: deque(maxlen=2000))
    output_latency: deque = field(default_factory=lambda: deque(maxlen=2000))
    faces_per_analysis: deque = field(default_factory=lambda: deque(maxlen=2000))
    sent_at: deque = field(default_factory=lambda: deque(maxlen=2000))
    started: float = 0.0
    stage_errors: int = 0  # analysed frames a stage failed on (they went out unannotated)
    source_lost: int = 0  # times the source stopped delivering
    reconnects: int = 0  # times it came back

    def summary(self) -> dict[str, float]:
        """Rates in Hz and latency percentiles in ms."""
        elapsed = max(1e-9, time.monotonic() - self.started)
        return {
            "seconds": elapsed, "captured": self.captured, "analysed": self.analysed, "sent": self.sent,
            "output_fps": self.sent / elapsed, "analysis_hz": self.analysed / elapsed,
            "stage_errors": self.stage_errors, "source_lost": self.source_lost, "reconnects": self.reconnects,
            **_percentiles("analysis_latency_ms", self.analysis_latency),
            **_percentiles("output_latency_ms", self.output_latency),
        }


def _percentiles(name: str, values: deque) -> dict[str, float]:
    if not values:
        return {f"{name}_p50": float("nan"), f"{name}_p95": float("nan")}
    arr = np.array(values) * 1000.0
    return {f"{name}_p50": float(np.percentile(arr, 50)), f"{name}_p95": float(np.percentile(arr, 95))}


#: How much lower the analysis thread's CPU priority is than the video's (Linux nice
#: steps). On a 2-core laptop analysis could take every cycle; this keeps the video
#: at the source's rate and gives analysis what is left. 0 turns it off.
ANALYSIS_NICE = 2


def lower_priority(steps: int) -> None:
    """Lower the calling thread's CPU priority by ``steps`` (Linux: per thread; elsewhere a no-op).

    Threads the caller starts later (MediaPipe's workers) inherit it.
    """
    if steps <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + steps)
    except OSError as err:
        log.debug("could not lower analysis priority: %s", err)




_END = object()


def prefetched(items: Iterator[T], depth: int = 4, name: str = "vcam-prefetch") -> Iterator[T]:
    """``items``, made ahead on a thread of their own with at most ``depth`` waiting (e.g. decoding the next
    frames of a file while this thread analyses one). What making them raises is raised here, in order.

    Close the generator (``contextlib.closing``) before what ``items`` reads from: closing stops and joins
    the thread. A larger ``depth`` smooths uneven work and holds more items (a 1080p frame is 6 MB).
    """
    queue: Queue = Queue(depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def fill() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which raises it
            put((_END, err))

    thread = threading.Thread(target=fill, name=name, daemon=True)
    thread.start()
    try:
        while (entry := queue.get())[0] is not _END:
            yield entry[0]
        if entry[1] is not None:
            raise entry[1]
    finally:
        stop.set()
        thread.join()
