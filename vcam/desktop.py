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
from pathlib import Path

from vcam.errors import VcamError

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
