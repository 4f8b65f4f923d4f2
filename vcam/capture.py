"""The capture thread's work: frames from the source, a new source when asked, and riding out a lost one.

A meeting app shows a camera that stops sending as frozen, or drops it. So
while there is no picture, :class:`Capture` keeps sending a placard (see
:func:`overlay.placard`) at the source's rate:

- **lost** (a camera unplugged, a screen region gone, a read error): it closes
  the source and reopens the same spec with backoff (:class:`vcam.policy.Backoff`:
  0.5 s doubling to 10 s), until it is back or another source is chosen;
- **ended** (a file without ``loop``): with ``hold`` (the tray) it waits for
  another source; without (``vcam run``) the stream ends.

Everything here runs on the capture thread, except :meth:`Capture.replace`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

import overlay
from vcam.errors import SourceError
from vcam.policy import Backoff
from vcam.sources import Source
from vcam.threads import Stats
from vcam.types import Frame

log = logging.getLogger(__name__)


class Unopened(Source):
    """The configured source that could not open at start (the tray): read raises its error, so
    :class:`Capture` shows the "source lost" placard and keeps trying to open it.

    Args:
        spec: the configured source's spec.
        error: why it could not open.
        fps: the placard's rate.
    """

    def __init__(self, spec: str, error: SourceError, fps: float = 30.0) -> None:
        super().__init__(spec, fps=fps)
        self.error = error

    @property
    def size(self) -> tuple[int, int]:
        return 0, 0

    def _open(self) -> None:
        pass

    def _grab(self) -> np.ndarray:
        raise self.error


class Capture:
    """Reads frames from one source at a time and keeps the video going when it fails.

    Args:
        source: the opened source to start with.
        make_source: ``spec -> Source`` (not yet opened), to reopen a lost one.
        size: ``(width, height)`` of the placard, px (the output's size).
        hold: on a source's end, send placards and wait for :meth:`replace` instead of ending.
        stop: set to end every wait at once.
        stats: ``source_lost`` and ``reconnects`` are counted here.
        send: hands one placard frame to the output (``Frame``, never analysed).
        changed: called after :attr:`lost` changes (the daemon publishes its status).
    """

    def __init__(self, source: Source, make_source: Callable[[str], Source], *, size: tuple[int, int],
                 hold: bool, stop: threading.Event, stats: Stats, send: Callable[[Frame], None],
                 changed: Callable[[], None], style: overlay.Style | None = None) -> None:
        self.source = source
        self.lost: tuple[str, str] | None = None  # ("source_lost" | "ended", one line for a person)
        self._make, self._size, self._hold, self._stop = make_source, size, hold, stop
        self._stats, self._send, self._changed = stats, send, changed
        self._style = style or overlay.Style()
        self._lock = threading.Lock()
        self._next: Source | None = None
        self._placard: tuple[str, np.ndarray] | None = None

    def replace(self, fresh: Source) -> None:
        """Use the opened source ``fresh`` from the next frame on (any thread); the old one is closed then."""
        with self._lock:
            stale, self._next = self._next, fresh
        if stale is not None:
            stale.close()

    def read(self) -> Frame | None:
        """The next real frame; placards meanwhile while the source is lost (or ended, with hold).

        None when the source ended (without hold) or on stop.
        """
        while not self._stop.is_set():
            self._take_next()
            try:
                frame = self.source.read()
            except SourceError as err:
                self._reconnect(err)
                continue
            if frame is not None:
                return frame
            if not self._hold:
                return None
            self._wait_for_another()
        return None

    def close(self) -> None:
        """Release the source and any replacement not yet taken."""
        with self._lock:
            pending, self._next = self._next, None
        for source in (self.source, pending):
            if source is not None:
                source.close()

    def _take_next(self) -> None:
        with self._lock:
            fresh, self._next = self._next, None
        if fresh is not None:
            old, self.source = self.source, fresh
            old.close()
            self._set_lost(None)

    def _reconnect(self, err: SourceError) -> None:
        """Placards, and reopen the lost source with backoff, until it is back, replaced, or stopped."""
        spec = self.source.spec
        self._stats.source_lost += 1
        log.warning("%s; sending a 'source lost' picture and reconnecting", err)
        self.source.close()
        backoff = Backoff(time.monotonic())
        while not self._stop.is_set() and self._next is None:
            if backoff.due(time.monotonic()):
                try:
                    self.source = self._make(spec).open()
                except SourceError as again:
                    backoff.failed(time.monotonic())
                    err = again
                    log.debug("reconnecting to %s failed: %s", spec, again)
                else:
                    self._stats.reconnects += 1
                    log.info("source %s is back", spec)
                    self._set_lost(None)
                    return
            self._set_lost("source_lost", f"{err}; retrying in {backoff.remaining(time.monotonic()):.0f} s")
            self._send_placard("Source lost")

    def _wait_for_another(self) -> None:
        self._set_lost("ended", f"{self.source.spec} ended; choose another source from the tray menu")
        while not self._stop.is_set() and self._next is None:
            self._send_placard("Source ended")

    def _set_lost(self, kind: str | None, message: str = "") -> None:
        lost = None if kind is None else (kind, message)
        if lost != self.lost:
            self.lost = lost
            self._changed()

    def _send_placard(self, title: str) -> None:
        """One placard frame to the output, then wait one frame time."""
        text = f"{title}\n{self.lost[1] if self.lost else ''}"
        if self._placard is None or self._placard[0] != text:
            image = overlay.placard(*self._size, title, self.lost[1] if self.lost else "", self._style)
            self._placard = (text, image)
        self._send(Frame(self._placard[1], -1, 0.0, self.source.spec, time.monotonic()))
        self._stop.wait(1.0 / max(1.0, self.source.fps))
