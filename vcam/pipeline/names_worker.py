"""The names stage's helpers: the change keys of a label, and the one worker thread that reads labels.

See :mod:`vcam.pipeline.names`. The worker owns nothing of the analysis thread's: it takes copies of
label bands from a bounded queue and answers through a cache both threads reach under one lock.
"""

from __future__ import annotations

import difflib
import logging
import queue
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)

KEY_SIZE = (16, 4)
"""``(w, h)`` of the grey thumbnail a label's change key is made of."""
KEY_LEVELS = 16
"""Grey levels the key thumbnail is quantised to: fewer ignore more noise but miss faint changes."""
LINE_KEY_SIZE = (32, 4)
"""``(w, h)`` of the grey thumbnail of a label's text line its key is made of."""
LINE_KEY_LEVELS = 8
"""Grey levels of the line key: coarse, so video seen through a translucent label box does not change it."""
LINE_TOLERANCE = 15.0
"""Mean difference (0-255) of a tile's :func:`line_thumb` from when it was read, under which its name stands
without a lookup: on the Zoom-like demo, video through the label box and noise stayed under 6 (the grey
thumbnail drifted to 14), another name was 55 away."""
STALE_S = 0.5
"""Seconds a queued label no tile shows any more is still read: longer reads more stale labels after a
re-flow; shorter may never read a label over moving video when the worker is behind."""

Box = tuple[int, int, int, int]
"""``(x, y, w, h)`` in pixels."""


class LineReader(Protocol):
    """What the worker needs of a reader (:class:`vcam.pipeline.name_reader.NameReader`)."""

    def read_line(self, label_bgr: np.ndarray) -> tuple[str | None, Box | None]: ...


def label_key(band: np.ndarray) -> bytes:
    """A cheap change key of a whole ``(h, w, 3) uint8`` BGR label band: its :data:`KEY_SIZE` grey thumbnail
    (area-averaged, so sensor noise mostly cancels) quantised to :data:`KEY_LEVELS` levels, as bytes."""
    return b"B" + _thumb(band, KEY_SIZE, KEY_LEVELS)


def line_key(band: np.ndarray, line: Box) -> bytes:
    """The change key of the text line ``line`` of a label band: its place and a :data:`LINE_KEY_SIZE`
    thumbnail (without the line's margin) quantised to :data:`LINE_KEY_LEVELS` levels. The video beside the
    label does not change it."""
    x, y, w, h = line
    if x + w > band.shape[1] or y + h > band.shape[0]:
        return label_key(band)
    m = h // 4  # the read line has a margin around the glyphs: leave it (video may show there)
    core = band[y + m:y + h - m, x + m:x + w - m]
    return b"L" + np.array(line, np.int16).tobytes() + _thumb(core, LINE_KEY_SIZE, LINE_KEY_LEVELS)


def line_thumb(band: np.ndarray, line: Box) -> np.ndarray | None:
    """``(4, 32) float32`` thumbnail of the glyphs of the text line ``line`` of a label band (the line without
    its margin, split into text and background by Otsu's threshold, 0 or 255, then area-averaged); None when
    the line is not inside the band. Compared with a tolerance (:data:`LINE_TOLERANCE`), not as a
    key: a quantised key flips on sensor noise whenever a cell sits near a level's edge."""
    x, y, w, h = line
    m = h // 4
    core = band[y + m:y + h - m, x + m:x + w - m]
    if x + w > band.shape[1] or y + h > band.shape[0] or core.size == 0:
        return None
    _, glyphs = cv2.threshold(cv2.cvtColor(core, cv2.COLOR_BGR2GRAY), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return cv2.resize(glyphs, LINE_KEY_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def same_name(a: str | None, b: str | None, min_ratio: float = 0.8) -> bool:
    """Whether ``a`` and ``b`` are one name read twice: equal but for accents and a letter or two (the
    OCR's noise on one label over moving video: "Inés Conceicao", "Inés Conceica"). None is no name."""
    if a is None or b is None:
        return a is b
    fa, fb = (unicodedata.normalize("NFKD", x.casefold()) for x in (a, b))
    return difflib.SequenceMatcher(None, fa, fb).ratio() >= min_ratio


def _thumb(image: np.ndarray, size: tuple[int, int], levels: int) -> bytes:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return (cv2.resize(grey, size, interpolation=cv2.INTER_AREA) // (256 // levels)).astype(np.uint8).tobytes()


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The ``(h, w, 3)`` view of ``image`` inside ``[x, y, w, h]`` ``box`` (frame pixels), None if under 4×4 px."""
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(image.shape[1], int(box[0] + box[2])), min(image.shape[0], int(box[1] + box[3]))
    return image[y0:y1, x0:x1] if x1 - x0 >= 4 and y1 - y0 >= 4 else None


Read = tuple[str | None, Box | None]
"""A worker's answer: the name (or None) and the text line it was read from (or None)."""


class Worker:
    """One background thread reading labels: submit ``(key, band)``, look answers up by key.

    The queue holds at most ``queue_size`` labels; a full queue drops its oldest (stale) label, and a
    label whose key no tile shows any more (``wanted``) is skipped once it waited :data:`STALE_S`: after a
    re-flow the old labels go unread, while a label over moving video (its key new at every frame) is
    still read. The answers are cached by the key
    submitted and by the key of the text line found (:func:`line_key`), the last ``cache_size`` kept.
    After each read the thread rests so that reading takes at most ``max_share`` of one core.
    """

    def __init__(self, make_reader: Callable[[], LineReader], queue_size: int, cache_size: int,
                 max_share: float) -> None:
        self._make_reader, self._cache_size, self._max_share = make_reader, cache_size, max_share
        self._queue: queue.Queue[tuple[bytes, np.ndarray, float] | None] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._cache: OrderedDict[bytes, Read] = OrderedDict()
        self._pending: set[bytes] = set()
        self.wanted: frozenset[bytes] = frozenset()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vcam-names", daemon=True)
        self._thread.start()

    def lookup(self, key: bytes) -> Read | None:
        """The answer for ``key``, or None if it was not read."""
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def submit(self, key: bytes, band: np.ndarray) -> bool:
        """Queue ``band`` to be read unless it already is; never blocks. Whether it was queued now."""
        with self._lock:
            if key in self._pending:
                return False
            self._pending.add(key)
        item = (key, band.copy(), time.monotonic())
        while True:
            try:
                self._queue.put_nowait(item)
                return True
            except queue.Full:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        try:
            old = self._queue.get_nowait()
        except queue.Empty:
            return
        if old is not None:
            with self._lock:
                self._pending.discard(old[0])

    def _run(self) -> None:
        try:
            reader = self._make_reader()
        except BaseException as err:  # noqa: BLE001 - handed to the analysis thread, raised by Names.__call__
            self.failure = err
            return
        while (item := self._queue.get()) is not None:
            key, band, queued = item
            if key in self.wanted or time.monotonic() - queued < STALE_S:
                start = time.monotonic()
                self._store(key, band, self._read(reader, band))
                self._stopping.wait((time.monotonic() - start) * (1 / self._max_share - 1))
            with self._lock:
                self._pending.discard(key)

    @staticmethod
    def _read(reader: LineReader, band: np.ndarray) -> Read:
        try:
            return reader.read_line(band)
        except Exception:  # noqa: BLE001 - one unreadable label must not stop the worker
            log.warning("reading a name label failed; it stays unnamed", exc_info=True)
            return None, None

    def _store(self, key: bytes, band: np.ndarray, read: Read) -> None:
        keys = [key, label_key(band)] + ([] if read[1] is None else [line_key(band, read[1])])
        with self._lock:
            for k in keys:
                self._cache[k] = read
                self._cache.move_to_end(k)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def idle(self) -> bool:
        """Whether nothing is queued or being read."""
        with self._lock:
            return not self._pending

    def stop(self, timeout: float) -> None:
        """Ask the thread to end after the label it is reading, and wait up to ``timeout`` seconds."""
        self._stopping.set()
        while True:
            try:
                self._queue.put_nowait(None)
                break
            except queue.Full:
                self._drop_oldest()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()
