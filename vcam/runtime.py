"""The three threads of a running vcam and the mailboxes between them.

::

    capture thread ──Frame──▶ [frames: newest only] ──▶ analysis thread: on_frame(analyzer, frame)
          │
          └──(Frame, annotate)──▶ [to_send: newest only] ──▶ output thread: output.send(draw(frame, annotate))

- Mailboxes hold one item; a new one replaces an unread one. Queues that grow are latency.
- The output thread sends every captured frame it can, at the source's rate, drawn with the
  newest analysis there is: it never waits for analysis.
- The analyzer is made on the analysis thread (MediaPipe's graphs start there) and lives there;
  the thread runs at a lower CPU priority than the video (:data:`vcam.threads.ANALYSIS_NICE`).

The run ends when the capture ends (a file, a frame or time limit), the output is closed (a
preview window), :meth:`Runtime.stop` is called, or a thread fails: a VcamError is kept as
:attr:`Runtime.error` with its message, anything else as an internal error with its traceback in
the log. The analysis thread failing does not stop the video.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np

from vcam.capture import Capture
from vcam.errors import VcamError
from vcam.outputs import Output
from vcam.threads import ANALYSIS_NICE, Mailbox, Stats, lower_priority
from vcam.types import Frame

log = logging.getLogger(__name__)


class Runtime:
    """Runs capture, analysis and output threads until the run ends.

    Args:
        capture: where frames come from (it keeps the video going through a lost source).
        output: where drawn frames go (already open); closed on the output thread at the end.
        make_analyzer: builds the analyzer, on the analysis thread (a context manager).
        on_frame: ``(analyzer, frame)``, on the analysis thread, for each newest frame.
        draw: ``(frame, annotate) -> (H, W, 3) uint8`` image to send; ``annotate`` is False for placards.
        stats: counters of the run (captured, sent, latencies).
        frames, seconds: end the run after this many captured frames or seconds (None: never).
    """

    def __init__(self, capture: Capture, output: Output, *, make_analyzer: Callable[[], AbstractContextManager],
                 on_frame: Callable[[object, Frame], None], draw: Callable[[Frame, bool], np.ndarray], stats: Stats,
                 stop: threading.Event, frames: int | None = None, seconds: float | None = None) -> None:
        self.capture, self.output, self.stats = capture, output, stats
        self._make_analyzer, self._on_frame, self._draw = make_analyzer, on_frame, draw
        self._frames_limit, self._seconds = frames, seconds
        self.frames: Mailbox[Frame] = Mailbox()
        self.to_send: Mailbox[tuple[Frame, bool]] = Mailbox()  # (frame, annotate it)
        self.error: VcamError | None = None
        self._stop = stop
        self._capture_done = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the three threads."""
        self.stats.started = time.monotonic()
        for name, target in (("capture", self._capture), ("analysis", self._analyse), ("output", self._send)):
            thread = threading.Thread(target=self._guard(target), name=f"vcam-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask every thread to end and wait for them (up to ``timeout`` s each). Safe from any thread, twice."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=timeout)
        self._threads = []

    @property
    def running(self) -> bool:
        """Whether the threads run."""
        return bool(self._threads) and not self._stop.is_set()

    def send_placard(self, frame: Frame) -> None:
        """Hand a placard (never analysed, never annotated) to the output thread."""
        self.to_send.put((frame, False))

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except VcamError as err:
                log.error("%s", err)
                self.error = err
            except Exception as err:  # noqa: BLE001 - a thread must never die silently
                log.exception("internal error in %s", threading.current_thread().name)
                self.error = VcamError(f"internal error: {err}")
            finally:
                if threading.current_thread().name != "vcam-analysis":
                    self._stop.set()
        return run

    def _capture(self) -> None:
        deadline = None if self._seconds is None else time.monotonic() + self._seconds
        try:
            while not self._stop.is_set():
                frame = self.capture.read()
                if frame is None:
                    log.info("source %s ended", self.capture.source.spec)
                    return
                self.stats.captured += 1
                self.frames.put(frame)
                self.to_send.put((frame, True))
                if self._limit_reached(deadline):
                    return
        finally:
            self._capture_done.set()

    def _limit_reached(self, deadline: float | None) -> bool:
        by_count = self._frames_limit is not None and self.stats.captured >= self._frames_limit
        return by_count or (deadline is not None and time.monotonic() >= deadline)

    def _analyse(self) -> None:
        lower_priority(ANALYSIS_NICE)
        with self._make_analyzer() as analyzer:
            while not self._stop.is_set():
                frame = self.frames.get(timeout=0.1)
                if frame is not None:
                    self._on_frame(analyzer, frame)

    def _send(self) -> None:
        try:
            self._send_loop()
        finally:
            self.output.close()  # on this thread: a preview window belongs to the thread that drew it

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            item = self.to_send.get(timeout=0.1)
            if item is None:
                if self._capture_done.is_set():
                    return
                continue
            frame, annotate = item
            self.output.send(self._draw(frame, annotate))
            now = time.monotonic()
            self.stats.sent += 1
            self.stats.output_latency.append(now - frame.captured)
            self.stats.sent_at.append(now)
            if not self.output.poll():
                log.info("output %s was closed", self.output.name)
                return
