"""The daemon: one live vcam, put together from its parts; the CLI, the tray and the tests drive it.

::

    Capture ─▶ Runtime (capture, analysis, output threads) ─▶ Output
                  │ analysis thread: Analyzer.process ─▶ Records.build ─▶ Snapshot ─▶ listeners
                  │                                                        ├─ FeedPublisher (the live feed)
                  │                                                        └─ Recorder (the session timeline)
                  └ output thread: overlay.draw(frame, newest Analysis) ─▶ Output
    Controls (live / chosen / saved switches) ─▶ the analyzer's Switches, the output's mirror, Records' privacy
    StageFailures (vcam.policy): what a failing stage costs

What goes wrong, and what the presenter sees:

- **The source is lost** (a camera unplugged, a screen region gone, a read
  error): the output shows a "source lost" placard at the source's rate while
  the source is reopened with backoff (:mod:`vcam.capture`). A file that ends
  stops ``vcam run``; with ``hold`` (the tray) a placard says so until another
  source is chosen. With ``hold``, a source that cannot open at start (no
  camera yet, the desktop's screen-sharing dialog cancelled) is treated as lost.
- **A stage raises**: the error is logged once, that frame goes out
  unannotated, ``stats.stage_errors`` counts it and the feed reports it. An
  optional stage (gaze, identity, emotion) that fails with a VcamError (a
  broken model) or on ``GIVE_UP_AFTER`` frames in a row is switched off, and
  :attr:`Daemon.problem` says why (:class:`vcam.policy.StageFailures`).
- **Stop** (SIGTERM, Ctrl-C, the tray's Quit): :meth:`Daemon.stop` flushes the
  session and releases the camera and the output.

The CLI and the tray drive it through the same methods (:meth:`start`,
:meth:`stop`, :meth:`toggle`, :meth:`pause`, :meth:`set_source`, :meth:`set_emotion_model`,
:meth:`calibrate_gaze`, :meth:`start_recording`, ...); the tests call them too. Those methods may be
called from any thread; what must touch a stage's state runs on the analysis thread
(:class:`vcam.analysis_calls.AnalysisCalls`).
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
from vcam.analysis_calls import AnalysisCalls
from vcam.capture import Capture, Unopened
from vcam.config import Config, validate
from vcam.controls import Controls
from vcam.errors import OutputError, SessionError, SourceError, SourceSpecError, VcamError
from vcam.feed.publisher import DEFAULT_FEED_PORT, FeedPublisher
from vcam.feed.server import FeedServer
from vcam.listeners import Listeners
from vcam.outputs import Output, make_output, parse_output
from vcam.pipeline import Analyzer, StageError
from vcam.policy import StageFailures
from vcam.records import Privacy, Records
from vcam.runtime import Runtime
from vcam.session import Recorder
from vcam.sources import Source, choose_again, make_source
from vcam.threads import Mailbox, Stats
from vcam.types import Analysis, Frame

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FEED_PORT", "Daemon", "Mailbox", "Stats"]

LAYOUT_UNREADABLE = ("the meeting layout could not be read (it changes at every look, as when a recording "
                     "scrolls): searching the whole frame for faces, without tiles or participant names")
"""The log line and the feed status message while the layout finder is unstable."""
NAMES_UNREAD = ("{n} of the meeting's name labels could not be read (letters or a script the name reader does "
                "not know, or a label too small or covered): those people are shown without a participant name")
"""The log line and the feed status message while some tiles' labels gave no name (``{n}``: how many)."""


class Daemon:
    """One live vcam: a source, the analyzer, an output, and its listeners.

    Args:
        config: what to run; the toggles keep its fields up to date (the tray saves them).
        on_analysis: called on the analysis thread with every new Analysis as the analyzer made it,
            before privacy is applied: for benchmarks and tests, never for publishing (the feed and
            the recorder are :attr:`listeners` of the :class:`~vcam.records.Snapshot` instead).
        hold: keep running when a file source ends (the tray: a placard says so until another
            source is chosen); False (``vcam run``): the run ends with the file.
    """

    def __init__(self, config: Config, on_analysis: Callable[[Analysis], None] | None = None, *,
                 hold: bool = False) -> None:
        self.config, self.hold, self.on_analysis = config, hold, on_analysis
        self.controls = Controls(config)
        self.style = overlay.Style()
        self.paused_style = dataclasses.replace(self.style, badge_text="ANALYSIS PAUSED", badge_color=(110, 110, 110))
        self.records = Records(self._privacy())
        self.listeners = Listeners()
        self.failures = StageFailures()
        self.stats = Stats()
        self.calls = AnalysisCalls()
        self.latest: Analysis | None = None
        self.capture: Capture | None = None  # the source, once started
        self.output: Output | None = None
        self.runtime: Runtime | None = None
        self.publisher: FeedPublisher | None = None
        self.paused = False
        self.note: str | None = None  # what vcam could not read (feed status message when there is no problem)
        self._said: str | None = None  # what the log last said of it
        self._stop = threading.Event()

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Daemon:
        """Open the source and output, then start the threads. Raises VcamError with a fix if either cannot open."""
        cfg = self.config
        if cfg.output != "auto":
            parse_output(cfg.output)  # a bad spec fails before the camera is taken
        self.capture = Capture(self._first_source(), self._make_source,
                               size=(cfg.width, cfg.height), hold=self.hold,
                               stop=self._stop, stats=self.stats, style=self.style, changed=self.publish_status,
                               send=lambda placard: self.runtime.send_placard(placard))
        try:
            self.output = open_configured_output(cfg, self.source.fps)
            self.runtime = Runtime(self.capture, self.output, make_analyzer=self._make_analyzer,
                                   on_frame=self._on_frame, draw=self._draw, stats=self.stats, stop=self._stop,
                                   frames=cfg.frames, seconds=cfg.seconds)
            if cfg.record:
                self.start_recording(cfg.record)
            if cfg.feed:
                self._start_feed()
        except BaseException:
            self.stop()  # release whatever was taken: the camera, the output, the recording, the port
            raise
        self.runtime.start()
        log.info("running: %s -> %s", self.source.spec, self.output.name)
        return self

    def stop(self) -> None:
        """Stop the threads, flush the session, release the source and output. Safe to call twice, from any thread."""
        self._stop.set()
        if self.runtime is not None:
            self.runtime.stop()
        self.stop_recording()
        for part in (self.capture, self.output):
            if part is not None:
                part.close()
        if self.publisher is not None:
            self.publisher.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (limit reached, source ended, output closed, or stop). True if it ended."""
        return self._stop.wait(timeout)

    @property
    def running(self) -> bool:
        """Whether the threads are running."""
        return self.runtime is not None and self.runtime.running

    @property
    def error(self) -> VcamError | None:
        """What ended the run, if a thread failed."""
        return self.runtime.error if self.runtime is not None else None

    @property
    def source(self) -> Source | None:
        """The source being read (None before :meth:`start`)."""
        return self.capture.source if self.capture is not None else None

    @property
    def feed(self) -> FeedServer | None:
        """The feed's server, or None when the feed is off."""
        return self.publisher.server if self.publisher is not None else None

    def _first_source(self) -> Source:
        """The configured source, opened; with ``hold`` (the tray), one that cannot open yet is retried with
        the "source lost" placard instead of stopping vcam (a camera not plugged in, a sharing dialog cancelled)."""
        try:
            return open_configured_source(self.config, self._make_source)
        except SourceSpecError:
            raise
        except SourceError as err:
            if not self.hold:
                raise
            log.warning("%s; vcam keeps running and tries again", err)
            return Unopened(self.config.source, err, self.config.fps).open()

    def _make_source(self, spec: str) -> Source:
        return make_source(spec, realtime=True, loop=self.config.loop, fps=self.config.fps)

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
        return self.failures.problem(time.monotonic())

    @property
    def dashboard_url(self) -> str | None:
        """The dashboard's address, or None when the feed is off."""
        return self.publisher.url if self.publisher is not None else None

    # -- controls (CLI, tray and tests) ---------------------------------------------
    def is_on(self, feature: str) -> bool:
        """Whether ``feature`` (one of :data:`vcam.features.FEATURES`) is on now."""
        return self.controls.is_on(feature)

    def toggle(self, feature: str, on: bool | None = None) -> bool:
        """Switch ``feature`` on, off, or over (None). Returns the new state.

        Raises VcamError for an unknown feature, and for emotion while EU mode is on.
        EU mode on also switches emotion off.
        """
        changes = self.controls.toggle(feature, on)
        self.failures.switched()
        if "mirror" in changes and self.output is not None:
            self.output.mirror = changes["mirror"]
        self._announce()
        return changes[feature]

    def pause(self) -> None:
        """Stop analysing (nothing is computed about anyone); the video goes on with an "analysis paused" badge."""
        self.paused = True
        log.info("analysis paused")
        self.publish_status()

    def resume(self) -> None:
        """Analyse again after :meth:`pause`."""
        self.paused = False
        log.info("analysis resumed")
        self.publish_status()

    def set_source(self, spec: str) -> None:
        """Switch to the source ``spec`` names; the capture thread takes it at its next frame.

        Raises SourceError (with a fix) when it cannot open; the current source then goes on.
        """
        choose_again(spec)  # a screen shared through the desktop's portal: ask which one again
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
        return self.listeners.start_recording(folder, features=self.controls.switches.on(), source=self.config.source)

    def stop_recording(self) -> Path | None:
        """Stop recording and flush it to disk; returns its folder (None when not recording)."""
        return self.listeners.stop_recording()

    @property
    def recorder(self) -> Recorder | None:
        """The session recorder, while recording."""
        return self.listeners.recorder

    @property
    def recording(self) -> Path | None:
        """The folder being recorded to, or None."""
        recorder = self.recorder
        return recorder.folder if recorder is not None else None

    def set_emotion_model(self, name: str) -> None:
        """Run the emotion model ``name`` (one of :func:`vcam.manifest.emotion_models`) from now on.

        Live: the analysis thread rebuilds the emotion stage alone on the new model at its next frame
        with emotion on (the other stages and their tracks go on; each face's emotion starts afresh).
        Raises ConfigError for a name that is not an emotion model; the current model then goes on.
        """
        self.config.emotion_model = str(validate("emotion_model", name))
        log.info("emotion model: %s", name)

    def calibrate_gaze(self, reset: bool = False) -> tuple[int, int]:
        """Everyone is looking at their screen now: centre each person's screen region on their own gaze
        (:meth:`vcam.pipeline.gaze.Gaze.calibrate`), or with ``reset`` forget every calibration.

        Runs on the analysis thread after its next frame. Returns ``(people calibrated, people tracked)``
        (with ``reset``: both the people reset). Raises VcamError when gaze is off or the analysis paused.
        """
        if not self.is_on("gaze"):
            raise VcamError("gaze is off: switch Gaze on, then calibrate")
        if not self.running:
            raise VcamError("vcam is not running: start it, then calibrate")
        if self.paused:
            raise VcamError("the analysis is paused: resume it, then calibrate")

        def call(analyzer: Analyzer) -> tuple[int, int]:
            stage = analyzer.stage("gaze")
            if stage is None:
                raise VcamError("gaze is off: switch Gaze on, then calibrate")
            if reset:
                count = stage.uncalibrate()
                return count, count
            return stage.calibrate()

        done = self.calls.ask(call, "gaze calibration")
        log.info("gaze %s: %d of %d people", "calibration forgotten" if reset else "calibrated", *done)
        return done

    # -- the analysis thread -----------------------------------------------------------
    def _make_analyzer(self) -> Analyzer:
        return Analyzer(self.controls.switches, people=self._people, emotion_model=lambda: self.config.emotion_model)

    def _on_frame(self, analyzer: Analyzer, frame: Frame) -> None:
        """Analyse one frame and tell the listeners; a failing stage costs that frame its annotations."""
        if self.paused:
            self.latest = None
            return
        try:
            analysis = analyzer.process(frame)
        except StageError as err:
            self._stage_failed(err, analyzer)
            return
        self.failures.succeeded()
        self.calls.run(analyzer)
        self._note_layout(analyzer)
        if self.paused:
            return  # paused while this frame was analysed: nothing of it is shown or told
        self.latest = analysis
        self.stats.analysed += 1
        self.stats.analysis_latency.append(analysis.latency)
        self.stats.faces_per_analysis.append(len(analysis.faces))
        self._tell(analysis)

    def _note_layout(self, analyzer: Analyzer) -> None:
        """Log and publish (once per change) what of the meeting cannot be read (its layout, some names),
        and when all of it can again."""
        finder = analyzer.layout
        unread = 0 if finder is not None and finder.unstable else _unread_names(analyzer)
        said = LAYOUT_UNREADABLE if finder is not None and finder.unstable else (
            NAMES_UNREAD.format(n="some") if unread else None)  # the log's line: once, not per label read
        note = NAMES_UNREAD.format(n=unread) if unread else said
        if said != self._said:
            self._said = said
            if said:
                log.warning("%s", said)
            else:
                log.info("the meeting layout and its names can be read again")
        if note != self.note:
            self.note = note
            self.publish_status()

    def _stage_failed(self, err: StageError, analyzer: Analyzer) -> None:
        """Count a failed frame (it goes out unannotated), log each distinct failure once, give up on a broken feature."""
        self.latest = None
        self.stats.stage_errors += 1
        verdict = self.failures.failed(err.stage, err.feature, err.cause, time.monotonic())
        if verdict.log:
            log.error("%s; that frame goes out unannotated (logged once)", err, exc_info=err.cause)
        if verdict.switch_off is not None:
            self.controls.switch_off(verdict.switch_off)
            analyzer.drop(err.stage)
            log.error("%s; switch it on again from the tray once it is fixed", self.failures.notice)
        self.publish_status()

    def _tell(self, analysis: Analysis) -> None:
        """Build ``analysis``'s snapshot once and hand it to every listener."""
        if self.on_analysis is not None:
            self.on_analysis(analysis)
        self.listeners.tell(self.records.build(analysis))
        self.publish_status()

    def _people(self) -> dict[str, np.ndarray]:
        """Who identity can name: the demo's own people on the demo source, else the user's gallery."""
        from vcam.demo_gallery import people_for

        return people_for(self.source.spec if self.source is not None else "", self.config.gallery)

    # -- the output thread -------------------------------------------------------------
    def _draw(self, frame: Frame, annotate: bool) -> np.ndarray:
        """The frame with the analysis drawn (unless paused, off, or a placard) and always the badge."""
        style = self.paused_style if self.paused else self.style
        analysis = self.latest if annotate and self.config.overlay and not self.paused else None
        return overlay.draw(frame.image, analysis, style)

    # -- the feed ----------------------------------------------------------------------
    def _start_feed(self) -> None:
        self.publisher = FeedPublisher(self.controls.switches.on(), self._privacy(), self.source.spec, self.config.port)
        self.listeners.add(self.publisher.on_snapshot)
        self.publish_status()

    def _privacy(self) -> Privacy:
        return Privacy(aggregate_only=self.config.aggregate_only, eu_mode=self.config.eu_mode)

    def _announce(self) -> None:
        """Tell the records and the feed what changed: features, privacy switches, the source."""
        self.records.privacy = self._privacy()
        if self.publisher is not None:
            self.publisher.announce(self.records.privacy, self.config.source)
        self.publish_status()

    def publish_status(self) -> None:
        """Publish the feed's ``status`` event when it changed (any thread)."""
        if self.publisher is None or self.capture is None:
            return
        lost = self.capture.lost
        state = lost[0] if lost else ("paused" if self.paused else "running")
        self.publisher.status(state, self.source.spec, source_lost=self.stats.source_lost,
                              stage_errors=self.stats.stage_errors, message=self.problem or self.note)


def open_configured_source(config: Config, make: Callable[[str], Source]) -> Source:
    """The configured source, opened with ``make``; ``auto`` is the first webcam, else the demo."""
    if config.source != "auto":
        return make(config.source).open()
    try:
        return make("webcam:0").open()
    except SourceError as err:
        log.warning("%s", err)
        log.warning("no webcam: using the built-in demo source")
        return make("demo").open()


def open_configured_output(config: Config, fps: float) -> Output:
    """The configured output, opened; ``auto`` tries the virtual camera, a window, then the fallback file."""
    specs = [config.output] if config.output != "auto" else ["vcam", "window", f"file:{config.fallback_file}"]
    for spec in specs:
        try:
            return make_output(spec, width=config.width, height=config.height, fps=fps, mirror=config.mirror).open()
        except OutputError as err:
            if spec == specs[-1]:
                raise
            log.warning("%s", err)
            log.warning("falling back to the next output")
    raise AssertionError("unreachable")


def _unread_names(analyzer: Analyzer) -> int:
    """Tiles whose name label gave no name, while name reading is on (0 when it is off or not started)."""
    built = getattr(analyzer.stage("names"), "stage", None)  # the Lazy's Names stage, once built
    return getattr(built, "unread", 0) if "names" in analyzer.features.on() else 0
