"""The contract every frame source keeps.

A source is a context manager and an iterator of :class:`~vcam.types.Frame`::

    with make_source("demo") as src:
        for frame in src:
            ...

Subclasses implement ``_open``, ``_grab`` and ``_release``; the base class does
the rest: frame numbering, timestamps, conversion to BGR, pacing, and making
``close()`` run exactly once.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np

from vcam.errors import SourceError
from vcam.types import Frame, as_bgr

log = logging.getLogger(__name__)


class Source(ABC):
    """A stream of frames from one place.

    Args:
        spec: the spec string this source was opened from (kept in every Frame).
        fps: the rate frames are delivered at when ``realtime`` is on.
        realtime: sleep so frames arrive no faster than ``fps`` (live use);
            off, frames come as fast as they can be made (``vcam analyze``).
    """

    #: Whether the device itself paces frames (a webcam blocks until the next one).
    self_paced = False

    def __init__(self, spec: str, fps: float = 30.0, realtime: bool = True) -> None:
        self.spec = spec
        self.fps = float(fps)
        self.realtime = realtime
        self._index = 0
        self._t0: float | None = None
        self._opened = False
        self._closed = False

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames in pixels (valid after opening)."""

    @abstractmethod
    def _open(self) -> None:
        """Acquire the device or file; raise SourceError with a fix if impossible."""

    @abstractmethod
    def _grab(self) -> np.ndarray | None:
        """Return the next image (any layout :func:`as_bgr` accepts), or None at the end."""

    def _release(self) -> None:
        """Release the device or file. Called exactly once."""

    @property
    def frames_read(self) -> int:
        """Frames delivered so far."""
        return self._index

    def _media_time(self) -> float:
        """Seconds of the frame just grabbed, in the source's own clock."""
        return self._index / self.fps

    def _capture_time(self) -> float:
        """When the image just grabbed was captured, ``time.monotonic()`` seconds (default: now)."""
        return time.monotonic()

    def open(self) -> Source:
        """Open the source; returns ``self``."""
        if not self._opened:
            self._open()
            self._opened = True
            log.info("opened source %s (%dx%d @ %.1f fps)", self.spec, *self.size, self.fps)
        return self

    def close(self) -> None:
        """Release the source. Safe to call more than once; releases only once."""
        if self._opened and not self._closed:
            self._closed = True
            self._release()
            log.info("closed source %s after %d frames", self.spec, self._index)

    def __enter__(self) -> Source:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self) -> Frame | None:
        """The next frame, or None when the stream has ended."""
        if not self._opened or self._closed:
            raise SourceError(f"source {self.spec!r} is not open; use it in a 'with' block")
        self._pace()
        image = self._grab()
        if image is None:
            return None
        frame = Frame(as_bgr(image), self._index, self._media_time(), self.spec, self._capture_time())
        self._index += 1
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def _pace(self) -> None:
        if not self.realtime or self.self_paced:
            return
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        delay = self._t0 + self._index / self.fps - now
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:  # fell far behind (a stall): restart the clock rather than burst
            self._t0 = now - self._index / self.fps
