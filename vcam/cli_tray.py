"""The ``vcam tray`` command: a thin shell over :mod:`vcam.tray` and :mod:`vcam.instance`.

``vcam tray`` is what a desktop starts (bare ``vcam`` on a desktop, autostart): the daemon with
the settings in the config file, and its tray icon. It is the one vcam of this user: a second
launch brings the running one up (opens its dashboard) and exits. It stops on the tray's Quit,
``vcam quit`` (the single-instance "quit" message), SIGTERM (logout) or Ctrl-C, each time flushing
a recording and releasing the camera, and exits 0. :mod:`vcam.cli` owns the parser's top level and
turns a VcamError into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from vcam.errors import VcamError

if TYPE_CHECKING:
    from vcam.daemon import Daemon

log = logging.getLogger("vcam")

_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
"""Signals that quit the tray cleanly: logout (SIGTERM, SIGHUP) and Ctrl-C."""



def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``tray`` to the top-level subparsers."""
    sub.add_parser("tray", help="run vcam in the system tray with the settings of 'vcam config' (the desktop "
                   "default)").set_defaults(handler=cmd_tray)


def desktop_session() -> bool:
    """Whether a tray can be shown: Windows, macOS, or a Linux/BSD desktop (DISPLAY or WAYLAND_DISPLAY)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def default_command() -> list[str]:
    """The arguments bare ``vcam`` stands for: ``["tray"]`` on a desktop, else ``["--help"]``."""
    return ["tray"] if desktop_session() else ["--help"]


def cmd_tray(args: argparse.Namespace) -> int:
    """``vcam tray``: claim the single instance, start the daemon, run the icon on the main thread; exit 0 on quit."""
    from vcam.config_file import config_path, load_config
    from vcam.daemon import Daemon
    from vcam.instance import claim
    from vcam.desktop import choose_icon_class
    from vcam.tray import Tray

    icon_class = _icon_class_or_explain(choose_icon_class)
    # MediaPipe makes an EGL context when it starts; under DISPLAY, Mesa's EGL opens an X connection for it,
    # from C++ that holds the GIL, while pystray's X11 backend grabs the X server and then needs the GIL.
    # Measured under Xvfb: 3 of 10 starts hung with the X server grabbed (the whole desktop frozen).
    # Surfaceless EGL keeps MediaPipe off the X server; its CPU results are identical (checked on a face).
    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    path = config_path()
    daemon = Daemon(load_config(path), hold=True)
    tray = Tray(daemon, path, icon_class=icon_class)
    with claim(tray.on_message):  # AlreadyRunningError: the running one was told to show itself
        restore_signals = _on_stop_signals(lambda: threading.Thread(target=tray.stop, name="vcam-signal").start())
        try:
            tray.run(start=lambda: _start(daemon))
        finally:
            tray.stop()
            daemon.stop()  # idempotent; also covers a start that finished after the quit
            restore_signals()
    if daemon.error is not None:
        log.warning("the run had stopped with an error: %s", daemon.error)
    return 0


def _start(daemon: Daemon) -> str | None:
    """Start the daemon (the tray shows what this returns or raises).

    A configured source that cannot open yet (no camera plugged in, the screen-sharing dialog cancelled)
    starts with the "source lost" placard and keeps being retried (:class:`vcam.capture.Unopened`). A spec
    that can never open (not a source at all) starts the demo and says so, so the presenter can pick
    another source from the menu."""
    from vcam.errors import SourceSpecError

    try:
        daemon.start()
    except SourceSpecError as err:
        wanted, daemon.config.source = daemon.config.source, "demo"
        daemon.start()
        return f"could not open the source {wanted} ({err}); showing the demo until you choose another source"
    log.info("vcam is in the tray; the dashboard is at %s", daemon.dashboard_url or "(feed off)")
    return None


def _icon_class_or_explain(choose: Callable[[], type]) -> type:
    """The tray's icon class; with no desktop, one VcamError telling the user to use ``vcam run``."""
    if not desktop_session():
        raise VcamError("no desktop session (DISPLAY is not set): use 'vcam run' for vcam without a tray icon")
    try:
        return choose()
    except ImportError as err:  # pystray cannot reach the display or any tray backend
        raise VcamError(f"no desktop session the tray can use ({err}): use 'vcam run' for vcam without a tray "
                        f"icon") from err


def _on_stop_signals(stop: Callable[[], None]) -> Callable[[], None]:
    """Make the stop signals call ``stop``; returns the function that puts the old handlers back.

    A Python signal handler runs only on the main thread, once it comes back to the interpreter. The
    kernel hands a process's signal to any of its threads; when that is not the main one, the main
    thread sleeps on in pystray's X11 loop (a ``select()`` on the X socket) and the handler waits for
    the next X event, which may never come (seen in CI: a SIGTERM unanswered for 30 s). So the signal
    also wakes a watcher thread, through the wakeup fd that Python's C handler writes the signal
    number to from whichever thread caught it. ``stop`` must be idempotent: both may call it.
    """
    said = threading.Event()

    def caught(signum: int) -> None:
        if not said.is_set():
            said.set()
            log.info("got %s", signal.Signals(signum).name)
        stop()

    previous = {sig: signal.signal(sig, lambda signum, frame: caught(signum)) for sig in _STOP_SIGNALS}
    wake_read, wake_write = socket.socketpair()
    wake_write.setblocking(False)
    old_wakeup = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    watcher = threading.Thread(target=_watch_signals, args=(wake_read, caught), name="vcam-signals", daemon=True)
    watcher.start()

    def restore() -> None:
        signal.set_wakeup_fd(old_wakeup)
        for sig, old in previous.items():
            signal.signal(sig, old)
        wake_write.close()
        wake_read.shutdown(socket.SHUT_RDWR)  # ends the watcher's recv
        watcher.join(timeout=1.0)
        wake_read.close()

    return restore


def _watch_signals(wake: socket.socket, caught: Callable[[int], None]) -> None:
    """Call ``caught(signum)`` when a stop signal's number arrives on ``wake``; return when it closes."""
    while data := wake.recv(64):
        for signum in (n for n in data if n in _STOP_SIGNALS):
            caught(signum)
