"""The tray icon: pystray showing a :class:`~vcam.tray_menu.TrayMenu`, with the backends' workarounds.

The menu, its state and its actions are plain data in :mod:`vcam.tray_menu`; this module only
shows them and keeps the icon alive:

- Backends (pystray picks one when imported): ``appindicator`` or ``gtk`` have the menu and need
  PyGObject and a D-Bus session bus; pystray's ``xorg`` backend has no menu at all (a left click
  runs the default item, Open dashboard). :func:`vcam.desktop.choose_icon_class` falls back to
  ``xorg`` when GTK is there but no session bus is (its start would fail), and says what the menu needs.
- The icon is refreshed every ``refresh_s`` when what it shows changed, and an X11 icon is put
  back into a tray that started later or restarted (:class:`vcam.desktop.DockWatch`).
- A quit may come from any thread (the menu, a signal, another launch); no icon update starts
  after it, because pystray's X11 backend waits forever for an update its ended loop never runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcam.desktop import GTK_BACKENDS, MENU_PACKAGES, DockWatch, choose_icon_class, quiet_dock_failures
from vcam.errors import VcamError
from vcam.tray_menu import SEPARATOR, STATE_COLORS, Item, TrayMenu, draw_icon, source_kind

if TYPE_CHECKING:
    from vcam.daemon import Daemon

log = logging.getLogger(__name__)

__all__ = ["STATE_COLORS", "Tray", "draw_icon", "source_kind"]

REFRESH_S = 1.0
"""Seconds between refreshes of the icon and title. Shorter shows a lost source sooner and
costs a few property reads per tick (the menu is only rebuilt when something changed)."""
LOOP_EXIT_S = 5.0
"""Seconds :meth:`Tray.stop` waits for the icon's loop to end before giving up (and logging it)."""


def pystray_menu(items: list[Item]) -> Any:
    """``items`` as a pystray Menu (texts, ticks and submenus still read when it is drawn)."""
    from pystray import Menu

    return Menu(*(_pystray_item(item) for item in items))


def _pystray_item(item: Item) -> Any:
    from pystray import Menu, MenuItem

    if item is SEPARATOR:
        return Menu.SEPARATOR
    text = item.text if isinstance(item.text, str) else (lambda _, read=item.text: read())
    if item.submenu is not None:
        return MenuItem(text, Menu(lambda read=item.submenu: [_pystray_item(i) for i in read()]))
    checked = None if item.checked is None else (lambda _, read=item.checked: read())
    action = None if item.action is None else _click(item.action)
    return MenuItem(text, action, checked=checked, radio=item.radio, enabled=item.enabled, default=item.default)


def _click(run: Callable[[], None]) -> Callable[[], None]:
    """``run`` as a pystray action (pystray passes the icon and item only to actions that take them)."""
    return lambda: run()


class Tray:
    """The tray icon and menu of one running :class:`~vcam.daemon.Daemon`.

    Args:
        daemon: the daemon the menu drives (started or not; :meth:`run` does not start it).
        config_path: the config file changes are saved to (None: :func:`vcam.config_file.config_path`).
        icon_class: the pystray ``Icon`` class (None: :func:`choose_icon_class`).
        refresh_s: seconds between icon/title refreshes while running.
        **menu: passed to :class:`~vcam.tray_menu.TrayMenu` (``pick_file``, ``open_url``).

    :meth:`run` blocks on the calling thread, which must be the main one. :meth:`stop` (the Quit
    item, the single-instance "quit" message, a signal) may come from any thread.
    """

    def __init__(self, daemon: Daemon, config_path: Path | None = None, *, icon_class: type | None = None,
                 refresh_s: float = REFRESH_S, **menu: Any) -> None:
        self.daemon = daemon
        self.refresh_s = refresh_s
        self.menu = TrayMenu(daemon, config_path, quit=self.stop, notify=self._notify,
                             changed=lambda: self.refresh(force=True), **menu)
        self._stopping = threading.Event()
        self._icon_lock = threading.Lock()  # an icon update and the stop that ends the icon's loop never overlap
        self._loop_done = threading.Event()
        self._shown = False
        cls = icon_class if icon_class is not None else choose_icon_class()
        self.icon = cls("vcam", self.menu.picture(), self.menu.title(), menu=pystray_menu(self.menu.items()))
        if cls.__module__ == "pystray._xorg":
            quiet_dock_failures()
        self._shown_key = self.menu.key(self.icon.HAS_MENU)  # refresh only on a change: each is a GUI round trip
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
        """Make sure pystray's X11 loop sees that it was stopped (see :meth:`_nudge_xorg_until`)."""
        if not self._nudge_xorg_until(self._loop_done):
            log.warning("the tray icon's loop did not stop within %.0f s", LOOP_EXIT_S)

    def _nudge_xorg_until(self, done: threading.Event) -> bool:
        """Wake pystray's X11 loop every 0.25 s until ``done`` is set; False after LOOP_EXIT_S without it.

        pystray 0.19.5's xorg loop waits in ``select()`` on the X socket. It is told of a stop (the
        DestroyNotify of its window) and of an update from another thread (a ClientMessage) through
        events on that socket. When another thread's flush read the event first, python-xlib queued
        it but the select goes on waiting (measured under Xvfb: about 1 in 3 stops after updates hung;
        seen in CI: a title update that never ran, so the tray showed "starting" for good). A round
        trip on the icon's display makes the server write to that socket, which wakes the loop to find
        the queued event. Other backends have no ``_display`` and need no nudge.
        """
        display = getattr(self.icon, "_display", None)
        for _ in range(int(LOOP_EXIT_S / 0.25)):
            if display is None or done.wait(0.25):
                return True
            try:
                display.sync()
            except Exception as err:  # noqa: BLE001 - the connection is already closed: the loop is gone
                log.debug("waking the tray loop: %s", err)
                return True
        return done.is_set()

    def on_message(self, message: str) -> None:
        """A single-instance message from another launch: ``"show"`` opens the dashboard, ``"quit"`` quits,
        ``"calibrate-gaze"`` / ``"forget-gaze"`` (``vcam gaze``) do what the Gaze calibration items do."""
        if message == "quit":
            threading.Thread(target=self.stop, name="vcam-tray-quit").start()
        elif message in ("calibrate-gaze", "forget-gaze"):
            self.menu.guarded("Gaze calibration", lambda: self.menu.calibrate_gaze(reset=message == "forget-gaze"))()
        elif message == "show" and not self.menu.started:
            self.menu.tell("vcam is still starting; its dashboard opens from the menu in a few seconds")
            self.refresh(force=True)
        elif message == "show":
            self.menu.guarded("Open dashboard", self.menu.open_dashboard)()

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
            self.menu.guarded("Start", start)()
            if self._stopping.is_set():  # a quit that came while starting: release what the start took
                self.daemon.stop()
        self.menu.started = True
        self._keep_showing(icon)

    def _keep_showing(self, icon: Any) -> None:
        """Refresh the icon every ``refresh_s`` until stopped; put an X11 icon back into a tray that lost it."""
        dock = DockWatch.for_icon(icon)
        try:
            while True:
                try:
                    self.refresh()
                    if dock is not None and not self._stopping.is_set():  # pystray docks on a new picture
                        dock.tick(lambda: self._on_icon(lambda: setattr(icon, "icon", icon.icon)))
                except Exception:  # noqa: BLE001 - the icon must keep showing the state
                    log.exception("refreshing the tray icon failed")
                if self._stopping.wait(self.refresh_s):
                    return
        finally:
            if dock is not None:
                dock.close()

    # -- showing -------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Update picture, title and (once shown) the menu when what they show changed."""
        key = self.menu.key(self.icon.HAS_MENU)
        if key == self._shown_key and not force:
            return
        self._shown_key = key
        picture, title = self.menu.picture(), self.menu.title()

        def update() -> None:
            self.icon.icon = picture
            self.icon.title = title
            if self._shown:
                self.icon.update_menu()

        self._on_icon(update)

    def _on_icon(self, change: Callable[[], None]) -> None:
        """Apply ``change`` to the icon unless quitting; re-raises what ``change`` raised.

        pystray's X11 backend runs an update on its loop's thread and waits for it with no timeout, so
        an update sent after :meth:`stop` ended that loop waits forever (measured: SIGTERM while
        "starting" under load hung the exit). :meth:`stop` takes the same lock to say it is quitting.
        From another thread, the X11 update runs on a helper thread while this one nudges the loop
        (:meth:`_nudge_xorg_until`), so an update event the loop missed cannot stall the icon.
        """
        with self._icon_lock:
            if self._stopping.is_set():
                return
            if getattr(self.icon, "_display", None) is None or self._on_loop_thread():
                change()
                return
            done, failure = threading.Event(), []

            def apply() -> None:
                try:
                    change()
                except BaseException as err:  # noqa: BLE001 - handed to the caller below
                    failure.append(err)
                finally:
                    done.set()

            threading.Thread(target=apply, name="vcam-tray-update", daemon=True).start()
            if not self._nudge_xorg_until(done):
                log.warning("an icon update did not run within %.0f s", LOOP_EXIT_S)
            self._flush_xorg()
            if failure:
                raise failure[0]

    def _flush_xorg(self) -> None:
        """Send what the X11 loop queued for the update (a title is a ChangeProperty it never flushes).

        python-xlib sends queued requests only when some thread flushes or waits for a reply; the loop
        waits for events, and while another thread was sending it does not send its own. Seen under
        Xvfb: 1 start in 6 kept showing "starting" because the new title never left the queue.
        """
        try:
            self.icon._display.flush()
        except Exception as err:  # noqa: BLE001 - the connection is already closed: nothing to show
            log.debug("flushing the tray's X connection: %s", err)

    def _on_loop_thread(self) -> bool:
        """Whether this is the thread of pystray's X11 loop (which runs an update itself)."""
        loop = getattr(self.icon, "_thread", None)
        return loop is not None and loop.ident == threading.get_ident()

    def _notify(self, message: str) -> None:
        """A desktop notification where the backend has them (the title shows the message either way)."""
        if self._shown and self.icon.HAS_NOTIFICATION:
            try:
                self.icon.notify(message, "vcam")
            except Exception as err:  # noqa: BLE001 - no notification service: the title still shows it
                log.debug("notification failed: %s", err)
