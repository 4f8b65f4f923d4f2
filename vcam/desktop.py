"""What the presenter's desktop offers the tray: a tray backend, a session bus, monitors, a file dialog.

Kept apart from :mod:`vcam.tray` (the menu and its actions) because each of these
probes the desktop environment and none of them knows about the daemon.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import PIL.ImageFont  # noqa: F401 - before pystray: see below

from vcam.errors import VcamError

# pystray's import tries its GTK backend, and PyGObject then loads the system's libfreetype with
# its symbols global. Pillow's FreeType module, loaded after that, binds to the system library
# instead of the one in its wheel, and every text it measures comes out as garbage (names in the
# overlay 780367 px wide: measured with `import pystray; import PIL.ImageFont`). Loaded first,
# Pillow keeps its own. Every pystray import of vcam goes through this module.

log = logging.getLogger(__name__)

MENU_PACKAGES = ("apt install gir1.2-ayatanaappindicator3-0.1 libgirepository1.0-dev libcairo2-dev; "
                 "pip install PyGObject==3.48.2 pycairo==1.29.2")
"""What a Linux desktop needs for the tray menu (pystray's appindicator backend)."""
GTK_BACKENDS = ("pystray._appindicator", "pystray._gtk")
"""pystray's backends that draw a menu (they need PyGObject and a D-Bus session bus)."""


def choose_icon_class() -> type:
    """The pystray ``Icon`` class to use.

    ``PYSTRAY_BACKEND`` wins when set (tests use ``dummy``), even if pystray was imported before.
    Otherwise pystray's own choice (appindicator, gtk, then xorg on Linux), except that a GTK
    backend without a D-Bus session bus is swapped for xorg: GTK's start would fail there.

    Raises:
        ImportError: no desktop session (no DISPLAY), or the named backend cannot load.
    """
    import pystray

    forced = os.environ.get("PYSTRAY_BACKEND", "").strip()
    if forced:
        return importlib.import_module(f"pystray._{forced}").Icon
    cls = pystray.Icon
    if cls.__module__ in GTK_BACKENDS and not session_bus_available():
        log.warning("no D-Bus session bus: using the plain X11 tray icon, which has no menu")
        return importlib.import_module("pystray._xorg").Icon
    return cls


def session_bus_available() -> bool:
    """Whether GLib can reach a D-Bus session bus: an address, the systemd user bus, or dbus-launch."""
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return Path(runtime, "bus").exists() or shutil.which("dbus-launch") is not None


def monitors() -> list[tuple[int, int, int]]:
    """``(number, width, height)`` of each monitor mss sees (1 = primary); ``[]`` when it cannot look."""
    try:
        import mss

        with mss.MSS() as sct:
            return [(n, m["width"], m["height"]) for n, m in enumerate(sct.monitors) if n > 0]
    except Exception as err:  # noqa: BLE001 - no display, or a display mss cannot read: no screen items
        log.debug("cannot list monitors: %s", err)
        return []


_TK_PICKER = ("import tkinter, tkinter.filedialog as d; r = tkinter.Tk(); r.withdraw(); "
              "print(d.askopenfilename(title='vcam: choose a video', filetypes=[('Videos', "
              "'*.mp4 *.mkv *.avi *.mov *.webm *.m4v'), ('All files', '*')]) or '')")


def pick_video_file() -> str | None:
    """Ask the presenter for a video file with the desktop's dialog; the path, or None when cancelled.

    Tries zenity (GNOME), kdialog (KDE), then tkinter, each in its own process: a dialog then never
    shares a GUI main loop with the tray. Blocks until the dialog closes (run it off the GUI thread).

    Raises:
        VcamError: none of the three is installed; the message says how to set the file instead.
    """
    commands = []
    if shutil.which("zenity"):
        commands.append(["zenity", "--file-selection", "--title=vcam: choose a video"])
    if shutil.which("kdialog"):
        commands.append(["kdialog", "--getopenfilename", str(Path.home()), "*.mp4 *.mkv *.avi *.mov *.webm"])
    if importlib.util.find_spec("tkinter") is not None:
        commands.append([sys.executable, "-c", _TK_PICKER])
    if not commands:
        raise VcamError("no file dialog on this desktop (zenity, kdialog or Python's tkinter): install one "
                        "(e.g. 'sudo apt install zenity'), or run 'vcam config set source /path/to/video.mp4' "
                        "and start vcam again")
    done = subprocess.run(commands[0], capture_output=True, text=True)
    path = done.stdout.strip()
    return path if done.returncode == 0 and path else None


class _NoTrayYet(logging.Filter):
    """pystray's X11 icon logs "Failed to dock icon" with a traceback each time it finds no system
    tray (when shown, on each new picture, when the tray goes away). That is a normal moment, not a
    bug: say it as one line, at most once a minute."""

    REPEAT_S = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._said = -self.REPEAT_S

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "Failed to dock icon":
            return True
        now = time.monotonic()
        if now - self._said < self.REPEAT_S:
            return False
        self._said = now
        record.msg, record.args, record.exc_info, record.exc_text = (
            "no system tray to hold the icon right now; it goes in when the desktop's tray (panel) starts",
            (), None, None)
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_dock_failures() -> None:
    """Make pystray's "no system tray" errors one plain line (idempotent)."""
    logger = logging.getLogger("pystray._base")
    if not any(isinstance(f, _NoTrayYet) for f in logger.filters):
        logger.addFilter(_NoTrayYet())


class DockWatch:
    """Whether an X11 tray icon's window sits inside the system tray, seen on a connection of its own.

    pystray's X11 icon asks the tray to take it when it is shown and when its picture changes, and
    never again: it does not listen for a tray that starts after it (login starts the panel and vcam
    side by side) or comes back after a panel restart, and a request the tray drops is not repeated
    (measured under Xvfb + trayer: 1 start in 5 left the icon outside the tray for good). Call
    :meth:`tick` now and then: it asks again when the icon is outside a tray that runs.

    Args:
        window_id: the X id of the icon's window.
        screen: the X screen whose tray (``_NET_SYSTEM_TRAY_S<screen>``) should hold it.

    Raises:
        Xlib.error.DisplayError (or another Xlib error): the X server cannot be reached.
    """

    RETRY_S = 3.0
    """Seconds between requests to a system tray that has not taken the icon yet."""

    def __init__(self, window_id: int, screen: int = 0) -> None:
        import Xlib.display

        self._display = Xlib.display.Display()
        self._window = self._display.create_resource_object("window", window_id)
        self._tray_atom = self._display.intern_atom(f"_NET_SYSTEM_TRAY_S{screen}")
        self._root = self._display.screen(screen).root
        self._asked = -self.RETRY_S

    @classmethod
    def for_icon(cls, icon: object) -> DockWatch | None:
        """A watch on pystray's X11 icon window; None for other backends, or when X cannot be reached."""
        window = getattr(icon, "_window", None)
        if type(icon).__module__ != "pystray._xorg" or window is None:
            return None
        try:
            return cls(window.id)
        except Exception as err:  # noqa: BLE001 - no X connection: the icon just is not watched
            log.warning("cannot watch whether the icon is in the system tray: %s", err)
            return None

    def tick(self, show_again: Callable[[], None]) -> None:
        """Call ``show_again`` (which makes pystray ask the tray to dock) when the icon is :meth:`loose`,
        at most every :attr:`RETRY_S` seconds."""
        if time.monotonic() - self._asked >= self.RETRY_S and self.loose():
            self._asked = time.monotonic()
            log.info("the icon is not in the system tray: asking the tray to take it")
            show_again()

    def loose(self) -> bool:
        """True when a system tray runs and the window is not inside it (its parent is the root window)."""
        if self._display.get_selection_owner(self._tray_atom) == 0:  # X.NONE: no tray to dock into
            return False
        return self._window.query_tree().parent == self._root

    def close(self) -> None:
        """Close the X connection."""
        self._display.close()
