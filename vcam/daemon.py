"""The daemon: wires source → analyzer → overlay → output, and owns the threads.

::

    capture thread ──Frame──▶ [analysis mailbox] ──▶ analysis thread ──Analysis──▶ latest
          │                                                                       │
          └──────Frame──▶ [output mailbox] ──▶ output thread: draw(frame, latest) ─▶ Output

- Mailboxes hold one item; a new one replaces an unread one. Queues that grow are latency.
- The output thread sends every captured frame it can, at the source's rate,
  with the newest analysis available: it never waits for analysis.
- The analyzer (trackers, per-face state) lives on the analysis thread only.

What goes wrong, and what the presenter sees:

- **The source is lost** (a camera unplugged, a screen region gone, a read
  error): the output shows a "source lost" placard at the source's rate while
  the source is reopened with backoff (:mod:`vcam.capture`). A file that ends
  stops ``vcam run``; with ``hold`` (the tray) a placard says so until another
  source is chosen.
- **A stage raises**: the error is logged once, that frame goes out
  unannotated, ``stats.stage_errors`` counts it and the feed reports it. An
  optional stage (gaze, identity, emotion) that fails with a VcamError (a
  broken model) or on ``GIVE_UP_AFTER`` frames in a row is switched off, and
  :attr:`Daemon.problem` says why.
- **Stop** (SIGTERM, Ctrl-C, the tray's Quit): :meth:`Daemon.stop` flushes the
  session and releases the camera and the output.

The CLI and the tray drive it through the same methods (:meth:`start`,
:meth:`stop`, :meth:`toggle`, :meth:`pause`, :meth:`set_source`,
:meth:`start_recording`, ...); the tests call them too. Those methods may be
called from any thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import overlay
from vcam.capture import Capture
from vcam.config import EU_MODE_REFUSAL, Config
from vcam.errors import OutputError, SessionError, SourceError, VcamError
from vcam.feed import FeedBuilder, remove_dashboard_url, write_dashboard_url
from vcam.feed.server import FeedServer
from vcam.outputs import Output, make_output, parse_output
from vcam.pipeline import Analyzer, Features, StageError
from vcam.session import Recorder, new_session_dir
from vcam.sources import Source, make_source
from vcam.threads import ANALYSIS_NICE, Mailbox, Stats, lower_priority
from vcam.types import Analysis, Frame

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FEED_PORT", "Daemon", "Mailbox", "Stats"]

DEFAULT_FEED_PORT = 8765
GIVE_UP_AFTER = 30
"""Frames in a row an optional stage may fail before it is switched off (about 1-3 s of analysis)."""
PROBLEM_SHOWN_S = 10.0
"""Seconds a stage failure keeps the daemon in the "problem" state after the last one."""
TOGGLES = ("gaze", "identity", "emotion", "overlay", "mirror", "aggregate_only", "eu_mode")
"""Everything :meth:`Daemon.toggle` switches."""
_FEATURE_OF_STAGE = {"gaze": "gaze", "engagement": "gaze", "identity": "identity", "emotion": "emotion"}


class Daemon:
    """One live vcam: a source, the analyzer, an output.

    Args:
        config: what to run; the toggles keep its fields up to date (the tray saves them).
        on_analysis: called on the analysis thread with every new Analysis (feed, session).
        hold: keep running when a file source ends (the tray: a placard says so until
            another source is chosen); False (``vcam run``): the run ends with the file.
    """

    def __init__(self, config: Config, on_analysis: Callable[[Analysis], None] | None = None, *,
                 hold: bool = False) -> None:
        self.config = config
        self.hold = hold
        self.features = Features(gaze=config.gaze, identity=config.identity, emotion=config.emotion)
        self.style = overlay.Style()
        self.paused_style = dataclasses.replace(self.style, badge_text="ANALYSIS PAUSED", badge_color=(110, 110, 110))
        self.listeners: list[Callable[[Analysis], None]] = [on_analysis] if on_analysis else []
        self.recorder: Recorder | None = None
        self.feed: FeedServer | None = None
        self.stats = Stats()
        self.latest: Analysis | None = None
        self.error: VcamError | None = None
        self.capture: Capture | None = None  # the source, once started
        self.output: Output | None = None
        self.paused = False
        self._builder: FeedBuilder | None = None
        self._frames: Mailbox[Frame] = Mailbox()
        self._to_send: Mailbox[tuple[Frame, bool]] = Mailbox()  # (frame, annotate it)
        self._stop = threading.Event()
        self._capture_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.RLock()  # guards listeners, recorder, the feed builder
        self._notice: str | None = None  # a feature switched off after failures
        self._failures: dict[str, int] = {}  # stage -> failures in a row
        self._logged: set[tuple[str, str]] = set()
        self._last_failure: tuple[float, str] | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Daemon:
        """Open the source and output, then start the threads. Raises VcamError with a fix if either cannot open."""
        cfg = self.config
        if cfg.output != "auto":
            parse_output(cfg.output)  # a bad spec fails before the camera is taken
        self.capture = Capture(self._open_source(), self._make_source, size=(cfg.width, cfg.height), hold=self.hold,
                               stop=self._stop, stats=self.stats, style=self.style, changed=self._publish_status,
                               send=lambda placard: self._to_send.put((placard, False)))
        try:
            self.output = self._open_output()
            if cfg.record:
                self.start_recording(cfg.record)
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
        log.info("running: %s -> %s", self.source.spec, self.output.name)
        return self

    @property
    def source(self) -> Source | None:
        """The source being read (None before :meth:`start`)."""
        return self.capture.source if self.capture is not None else None

    def _make_source(self, spec: str) -> Source:
        return make_source(spec, realtime=True, loop=self.config.loop, fps=self.config.fps)

    def _open_source(self) -> Source:
        """The configured source, opened; ``auto`` is the first webcam, else the demo."""
        if self.config.source != "auto":
            return self._make_source(self.config.source).open()
        try:
            return self._make_source("webcam:0").open()
        except SourceError as err:
            log.warning("%s", err)
            log.warning("no webcam: using the built-in demo source")
            return self._make_source("demo").open()

    def _open_output(self) -> Output:
        cfg = self.config
        specs = [cfg.output] if cfg.output != "auto" else ["vcam", "window", f"file:{cfg.fallback_file}"]
        for spec in specs:
            try:
                return make_output(spec, width=cfg.width, height=cfg.height, fps=self.source.fps, mirror=cfg.mirror).open()
            except OutputError as err:
                if spec == specs[-1]:
                    raise
                log.warning("%s", err)
                log.warning("falling back to the next output")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the threads, flush the session, release the source and output. Safe to call twice, from any thread."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)
        self._threads = []
        self.stop_recording()
        for part in (self.capture, self.output):
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

    # -- state the tray shows --------------------------------------------------------
    @property
    def state(self) -> str:
        """``"problem"`` (see :attr:`problem`), ``"paused"`` or ``"running"``."""
        if self.problem is not None:
            return "problem"
        return "paused" if self.paused else "running"

    @property
    def problem(self) -> str | None:
        """One line on what is wrong now, or None: an error, the source lost or ended, a stage failing."""
        if self.error is not None:
            return str(self.error)
        if self.capture is not None and self.capture.lost is not None:
            return self.capture.lost[1]
        if self._notice is not None:
            return self._notice
        if self._last_failure and time.monotonic() - self._last_failure[0] < PROBLEM_SHOWN_S:
            return f"analysis is failing ({self._last_failure[1]}); the video goes on unannotated"
        return None

    @property
    def dashboard_url(self) -> str | None:
        """The dashboard's address, or None when the feed is off."""
        return self.feed.url if self.feed is not None else None

    # -- controls (CLI, tray and tests) ---------------------------------------------
    def feature_names(self) -> list[str]:
        """Everything :meth:`toggle` accepts."""
        return list(TOGGLES)

    def is_on(self, feature: str) -> bool:
        """Whether ``feature`` (one of :data:`TOGGLES`) is on."""
        self._check_feature(feature)
        if feature == "overlay":
            return self.config.overlay
        if feature in ("mirror", "aggregate_only", "eu_mode"):
            return bool(getattr(self.config, feature))
        return bool(getattr(self.features, feature))

    def toggle(self, feature: str, on: bool | None = None) -> bool:
        """Switch ``feature`` (one of :data:`TOGGLES`) on, off, or over (None). Returns the new state.

        Raises VcamError for an unknown feature, and for emotion while EU mode is on.
        EU mode on also switches emotion off.
        """
        self._check_feature(feature)
        state = (not self.is_on(feature)) if on is None else bool(on)
        if feature == "emotion" and state and self.config.eu_mode:
            raise VcamError(EU_MODE_REFUSAL)
        setattr(self.config, feature, state)
        if feature in ("gaze", "identity", "emotion"):
            setattr(self.features, feature, state)
            self._notice = None
        elif feature == "mirror" and self.output is not None:
            self.output.mirror = state
        elif feature == "eu_mode" and state:
            self.features.emotion = self.config.emotion = False
        log.info("%s %s", feature.replace("_", " "), "on" if state else "off")
        self._announce()
        return state

    def _check_feature(self, feature: str) -> None:
        if feature not in TOGGLES:
            raise VcamError(f"unknown feature {feature!r}: expected one of {', '.join(TOGGLES)}")

    def pause(self) -> None:
        """Stop analysing (nothing is computed about anyone); the video goes on with an "analysis paused" badge."""
        self.paused = True
        log.info("analysis paused")
        self._publish_status()

    def resume(self) -> None:
        """Analyse again after :meth:`pause`."""
        self.paused = False
        log.info("analysis resumed")
        self._publish_status()

    def set_source(self, spec: str) -> None:
        """Switch to the source ``spec`` names; the capture thread takes it at its next frame.

        Raises SourceError (with a fix) when it cannot open; the current source then goes on.
        """
        fresh = self._make_source(spec).open()
        if self.capture is None:
            fresh.close()  # not started: start() opens the configured source
        else:
            self.capture.replace(fresh)
        self.config.source = spec
        log.info("source: %s", spec)
        self._announce()

    def start_recording(self, folder: str | None = None) -> Path:
        """Record the session timeline to ``folder`` (None or ``"auto"``: a new folder in the user data dir).

        Raises SessionError when a recording is already running or the folder cannot be written.
        """
        with self._lock:
            if self.recorder is not None:
                raise SessionError(f"already recording to {self.recorder.folder}; stop that recording first")
            path = Path(folder) if folder not in (None, "auto") else new_session_dir()
            recorder = Recorder(path, features=self.features.names(), source=self.config.source,
                                people=not self.config.aggregate_only)
            recorder.open()
            self.recorder = recorder
            self.listeners.append(recorder.on_analysis)
        return path

    def stop_recording(self) -> Path | None:
        """Stop recording and flush it to disk; returns its folder (None when not recording)."""
        with self._lock:
            recorder, self.recorder = self.recorder, None
            if recorder is None:
                return None
            self.listeners.remove(recorder.on_analysis)
            recorder.close()
        log.info("session saved; see it with: vcam report %s --out report.html", recorder.folder)
        return recorder.folder

    @property
    def recording(self) -> Path | None:
        """The folder being recorded to, or None."""
        recorder = self.recorder
        return recorder.folder if recorder is not None else None

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
                frame = self.capture.read()
                if frame is None:
                    log.info("source %s ended", self.source.spec)
                    return
                self.stats.captured += 1
                self._frames.put(frame)
                self._to_send.put((frame, True))
                if (cfg.frames and self.stats.captured >= cfg.frames) or (deadline and time.monotonic() >= deadline):
                    return
        finally:
            self._capture_done.set()

    def _analyse(self) -> None:
        lower_priority(ANALYSIS_NICE)
        with Analyzer(self.features, people=self._people) as analyzer:
            while not self._stop.is_set():
                frame = self._frames.get(timeout=0.1)
                if frame is None:
                    continue
                if self.paused:
                    self.latest = None
                    continue
                try:
                    analysis = analyzer.process(frame)
                except StageError as err:
                    self._stage_failed(err, analyzer)
                    continue
                self._failures.clear()
                if self.paused:
                    continue  # paused while this frame was analysed: nothing of it is shown or told
                self.latest = analysis
                self.stats.analysed += 1
                self.stats.analysis_latency.append(analysis.latency)
                self.stats.faces_per_analysis.append(len(analysis.faces))
                self._tell(analysis)

    def _stage_failed(self, err: StageError, analyzer: Analyzer) -> None:
        """Count a failed frame (it goes out unannotated), log each distinct failure once, give up on a broken feature."""
        self.latest = None
        self.stats.stage_errors += 1
        self._last_failure = (time.monotonic(), str(err))
        key = (err.stage, f"{type(err.cause).__name__}: {err.cause}")
        if key not in self._logged and len(self._logged) < 100:
            self._logged.add(key)
            log.error("%s; that frame goes out unannotated (logged once)", err, exc_info=err.cause)
        failures = self._failures[err.stage] = self._failures.get(err.stage, 0) + 1
        feature = _FEATURE_OF_STAGE.get(err.stage)
        if feature and (isinstance(err.cause, VcamError) or failures >= GIVE_UP_AFTER):
            setattr(self.features, feature, False)
            analyzer.drop(err.stage)
            self._notice = f"{feature} switched off: {err.cause}"
            log.error("%s; switch it on again from the tray once it is fixed", self._notice)
        self._publish_status()

    def _tell(self, analysis: Analysis) -> None:
        """Hand ``analysis`` to every listener; a recorder that cannot write stops recording, never the video."""
        with self._lock:
            for listener in list(self.listeners):
                try:
                    listener(analysis)
                except SessionError as err:
                    log.error("%s; recording stopped, the video goes on", err)
                    self.listeners.remove(listener)
                    if self.recorder is not None and listener == self.recorder.on_analysis:
                        self._drop_broken_recorder()
        self._publish_status()

    def _drop_broken_recorder(self) -> None:
        """Close what the failed recorder still holds open; it already said why it failed."""
        recorder, self.recorder = self.recorder, None
        try:
            recorder.close()
        except SessionError as err:
            log.debug("closing the failed recording: %s", err)

    def _start_feed(self) -> None:
        cfg = self.config
        self._builder = FeedBuilder(self.features, cfg.aggregate_only, eu_mode=cfg.eu_mode, source=self.source.spec)
        self.feed = self._feed_server()
        self.feed.publish(self._builder.hello())
        self._publish_status()
        self.listeners.append(lambda analysis: [self.feed.publish(e) for e in self._builder.on_analysis(analysis)])
        write_dashboard_url(self.feed.url)
        log.info("dashboard: %s (or run 'vcam dashboard')", self.feed.url)

    def _announce(self) -> None:
        """Tell the feed what changed: features, privacy switches, the source."""
        if self._builder is None:
            return
        with self._lock:
            self._builder.aggregate_only, self._builder.eu_mode = self.config.aggregate_only, self.config.eu_mode
            self._builder.source = self.config.source
            self.feed.publish(self._builder.hello())
        self._publish_status()

    def _publish_status(self) -> None:
        """Publish the feed's ``status`` event when it changed (any thread)."""
        if self._builder is None or self.feed is None or self.capture is None:
            return
        lost = self.capture.lost if self.capture is not None else None
        kind = lost[0] if lost else ("paused" if self.paused else "running")
        with self._lock:
            event = self._builder.status(time.monotonic() - self._builder.started, kind, self.source.spec,
                                         source_lost=self.stats.source_lost, stage_errors=self.stats.stage_errors,
                                         message=self.problem)
        if event is not None:
            self.feed.publish(event)

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
            item = self._to_send.get(timeout=0.1)
            if item is None:
                if self._capture_done.is_set():
                    return
                continue
            frame, annotate = item
            self.output.send(self._annotate(frame, annotate))
            now = time.monotonic()
            self.stats.sent += 1
            self.stats.output_latency.append(now - frame.captured)
            self.stats.sent_at.append(now)
            if not self.output.poll():
                log.info("output %s was closed", self.output.name)
                return

    def _annotate(self, frame: Frame, annotate: bool) -> np.ndarray:
        """The frame with the analysis drawn (unless paused, off, or a placard) and always the badge."""
        style = self.paused_style if self.paused else self.style
        analysis = self.latest if annotate and self.config.overlay and not self.paused else None
        return overlay.draw(frame.image, analysis, style)
