"""The tray icon: a thin shell that turns menu clicks into calls on the :class:`~vcam.daemon.Daemon`.

::

    vcam: running · demo          (the state; the problem when there is one)
    Source ▸  Webcam · Screen N (W×H) · Region… · Demo · File…
    ✓ Gaze  ✓ Identity  ✓ Emotion  ✓ Overlay  ✓ Mirror video  ✓ Aggregate only  ✓ EU mode
    Open dashboard                (the default item: a left click on a menu-less tray)
    Start recording / Stop recording
    ✓ Pause analysis
    Quit

The menu reads the daemon's state (``checked=``/``text=`` callables): it shows what runs, not
what was clicked. Source and feature changes are saved to the config file (the next start
begins there); pause and recording belong to this run only.

Backends (pystray picks one when imported): ``appindicator`` or ``gtk`` have the menu and need
PyGObject and a D-Bus session bus; pystray's ``xorg`` backend has no menu at all (a left click
runs the default item, Open dashboard). :func:`vcam.desktop.choose_icon_class` falls back to ``xorg`` when GTK is
there but no session bus is (its start would fail), and says what the menu needs.

Every click is guarded: a VcamError (a source that cannot open, emotion in EU mode) is shown in
a notification where the backend has them, in the icon's title for ``NOTICE_S`` s, and in the log.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcam.config import update_file
from vcam.desktop import (GTK_BACKENDS, MENU_PACKAGES, DockWatch, choose_icon_class, monitors, pick_video_file,
                          quiet_dock_failures)
from vcam.errors import VcamError
from vcam.sources.window import window_titles

if TYPE_CHECKING:
    from PIL import Image

    from vcam.daemon import Daemon

log = logging.getLogger(__name__)

REFRESH_S = 1.0
"""Seconds between refreshes of the icon and title. Shorter shows a lost source sooner and
costs a few property reads per tick (the menu is only rebuilt when something changed)."""
NOTICE_S = 8.0
"""Seconds the last message stays in the icon's title (the only place a menu-less tray can show it)."""
LOOP_EXIT_S = 5.0
"""Seconds :meth:`Tray.stop` waits for the icon's loop to end before giving up (and logging it)."""
WINDOWS_MAX = 20
"""Most windows listed under Source > Window."""
TITLE_MAX = 120
"""Longest title in characters (Windows cuts tooltips at 128)."""
FEATURE_LABELS = {"gaze": "Gaze", "identity": "Identity (names)", "emotion": "Emotion", "overlay": "Overlay",
                  "mirror": "Mirror video", "aggregate_only": "Aggregate only", "eu_mode": "EU mode (no emotion)"}
STATE_COLORS = {"running": (46, 204, 113), "paused": (149, 165, 166), "starting": (149, 165, 166),
                "problem": (231, 76, 60)}
"""RGB of the status dot per :meth:`Tray.state`: green, grey (paused, or models still loading), red."""
_REGION = re.compile(r"screen:-?\d+,-?\d+,\d+,\d+")


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
    """``webcam``, ``screen:N``, ``region``, ``demo``, ``window:TITLE``, ``file`` or ``auto``: which Source item
    is ticked."""
    kind, _, arg = spec.partition(":")
    if kind in ("webcam", "demo", "auto"):
        return kind
    if kind == "window":
        return f"window:{arg.strip()}"
    if kind == "screen":
        return "region" if is_region(spec) else f"screen:{arg or 1}"
    return "file"


# -- the tray ----------------------------------------------------------------------------
class Tray:
    """The tray icon and menu of one running :class:`~vcam.daemon.Daemon`.

    Args:
        daemon: the daemon the menu drives (started or not; :meth:`run` does not start it).
        config_path: the config file changes are saved to (None: :func:`vcam.config.config_path`).
        icon_class: the pystray ``Icon`` class (None: :func:`choose_icon_class`).
        pick_file: asks for a video file; returns its path or None (default :func:`pick_video_file`).
        open_url: opens the dashboard URL in a browser; False when it could not (default ``webbrowser.open``).
        refresh_s: seconds between icon/title refreshes while running.

    :meth:`run` blocks on the calling thread, which must be the main one. :meth:`stop` (the Quit
    item, the single-instance "quit" message, a signal) may come from any thread.
    """

    def __init__(self, daemon: Daemon, config_path: Path | None = None, *, icon_class: type | None = None,
                 pick_file: Callable[[], str | None] = pick_video_file,
                 open_url: Callable[[str], bool] = webbrowser.open, refresh_s: float = REFRESH_S) -> None:
        self.daemon = daemon
        self.config_path = config_path
        self.pick_file = pick_file
        self.open_url = open_url
        self.refresh_s = refresh_s
        self.notice: tuple[float, str] | None = None  # (monotonic time, message) shown in the title
        self.region = daemon.config.source if is_region(daemon.config.source) else None
        self._stopping = threading.Event()
        self._icon_lock = threading.Lock()  # an icon update and the stop that ends the icon's loop never overlap
        self._loop_done = threading.Event()
        self._shown = False
        self._started = daemon.running  # False until run()'s start ran: the icon says "starting"
        self._workers: list[threading.Thread] = []
        cls = icon_class if icon_class is not None else choose_icon_class()
        self.icon = cls("vcam", draw_icon(self.state()), self.title(), menu=self.build_menu())
        if cls.__module__ == "pystray._xorg":
            quiet_dock_failures()
        self._shown_key = self._state_key()  # refresh only on a change: each update is a round trip to the GUI loop
        if not self.icon.HAS_MENU:
            log.warning("this tray has no menu: a click opens the dashboard. For the full menu on Linux: %s",
                        MENU_PACKAGES)

    # -- lifecycle ---------------------------------------------------------------
    def run(self, start: Callable[[], str | None] | None = None) -> None:
        """Show the icon and handle clicks until :meth:`stop`. Must run on the main thread.

        Args:
            start: called once the icon is shown, off the GUI thread (e.g. start the daemon); its
                message or VcamError is shown like a click's. Starting after the icon is up shows
                the presenter something at once, and keeps MediaPipe's start (seconds of held GIL)
                away from pystray's X11 docking, which grabs the X server and then needs the GIL.

        Raises VcamError when the desktop's tray cannot be used.
        """
        if self._stopping.is_set():
            return
        sigint = signal.getsignal(signal.SIGINT)
        try:
            self.icon.run(lambda icon: self._setup(icon, sigint, start))
        except Exception as err:  # noqa: BLE001 - a backend's own failure: one line, never a traceback
            if not self._stopping.is_set():
                raise VcamError(f"the tray icon failed ({err}); use 'vcam run' instead of 'vcam tray'") from err
            log.debug("tray backend cleanup after quit: %s", err)  # e.g. no notification service to close
        finally:
            self._loop_done.set()

    def stop(self) -> None:
        """Stop the daemon (flushing a recording, releasing the camera), then the icon. Idempotent, any thread."""
        if not self._claim_stop():
            return
        log.info("quitting")
        self.daemon.stop()
        self.icon.stop()
        if threading.current_thread() is not threading.main_thread():
            self._wake_xorg_loop()

    def _claim_stop(self) -> bool:
        """Mark the tray as quitting, so no icon update starts after this; False when it already was."""
        locked = self._icon_lock.acquire(timeout=LOOP_EXIT_S)
        if not locked:  # an update stuck on a loop that ended on its own (a backend failure)
            log.warning("an icon update did not finish within %.0f s; quitting anyway", LOOP_EXIT_S)
        try:
            if self._stopping.is_set():
                return False
            self._stopping.set()
            return True
        finally:
            if locked:
                self._icon_lock.release()

    def _wake_xorg_loop(self) -> None:
        """Make sure pystray's X11 loop sees that it was stopped.

        pystray 0.19.5's xorg loop waits in ``select()`` on the X socket for the DestroyNotify of its
        window. When another thread's flush (a title or icon update, the stop itself) read that event
        first, python-xlib queued it but the select goes on waiting (measured under Xvfb: about 1 in 3
        stops after updates hung). A round trip on the icon's display makes the server write to that
        socket, which wakes the loop to find the queued event. Other backends have no ``_display``.
        """
        display = getattr(self.icon, "_display", None)
        for _ in range(int(LOOP_EXIT_S / 0.25)):
            if display is None or self._loop_done.wait(0.25):
                return
            try:
                display.sync()
            except Exception as err:  # noqa: BLE001 - the connection is already closed: the loop is gone
                log.debug("waking the tray loop: %s", err)
                return
        log.warning("the tray icon's loop did not stop within %.0f s", LOOP_EXIT_S)

    def on_message(self, message: str) -> None:
        """A single-instance message from another launch: ``"show"`` opens the dashboard, ``"quit"`` quits."""
        if message == "quit":
            threading.Thread(target=self.stop, name="vcam-tray-quit").start()
        elif message == "show" and not self._started:
            self.tell("vcam is still starting; its dashboard opens from the menu in a few seconds")
        elif message == "show":
            self._guarded("Open dashboard", self.open_dashboard)()

    def _setup(self, icon: Any, sigint: Any, start: Callable[[], str | None] | None) -> None:
        """pystray's setup thread: show the icon, run ``start``, then refresh the icon until stopped.

        ``sigint``: the SIGINT handler before the loop started. pystray's GTK backends set SIGINT to
        SIG_DFL when they start, so Ctrl-C would kill the process without flushing a recording; it is
        put back on the GUI thread.
        """
        self._on_icon(lambda: setattr(icon, "visible", True))
        self._shown = True
        log.info("tray icon shown (%s backend)", type(icon).__module__.rpartition("_")[2])
        if type(icon).__module__ in GTK_BACKENDS and sigint is not None and signal.getsignal(signal.SIGINT) is not sigint:
            from gi.repository import GLib

            def restore() -> bool:
                signal.signal(signal.SIGINT, sigint)
                return False  # run once

            GLib.idle_add(restore)
        if self._stopping.is_set():  # a stop that came before the loop ran
            icon.stop()
        elif start is not None:
            self._guarded("Start", start)()
            if self._stopping.is_set():  # a quit that came while starting: release what the start took
                self.daemon.stop()
        self._started = True
        self._keep_showing(icon)

    def _keep_showing(self, icon: Any) -> None:
        """Refresh the icon every ``refresh_s`` until stopped; put an X11 icon back into a tray that lost it."""
        dock = DockWatch.for_icon(icon)
        try:
            while True:
                try:
                    self.refresh()
                    if dock is not None:  # pystray asks the tray to dock on a new picture
                        dock.tick(lambda: self._on_icon(lambda: setattr(icon, "icon", icon.icon)))
                except Exception:  # noqa: BLE001 - the icon must keep showing the state
                    log.exception("refreshing the tray icon failed")
                if self._stopping.wait(self.refresh_s):
                    return
        finally:
            if dock is not None:
                dock.close()

    # -- what the icon shows -------------------------------------------------------
    def state(self) -> str:
        """``starting`` (until the daemon was started), ``problem`` (it stopped, or :attr:`Daemon.problem`),
        ``paused`` or ``running``: what the icon's dot shows."""
        if not self._started:
            return "starting"
        return self.daemon.state if self.daemon.running else "problem"

    def title(self) -> str:
        """``vcam: STATE · SOURCE``, the problem, and the last message for ``NOTICE_S`` seconds."""
        d = self.daemon
        parts = [f"vcam: {self.state()}", self.current_spec()]
        if d.recording is not None:
            parts.append("recording")
        if self._started and not d.running:
            parts.append("stopped; choose Quit and start vcam again")
        if d.problem:
            parts.append(d.problem)
        if self.notice and time.monotonic() - self.notice[0] < NOTICE_S:
            parts.append(self.notice[1])
        text = " · ".join(parts)
        text = text if len(text) <= TITLE_MAX else text[:TITLE_MAX - 3] + "..."
        return text.encode("latin-1", "replace").decode("latin-1")  # X11 sets titles as Latin-1 STRING

    def refresh(self, force: bool = False) -> None:
        """Update picture, title and (once shown) the menu when the daemon's state changed."""
        d = self.daemon
        key = self._state_key()
        if key == self._shown_key and not force:
            return
        self._shown_key = key
        picture, title = draw_icon(self.state(), d.recording is not None), self.title()

        def update() -> None:
            self.icon.icon = picture
            self.icon.title = title
            if self._shown:
                self.icon.update_menu()

        self._on_icon(update)

    def _on_icon(self, change: Callable[[], None]) -> None:
        """Apply ``change`` to the icon unless quitting.

        pystray's X11 backend runs an update on its loop's thread and waits for it with no timeout, so
        an update sent after :meth:`stop` ended that loop waits forever (measured: SIGTERM while
        "starting" under load hung the exit). :meth:`stop` takes the same lock to say it is quitting.
        """
        with self._icon_lock:
            if not self._stopping.is_set():
                change()

    def _state_key(self) -> tuple:
        """What the icon, title and menu show; the open windows too where there is a menu to list them in."""
        d = self.daemon
        windows = tuple(window_titles()) if self.icon.HAS_MENU else ()
        return self.state(), d.recording, self.title(), tuple(d.is_on(f) for f in FEATURE_LABELS), windows

    def tell(self, message: str, error: bool = False) -> None:
        """Show ``message``: in the log, in the title, and as a notification where the backend has them."""
        (log.warning if error else log.info)("%s", message)
        self.notice = (time.monotonic(), message)
        if self._shown and self.icon.HAS_NOTIFICATION:
            try:
                self.icon.notify(message, "vcam")
            except Exception as err:  # noqa: BLE001 - no notification service: the title still shows it
                log.debug("notification failed: %s", err)
        self.refresh(force=True)

    # -- the menu -------------------------------------------------------------------
    def build_menu(self) -> Any:
        """The whole menu; every part reads the daemon when the menu is (re)drawn."""
        from pystray import Menu, MenuItem

        return Menu(
            MenuItem(lambda _: self.title(), None, enabled=False),
            Menu.SEPARATOR,
            MenuItem("Source", Menu(self.source_items)),
            *(self._feature_item(f) for f in FEATURE_LABELS),
            Menu.SEPARATOR,
            MenuItem("Open dashboard", self._guarded("Open dashboard", self.open_dashboard), default=True),
            MenuItem(lambda _: "Stop recording" if self.daemon.recording else "Start recording",
                     self._guarded("Recording", self.toggle_recording)),
            MenuItem("Pause analysis", self._guarded("Pause", self.toggle_pause), checked=lambda _: self.daemon.paused),
            Menu.SEPARATOR,
            MenuItem("Quit", self.stop),
        )

    def _feature_item(self, feature: str) -> Any:
        from pystray import MenuItem

        def text(_: Any) -> str:
            locked = feature == "emotion" and self.daemon.is_on("eu_mode")
            return FEATURE_LABELS[feature] + (" (off in EU mode)" if locked else "")

        return MenuItem(text, self._guarded(FEATURE_LABELS[feature], lambda: self.toggle(feature)),
                        checked=lambda _: self.daemon.is_on(feature))

    def _source_item(self, text: str, kind: str, action: Callable[[], str | None]) -> Any:
        """A radio item of the Source menu, ticked while :meth:`current_kind` is ``kind``."""
        from pystray import MenuItem

        return MenuItem(text, self._guarded(f"Source {text}", action), radio=True,
                        checked=lambda _: self.current_kind() == kind)

    def source_items(self) -> list[Any]:
        """The Source submenu: Webcam, each monitor, Region, Window, Demo, File; the current one ticked."""
        from pystray import Menu, MenuItem

        item = self._source_item
        items = [item("Webcam", "webcam", lambda: self.switch_source("webcam:0"))]
        for number, width, height in monitors():
            items.append(item(f"Screen {number} ({width}×{height})", f"screen:{number}",
                              lambda n=number: self.switch_source(f"screen:{n}")))
        region = self.known_region()
        items.append(item(f"Region {region[7:]}" if region else "Region…", "region", self.choose_region))
        items.append(MenuItem("Window", Menu(self.window_items)))
        items.append(item("Demo", "demo", lambda: self.switch_source("demo")))
        name = Path(self.daemon.config.source).name if self.current_kind() == "file" else ""
        items.append(item(f"File: {name}…" if name else "File…", "file", self.choose_file))
        return items

    def _guarded(self, what: str, action: Callable[[], str | None]) -> Callable[[], None]:
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
                else:
                    self.refresh(force=True)
        return run

    def window_items(self) -> list[Any]:
        """The Window submenu: each other program's window by title (the one captured ticked)."""
        from pystray import MenuItem

        titles = window_titles()[:WINDOWS_MAX]
        current = self.current_kind()
        if current.startswith("window:") and current[7:] not in titles:  # set by hand to part of a title
            titles.insert(0, current[7:])
        if not titles:
            return [MenuItem("no other window is open", None, enabled=False)]
        return [self._source_item(t, f"window:{t}", lambda t=t: self.switch_source(f"window:{t}")) for t in titles]

    # -- actions (each returns a message to show, or None) -----------------------------
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
            from vcam.config import load_settings

            saved = load_settings(self.config_path).get("source")
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

        self._start_worker("vcam-tray-file", self._guarded("Source File", pick))

    def toggle(self, feature: str) -> str:
        """Switch ``feature`` over in the daemon and save it (EU mode on also saves emotion off)."""
        on = self.daemon.toggle(feature)
        changes: dict[str, object] = {feature: on}
        if feature == "eu_mode" and on:
            changes["emotion"] = False
        return self.save(changes, f"{FEATURE_LABELS[feature]} {'on' if on else 'off'}")

    def save(self, changes: dict[str, object], done: str) -> str:
        """Save ``changes`` to the config file; ``done`` on success, else says it is not saved (still live)."""
        try:
            update_file(changes, self.config_path)
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

        self._start_worker("vcam-tray-browser", self._guarded("Open dashboard", open_it))
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
