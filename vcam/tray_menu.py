"""The tray's menu as plain data, and the actions behind its items: no pystray here.

::

    vcam: running · demo          (the state; the problem when there is one)
    Source ▸  Webcam · Screen N (W×H) · Region… · Window ▸ · Demo · File…
              (Wayland: Webcam · Screen or window… (the desktop's dialog) · Demo · File…)
    ✓ Gaze  ✓ Identity  ✓ Emotion  ✓ Overlay  ✓ Mirror video  ✓ Aggregate only  ✓ EU mode   (vcam.features)
    Gaze calibration ▸  Everyone is looking at their screen now · Forget gaze calibration   (after Gaze)
    Emotion model ▸  ◉ emotion-fer (default) · ○ emotion-face-api   (after Emotion; with 2+ models)
    Open dashboard                (the default item: a left click on a menu-less tray)
    Start recording / Stop recording
    ✓ Pause analysis
    Quit

:class:`TrayMenu` reads the daemon's state whenever the menu is drawn (``text``/``checked`` are
callables): it shows what runs, not what was clicked. Source, switch and emotion model changes are
saved to the config file (the next start begins there); pause and recording belong to this run only. Every
action is guarded: a VcamError (a source that cannot open, emotion in EU mode) becomes a message
for the presenter (:attr:`TrayMenu.notice`), never an exception in the GUI loop.

:mod:`vcam.tray` turns :meth:`TrayMenu.items` into a pystray menu; the tests drive this model
directly too (tests/test_tray_menu.py).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vcam.config import DEFAULTS
from vcam.desktop import monitors, pick_video_file
from vcam.errors import VcamError
from vcam.features import FEATURES
from vcam.manifest import emotion_models
from vcam.sources.portal import wayland_session
from vcam.sources.window import window_titles

if TYPE_CHECKING:
    from PIL import Image

    from vcam.daemon import Daemon

log = logging.getLogger(__name__)

NOTICE_S = 8.0
"""Seconds the last message stays in the icon's title (the only place a menu-less tray can show it)."""
WINDOWS_MAX = 20
"""Most windows listed under Source > Window."""
TITLE_MAX = 120
"""Longest title in characters (Windows cuts tooltips at 128)."""
STATE_COLORS = {"running": (46, 204, 113), "paused": (149, 165, 166), "starting": (149, 165, 166),
                "problem": (231, 76, 60)}
"""RGB of the status dot per :meth:`TrayMenu.state`: green, grey (paused, or models still loading), red."""
_REGION = re.compile(r"screen:-?\d+,-?\d+,\d+,\d+")


@dataclass(frozen=True)
class Item:
    """One menu entry. ``text`` and ``checked`` may be callables, read each time the menu is drawn.

    Attributes:
        text: the label; ``"-"`` is a separator.
        action: what a click does (already guarded), or None for a label.
        checked: whether it shows a tick, or None for no tick box.
        radio: a round tick (one of a group).
        enabled: False greys it out.
        default: the item a left click on a menu-less tray runs.
        submenu: the entries of a submenu, read when it opens.
    """

    text: str | Callable[[], str]
    action: Callable[[], None] | None = None
    checked: Callable[[], bool] | None = None
    radio: bool = False
    enabled: bool = True
    default: bool = False
    submenu: Callable[[], list[Item]] | None = None


SEPARATOR = Item("-")


# -- the picture ------------------------------------------------------------------------
def draw_icon(state: str, recording: bool = False, size: int = 64) -> Image.Image:
    """The tray picture: a camera with an eye, a status dot (:data:`STATE_COLORS`) at the bottom right,
    and a red dot at the top left while recording.

    Returns a ``size``×``size`` RGBA image (transparent background); drawn at 64 px and scaled, so
    every size looks the same. Raises KeyError for an unknown ``state``.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 16, 46, 50), radius=6, fill=(44, 62, 80, 255))
    draw.polygon([(46, 27), (60, 19), (60, 47), (46, 39)], fill=(44, 62, 80, 255))
    draw.ellipse((10, 22, 40, 44), fill=(236, 240, 241, 255))
    draw.ellipse((19, 27, 31, 39), fill=(41, 128, 185, 255))
    draw.ellipse((23, 31, 27, 35), fill=(20, 20, 20, 255))
    draw.ellipse((38, 38, 63, 63), fill=(*STATE_COLORS[state], 255), outline=(255, 255, 255, 255), width=2)
    if recording:
        draw.ellipse((0, 0, 14, 14), fill=(192, 57, 43, 255), outline=(255, 255, 255, 255), width=2)
    return image if size == 64 else image.resize((size, size), Image.LANCZOS)


# -- sources --------------------------------------------------------------------------------
def is_region(spec: str | None) -> bool:
    """Whether ``spec`` is a screen region, ``screen:X,Y,W,H``."""
    return bool(spec) and _REGION.fullmatch(spec.replace(" ", "")) is not None


def source_kind(spec: str) -> str:
    """``webcam``, ``screen:N``, ``region``, ``demo``, ``window:TITLE``, ``portal``, ``file`` or ``auto``: which
    Source item is ticked."""
    kind, _, arg = spec.partition(":")
    if kind in ("webcam", "demo", "auto", "portal"):
        return kind
    if kind == "window":
        return f"window:{arg.strip()}"
    if kind == "screen":
        return "region" if is_region(spec) else f"screen:{arg or 1}"
    return "file"


# -- the model ------------------------------------------------------------------------------
class TrayMenu:
    """What the tray shows and does for one :class:`~vcam.daemon.Daemon`.

    Args:
        daemon: the daemon the menu drives (started or not).
        config_path: the config file changes are saved to (None: :func:`vcam.config_file.config_path`).
        pick_file: asks for a video file; returns its path or None (default :func:`pick_video_file`).
        open_url: opens the dashboard URL in a browser; False when it could not (default ``webbrowser.open``).
        quit: what the Quit item does (the icon's stop).
        notify: shows a message as a desktop notification where the backend has them.
        changed: called after an action changed something the icon shows.
    """

    def __init__(self, daemon: Daemon, config_path: Path | None = None, *,
                 pick_file: Callable[[], str | None] = pick_video_file,
                 open_url: Callable[[str], bool] = webbrowser.open, quit: Callable[[], None] = lambda: None,
                 notify: Callable[[str], None] = lambda message: None, changed: Callable[[], None] = lambda: None) -> None:
        self.daemon, self.config_path = daemon, config_path
        self.pick_file, self.open_url, self.quit = pick_file, open_url, quit
        self.notify, self.changed = notify, changed
        self.notice: tuple[float, str] | None = None  # (monotonic time, message) shown in the title
        self.region = daemon.config.source if is_region(daemon.config.source) else None
        self.started = daemon.running  # False until the daemon was started: the icon says "starting"
        self._workers: list[threading.Thread] = []

    # -- what the icon shows ---------------------------------------------------------
    def state(self) -> str:
        """``starting`` (until the daemon was started), ``problem`` (it stopped, or :attr:`Daemon.problem`),
        ``paused`` or ``running``: what the icon's dot shows."""
        if not self.started:
            return "starting"
        return self.daemon.state if self.daemon.running else "problem"

    def title(self) -> str:
        """``vcam: STATE · SOURCE``, the problem, and the last message for ``NOTICE_S`` seconds."""
        d = self.daemon
        parts = [f"vcam: {self.state()}", self.current_spec()]
        if d.recording is not None:
            parts.append("recording")
        if self.started and not d.running:
            parts.append("stopped; choose Quit and start vcam again")
        if d.problem:
            parts.append(d.problem)
        if self.notice and time.monotonic() - self.notice[0] < NOTICE_S:
            parts.append(self.notice[1])
        text = " · ".join(parts)
        text = text if len(text) <= TITLE_MAX else text[:TITLE_MAX - 3] + "..."
        return text.encode("latin-1", "replace").decode("latin-1")  # X11 sets titles as Latin-1 STRING

    def picture(self) -> Image.Image:
        """The icon's picture for the state now."""
        return draw_icon(self.state(), self.daemon.recording is not None)

    def key(self, with_windows: bool) -> tuple:
        """What the icon, title and menu show (the open windows too, ``with_windows``): refresh on a change."""
        d = self.daemon
        windows = tuple(window_titles()) if with_windows else ()
        return (self.state(), d.recording, self.title(), tuple(d.is_on(f.name) for f in FEATURES),
                d.config.emotion_model, windows)

    def tell(self, message: str, error: bool = False) -> None:
        """Show ``message``: in the log, in the title, and as a notification."""
        (log.warning if error else log.info)("%s", message)
        self.notice = (time.monotonic(), message)
        self.notify(message)

    # -- the menu -----------------------------------------------------------------------
    def items(self) -> list[Item]:
        """The whole menu; every part reads the daemon when the menu is (re)drawn."""
        return [
            Item(self.title, enabled=False),
            SEPARATOR,
            Item("Source", submenu=self.source_items),
            *self.feature_items(),
            SEPARATOR,
            Item("Open dashboard", self.guarded("Open dashboard", self.open_dashboard), default=True),
            Item(lambda: "Stop recording" if self.daemon.recording else "Start recording",
                 self.guarded("Recording", self.toggle_recording)),
            Item("Pause analysis", self.guarded("Pause", self.toggle_pause), checked=lambda: self.daemon.paused),
            SEPARATOR,
            Item("Quit", self.quit),
        ]

    def feature_items(self) -> list[Item]:
        """A check item per feature, in :data:`FEATURES` order; the Gaze calibration submenu after Gaze; the
        Emotion model submenu after Emotion when there is more than one model to choose from."""
        items = []
        for f in FEATURES:
            items.append(self._feature_item(f.name, f.label))
            if f.name == "gaze":
                items.append(Item("Gaze calibration", submenu=self.gaze_calibration_items))
            if f.name == "emotion" and len(emotion_models()) > 1:
                items.append(Item("Emotion model", submenu=self.emotion_model_items))
        return items

    def gaze_calibration_items(self) -> list[Item]:
        """The Gaze calibration submenu: calibrate on everyone's gaze now, or forget it."""
        return [Item("Everyone is looking at their screen now",
                     self.guarded("Gaze calibration", self.calibrate_gaze)),
                Item("Forget gaze calibration",
                     self.guarded("Gaze calibration", lambda: self.calibrate_gaze(reset=True)))]

    def emotion_model_items(self) -> list[Item]:
        """The Emotion model submenu: a radio item per emotion model of the manifest, the one in use ticked."""
        def item(name: str) -> Item:
            text = name + (" (default)" if name == DEFAULTS["emotion_model"] else "")
            return Item(text, self.guarded(f"Emotion model {name}", lambda: self.choose_emotion_model(name)),
                        radio=True, checked=lambda: self.daemon.config.emotion_model == name)
        return [item(name) for name in emotion_models()]

    def _feature_item(self, name: str, label: str) -> Item:
        def text() -> str:
            locked = name == "emotion" and self.daemon.is_on("eu_mode")
            return label + (" (off in EU mode)" if locked else "")

        return Item(text, self.guarded(label, lambda: self.toggle(name, label)), checked=lambda: self.daemon.is_on(name))

    def _source_item(self, text: str, kind: str, action: Callable[[], str | None]) -> Item:
        """A radio item of the Source menu, ticked while :meth:`current_kind` is ``kind``."""
        return Item(text, self.guarded(f"Source {text}", action), radio=True,
                    checked=lambda: self.current_kind() == kind)

    def source_items(self) -> list[Item]:
        """The Source submenu: Webcam, each monitor, Region, Window, Demo, File; the current one ticked.

        On a Wayland session the monitors and windows, which X11 cannot see, are one item instead: Screen or
        window…, which asks the desktop (its dialog comes up each time the item is chosen)."""
        item = self._source_item
        items = [item("Webcam", "webcam", lambda: self.switch_source("webcam:0"))]
        if wayland_session():
            items.append(item("Screen or window…", "portal", lambda: self.switch_source("portal")))
            items.append(item("Demo", "demo", lambda: self.switch_source("demo")))
            return items + [self._file_item()]
        for number, width, height in monitors():
            items.append(item(f"Screen {number} ({width}×{height})", f"screen:{number}",
                              lambda n=number: self.switch_source(f"screen:{n}")))
        region = self.known_region()
        items.append(item(f"Region {region[7:]}" if region else "Region…", "region", self.choose_region))
        items.append(Item("Window", submenu=self.window_items))
        items.append(item("Demo", "demo", lambda: self.switch_source("demo")))
        return items + [self._file_item()]

    def _file_item(self) -> Item:
        name = Path(self.daemon.config.source).name if self.current_kind() == "file" else ""
        return self._source_item(f"File: {name}…" if name else "File…", "file", self.choose_file)

    def window_items(self) -> list[Item]:
        """The Window submenu: each other program's window by title (the one captured ticked)."""
        titles = window_titles()[:WINDOWS_MAX]
        current = self.current_kind()
        if current.startswith("window:") and current[7:] not in titles:  # set by hand to part of a title
            titles.insert(0, current[7:])
        if not titles:
            return [Item("no other window is open", enabled=False)]
        return [self._source_item(t, f"window:{t}", lambda t=t: self.switch_source(f"window:{t}")) for t in titles]

    def guarded(self, what: str, action: Callable[[], str | None]) -> Callable[[], None]:
        """``action`` as a menu callback: its message is shown; a VcamError or a bug never escapes."""
        def run() -> None:
            try:
                message = action()
            except VcamError as err:
                self.tell(f"{what}: {err}", error=True)
            except Exception as err:  # noqa: BLE001 - the tray never dies because of a click
                log.exception("%s failed", what)
                self.tell(f"{what} failed: internal error ({err}); details are in the log", error=True)
            else:
                if message:
                    self.tell(message)
            self.changed()
        return run

    # -- actions (each returns a message to show, or None) ---------------------------------
    def current_spec(self) -> str:
        """The source spec in use; for ``auto``, what the daemon opened (the webcam or the demo)."""
        spec = self.daemon.config.source
        source = self.daemon.source
        return source.spec if spec == "auto" and source is not None else spec

    def current_kind(self) -> str:
        """Which Source item is ticked."""
        return source_kind(self.current_spec())

    def switch_source(self, spec: str) -> str:
        """Switch the daemon to ``spec`` live and save it. Raises SourceError; the old source then goes on."""
        self.daemon.set_source(spec)
        if is_region(spec):
            self.region = spec
        return self.save({"source": spec}, f"source: {spec}")

    def known_region(self) -> str | None:
        """The region the Region item switches to: the config file's source when it is a region
        (``vcam config set source screen:X,Y,W,H`` while the tray runs), else the last one used."""
        try:
            saved = self.daemon.controls.saved("source", self.config_path)
        except VcamError:
            saved = None
        return saved if is_region(saved) else self.region

    def choose_region(self) -> str:
        """Switch to :meth:`known_region`, or explain how to set one."""
        region = self.known_region()
        if region is None:
            raise VcamError("no screen region set yet: run 'vcam config set source screen:X,Y,W,H' (pixels, e.g. "
                            "screen:0,0,1280,720 for the top-left 1280×720), then choose Source > Region again")
        return self.switch_source(region)

    def choose_file(self) -> None:
        """Ask for a video on a worker thread (the dialog blocks) and switch to it when one is chosen."""
        def pick() -> str | None:
            path = self.pick_file()
            return self.switch_source(path) if path else None

        self._start_worker("vcam-tray-file", self.guarded("Source File", pick))

    def calibrate_gaze(self, reset: bool = False) -> str:
        """Centre each person's screen region on their gaze now (or forget it); this run only, not saved."""
        done, tracked = self.daemon.calibrate_gaze(reset)
        if reset:
            return f"gaze calibration forgotten for {done} {'person' if done == 1 else 'people'}"
        missed = tracked - done
        return (f"gaze calibrated for {done} of {tracked} {'person' if tracked == 1 else 'people'}"
                + (f"; {missed} had their eyes closed or were not seen: calibrate again" if missed else ""))

    def choose_emotion_model(self, name: str) -> str:
        """Run the emotion model ``name`` from now on (live, the other stages untouched) and save it."""
        self.daemon.set_emotion_model(name)
        later = "" if self.daemon.is_on("emotion") else " (used when Emotion is on)"
        return self.save({"emotion_model": name}, f"emotion model: {name}{later}")

    def toggle(self, name: str, label: str) -> str:
        """Switch feature ``name`` over in the daemon and save it (EU mode on also saves emotion off)."""
        on = self.daemon.toggle(name)
        changes: dict[str, object] = {name: on}
        if name == "eu_mode" and on:
            changes["emotion"] = False
        return self.save(changes, f"{label} {'on' if on else 'off'}")

    def save(self, changes: dict[str, object], done: str) -> str:
        """Save ``changes`` to the config file; ``done`` on success, else says it is not saved (still live)."""
        try:
            self.daemon.controls.save(changes, self.config_path)
        except VcamError as err:
            return f"{done} (for this run only: not saved, {err})"
        return done

    def toggle_pause(self) -> str:
        """Pause analysis, or resume it."""
        if self.daemon.paused:
            self.daemon.resume()
            return "analysis resumed"
        self.daemon.pause()
        return "analysis paused: nothing is computed about anyone; the video goes on"

    def toggle_recording(self) -> str:
        """Start recording the session to a new folder in the user data dir, or stop and flush it."""
        if self.daemon.recording is not None:
            folder = self.daemon.stop_recording()
            return f"session saved to {folder}; see it with: vcam report {folder} --out report.html"
        return f"recording the session to {self.daemon.start_recording()}"

    def open_dashboard(self) -> str | None:
        """Open the dashboard in the browser, off the GUI thread (a browser may take seconds to start)."""
        url = self.daemon.dashboard_url
        if url is None:
            raise VcamError("the live feed is off, so there is no dashboard: run 'vcam config set feed true' "
                            "and start vcam again")

        def open_it() -> None:
            if not self.open_url(url):
                self.tell(f"no browser found: open {url} yourself", error=True)

        self._start_worker("vcam-tray-browser", self.guarded("Open dashboard", open_it))
        return None

    def _start_worker(self, name: str, target: Callable[[], None]) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=target, name=name, daemon=True)
        self._workers.append(worker)
        worker.start()

    def join_workers(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for file dialogs and browser starts in flight; True when none is left."""
        deadline = time.monotonic() + timeout
        for worker in list(self._workers):
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(w.is_alive() for w in self._workers)
