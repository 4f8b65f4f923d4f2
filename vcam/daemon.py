"""The daemon: wires source → analyzer → overlay → output, and owns the threads.

::

    capture thread ──Frame──▶ [analysis mailbox] ──▶ analysis thread ──Analysis──▶ latest
          │                                                                       │
          └──────Frame──▶ [output mailbox] ──▶ output thread: draw(frame, latest) ─▶ Output

- Mailboxes hold one item; a new one replaces an unread one. Queues that grow are latency.
- The output thread sends every captured frame it can, at the source's rate,
  with the newest analysis available: it never waits for analysis.
- The analyzer (trackers, per-face state) lives on the analysis thread only.

The CLI and the tray drive it through :meth:`start`, :meth:`stop`,
:meth:`toggle`, :meth:`wait`; the tests call the same methods.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

import overlay
from vcam.config import EU_MODE_REFUSAL, Config
from vcam.feed import FeedBuilder, remove_dashboard_url, write_dashboard_url
from vcam.feed.server import FeedServer
from vcam.errors import OutputError, SessionError, SourceError, VcamError
from vcam.outputs import Output, open_output
from vcam.pipeline import Analyzer, Features
from vcam.session import Recorder, new_session_dir
from vcam.sources import Source, open_source
from vcam.types import Analysis, Frame

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

    def summary(self) -> dict[str, float]:
        """Rates in Hz and latency percentiles in ms."""
        elapsed = max(1e-9, time.monotonic() - self.started)
        return {
            "seconds": elapsed, "captured": self.captured, "analysed": self.analysed, "sent": self.sent,
            "output_fps": self.sent / elapsed, "analysis_hz": self.analysed / elapsed,
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


def _lower_priority(steps: int) -> None:
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


DEFAULT_FEED_PORT = 8765


class Daemon:
    """One live vcam: a source, the analyzer, an output.

    Args:
        config: what to run.
        on_analysis: called on the analysis thread with every new Analysis (feed, session).
    """

    def __init__(self, config: Config, on_analysis: Callable[[Analysis], None] | None = None) -> None:
        self.config = config
        self.features = Features(gaze=config.gaze, identity=config.identity, emotion=config.emotion)
        self.style = overlay.Style()
        self.show_overlay = config.overlay
        self.listeners: list[Callable[[Analysis], None]] = [on_analysis] if on_analysis else []
        self.recorder: Recorder | None = None
        self.feed: FeedServer | None = None
        self.stats = Stats()
        self.latest: Analysis | None = None
        self.error: VcamError | None = None
        self.source: Source | None = None
        self.output: Output | None = None
        self._frames: Mailbox[Frame] = Mailbox()
        self._to_send: Mailbox[Frame] = Mailbox()
        self._stop = threading.Event()
        self._capture_done = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Daemon:
        """Open the source and output, then start the threads. Raises VcamError with a fix if either cannot open."""
        cfg = self.config
        if cfg.output != "auto":
            open_output(cfg.output)  # a bad spec fails before the camera is taken
        self.source = self._open_source()
        try:
            self.output = self._open_output()
            if cfg.record:
                self._start_recording()
            if cfg.feed:
                self._start_feed()
        except BaseException:
            self.stop()  # release whatever was taken: the camera, the output, the recording, the port
            raise
        self.stats.started = time.monotonic()
        for name, target in (("capture", self._capture), ("analysis", self._analyse), ("output", self._send)):
            thread = threading.Thread(target=self._guard(target), name=f"vcam-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("running: %s -> %s", cfg.source, self.output.name)
        return self

    def _open_source(self) -> Source:
        """The configured source, opened; ``auto`` is the first webcam, else the demo."""
        cfg = self.config
        if cfg.source != "auto":
            return open_source(cfg.source, realtime=True, loop=cfg.loop, fps=cfg.fps).open()
        try:
            return open_source("webcam:0").open()
        except SourceError as err:
            log.warning("%s", err)
            log.warning("no webcam: using the built-in demo source")
            return open_source("demo", fps=cfg.fps).open()

    def _open_output(self) -> Output:
        cfg = self.config
        specs = [cfg.output] if cfg.output != "auto" else ["vcam", "window", f"file:{cfg.fallback_file}"]
        for spec in specs:
            try:
                return open_output(spec, width=cfg.width, height=cfg.height, fps=self.source.fps, mirror=cfg.mirror).open()
            except OutputError as err:
                if spec == specs[-1]:
                    raise
                log.warning("%s", err)
                log.warning("falling back to the next output")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the threads and release the source and output. Safe to call twice."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)
        self._threads = []
        for part in (self.source, self.output, self.recorder):
            if part is not None:
                part.close()
        if self.feed is not None:
            self.feed.stop()
            remove_dashboard_url(self.feed.url)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (limit reached, source ended, output closed, or stop). True if it ended."""
        return self._stop.wait(timeout)

    @property
    def running(self) -> bool:
        """Whether the threads are running."""
        return bool(self._threads) and not self._stop.is_set()

    def toggle(self, feature: str, on: bool | None = None) -> bool:
        """Switch ``feature`` (gaze, identity, emotion or overlay) on, off, or over (None). Returns the new state.

        Emotion cannot be switched on in EU mode (VcamError).
        """
        if feature == "overlay":
            self.show_overlay = (not self.show_overlay) if on is None else on
            return self.show_overlay
        if not hasattr(self.features, feature):
            raise VcamError(f"unknown feature {feature!r}: expected one of {', '.join(self.feature_names())}")
        state = (not getattr(self.features, feature)) if on is None else on
        if feature == "emotion" and state and self.config.eu_mode:
            raise VcamError(EU_MODE_REFUSAL)
        setattr(self.features, feature, state)
        log.info("%s %s", feature, "on" if state else "off")
        return state

    def feature_names(self) -> list[str]:
        """Every feature :meth:`toggle` accepts."""
        return [*vars(self.features), "overlay"]

    # -- threads -------------------------------------------------------------------
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
        cfg, deadline = self.config, (None if self.config.seconds is None else time.monotonic() + self.config.seconds)
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    log.info("source %s ended", cfg.source)
                    break
                self.stats.captured += 1
                self._frames.put(frame)
                self._to_send.put(frame)
                if (cfg.frames and self.stats.captured >= cfg.frames) or (deadline and time.monotonic() >= deadline):
                    break
        finally:
            self._capture_done.set()

    def _analyse(self) -> None:
        _lower_priority(ANALYSIS_NICE)
        with Analyzer(self.features, people=self._people) as analyzer:
            while not self._stop.is_set():
                frame = self._frames.get(timeout=0.1)
                if frame is None:
                    continue
                analysis = analyzer.process(frame)
                self.latest = analysis
                self.stats.analysed += 1
                self.stats.analysis_latency.append(analysis.latency)
                self.stats.faces_per_analysis.append(len(analysis.faces))
                for listener in list(self.listeners):
                    self._tell(listener, analysis)

    def _tell(self, listener: Callable[[Analysis], None], analysis: Analysis) -> None:
        """Hand ``analysis`` to one listener; a recorder that cannot write stops recording, never the video."""
        try:
            listener(analysis)
        except SessionError as err:
            log.error("%s; recording stopped, the video goes on", err)
            self.listeners.remove(listener)

    def _start_recording(self) -> None:
        cfg = self.config
        folder = Path(cfg.record) if cfg.record != "auto" else new_session_dir()
        self.recorder = Recorder(folder, features=self.features.names(), source=cfg.source,
                                 people=not cfg.aggregate_only)
        self.recorder.open()
        self.listeners.append(self.recorder.on_analysis)
        log.info("afterwards: vcam report %s --out report.html", folder)

    def _start_feed(self) -> None:
        cfg = self.config
        builder = FeedBuilder(self.features, cfg.aggregate_only, eu_mode=cfg.eu_mode, source=cfg.source)
        self.feed = self._feed_server()
        self.feed.publish(builder.hello())
        self.listeners.append(lambda analysis: [self.feed.publish(e) for e in builder.on_analysis(analysis)])
        write_dashboard_url(self.feed.url)
        log.info("dashboard: %s (or run 'vcam dashboard')", self.feed.url)

    def _feed_server(self) -> FeedServer:
        """The started feed server on the configured port; with no port configured, 8765 or else any free one."""
        port = self.config.port
        try:
            return FeedServer(port=DEFAULT_FEED_PORT if port is None else port).start()
        except VcamError as err:
            if port is not None:
                raise
            log.warning("%s; using another free port", err)
            return FeedServer(port=0).start()

    def _people(self) -> dict[str, np.ndarray]:
        """Who identity can name: the demo's own people on the demo source, else the user's gallery."""
        from vcam.gallery import Gallery, demo_people

        if self.source is not None and self.source.spec.startswith("demo"):
            log.info("identity on the demo source: naming the demo's portraits (your gallery is not used)")
            return demo_people()
        with Gallery(self.config.gallery) as gallery:
            people = gallery.people()
        if not people:
            log.warning("identity is on but nobody is enrolled: everyone shows as unknown; add people with 'vcam enroll'")
        return people

    def _send(self) -> None:
        try:
            self._send_loop()
        finally:
            self.output.close()  # on this thread: a preview window belongs to the thread that drew it

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            frame = self._to_send.get(timeout=0.1)
            if frame is None:
                if self._capture_done.is_set():
                    return
                continue
            self.output.send(self._annotate(frame))
            now = time.monotonic()
            self.stats.sent += 1
            self.stats.output_latency.append(now - frame.captured)
            self.stats.sent_at.append(now)
            if not self.output.poll():
                log.info("output %s was closed", self.output.name)
                return

    def _annotate(self, frame: Frame) -> np.ndarray:
        analysis = self.latest if self.show_overlay else None
        return overlay.draw(frame.image, analysis, self.style)
