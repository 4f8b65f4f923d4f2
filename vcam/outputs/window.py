"""A preview window on the presenter's screen, through ``cv2.imshow``.

OpenCV's pip wheel draws windows with Qt over X11 only (its one platform
plugin is ``xcb``). With no X display, or a ``DISPLAY`` no X server answers on,
Qt aborts the whole process with SIGABRT, which no ``try`` can catch. So on
Linux the display is checked before any cv2 GUI call, and a missing one is an
:class:`~vcam.errors.OutputError` instead.

A window that stays black for good
----------------------------------
The wheel bundles an old ``libX11-xcb`` but uses the system's ``libX11``. Qt
hands X event reading to XCB with ``XSetEventQueueOwner``; the bundled copy of
that function writes the flag at its old offset in libX11's private struct
(0x40; libX11 1.8 keeps it at 0x48), so Xlib still thinks it owns the event
queue. Every Xlib round trip Qt makes (``XSync`` when it creates a window, and
others) then moves whatever events are pending on Qt's connection into Xlib's
own queue, which nobody reads. When that happens to the window's MapNotify, Qt
never learns the window was mapped, ``isExposed()`` stays false, and Qt never
copies a frame to the screen although ``imshow`` runs at full rate. Measured
under Xvfb: 4 of 25 starts of the 1920x1080 preview. :func:`bind_system_x11_xcb`
loads the system's ``libX11-xcb`` into the global symbol scope before Qt
starts, so Qt binds the copy that matches the system's libX11.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import socket
import sys

import cv2
import numpy as np

from vcam.errors import OutputError
from vcam.outputs.base import Output

log = logging.getLogger(__name__)

_QUIT_KEYS = {ord("q"), ord("Q"), 27}  # q or Esc
_NO_DISPLAY_FIX = "use --output file:out.mp4 or none"
_SYSTEM_X11_XCB = "libX11-xcb.so.1"


def check_display() -> None:
    """On Linux, raise OutputError unless an X server answers on ``$DISPLAY``.

    Does nothing on other systems, where OpenCV uses the native window system.
    """
    if not sys.platform.startswith("linux"):
        return
    display = os.environ.get("DISPLAY", "")
    if not display:
        wayland = " (Wayland alone is not enough: OpenCV's window needs X11 or XWayland)" if os.environ.get("WAYLAND_DISPLAY") else ""
        raise OutputError(f"no display to open a preview window on: DISPLAY is not set{wayland}; {_NO_DISPLAY_FIX}")
    if not _x_server_answers(display):
        raise OutputError(f"no display to open a preview window on: no X server answers on DISPLAY={display}; {_NO_DISPLAY_FIX}")


def bind_system_x11_xcb() -> bool:
    """On Linux, load the system's ``libX11-xcb`` with global symbols; whether that worked.

    Must run before the process's first cv2 window (Qt binds the symbol once, when it
    connects to the X server); later calls do nothing. See the module docstring for why.
    A missing library (package ``libx11-xcb1`` on Debian/Ubuntu) is a warning, not an
    error: the window then works in most starts and stays black in a few.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL(_SYSTEM_X11_XCB, mode=ctypes.RTLD_GLOBAL)
    except OSError as err:
        log.warning("cannot load the system's %s (%s): the preview window may now and then stay black; "
                    "install it (Debian/Ubuntu: apt install libx11-xcb1)", _SYSTEM_X11_XCB, err)
        return False
    return True


def _x_server_answers(display: str, timeout: float = 0.5) -> bool:
    """Whether something accepts connections at an X ``display`` like ``:0`` or ``host:10.0``.

    Forms it cannot parse are assumed to work, so an odd but valid setup is never refused.
    """
    match = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?|([\w.\-]+):(\d+)(?:\.\d+)?", display)
    if match is None:
        return True
    if match.group(1) is not None:
        path = f"/tmp/.X11-unix/X{match.group(1)}"
        return _unix_connects(path, timeout) or _unix_connects("\0" + path, timeout)  # file or abstract socket
    try:
        socket.create_connection((match.group(2), 6000 + int(match.group(3))), timeout).close()
        return True
    except OSError:
        return False


def _unix_connects(path: str, timeout: float) -> bool:
    """Whether a Unix socket at ``path`` accepts a connection."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
        return True
    except OSError:
        return False


class WindowOutput(Output):
    """Frames to a resizable OpenCV window, for previewing without a virtual camera.

    The user ends it by pressing q or Esc in the window or closing it; then
    :meth:`poll` returns False and further frames are dropped.

    Args:
        title: the window's title (also OpenCV's handle for it).
        width, height, fps, mirror: see :class:`~vcam.outputs.base.Output`.
    """

    def __init__(
        self, name: str = "window", *, title: str = "vcam",
        width: int = 1280, height: int = 720, fps: float = 30.0, mirror: bool = False,
    ) -> None:
        super().__init__(name, width=width, height=height, fps=fps, mirror=mirror)
        self.title = title
        self._user_closed = False
        self._shown = False
        self._created = False

    def _open(self) -> None:
        check_display()
        bind_system_x11_xcb()

    def _create(self) -> None:
        """Make the window. OpenCV's Qt windows belong to the thread that made them,
        so this runs on the first send, on the sending thread; close from that thread too."""
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
            cv2.resizeWindow(self.title, self.width, self.height)
        except cv2.error as err:
            raise OutputError(f"cannot open a preview window: OpenCV said {err.msg or err}; {_NO_DISPLAY_FIX}") from err
        self._created = True

    def _write(self, frame: np.ndarray) -> None:
        if not self._created:
            self._create()
        if self._user_closed or self._window_gone():
            return  # imshow would bring a closed window back
        cv2.imshow(self.title, frame)
        self._shown = True
        key = cv2.waitKey(1)  # also runs the window's event loop: keys, the close button
        if key >= 0 and (key & 0xFF) in _QUIT_KEYS:
            self._user_closed = True
            log.info("preview window %r: the user pressed quit", self.title)
        else:
            self._window_gone()

    def poll(self) -> bool:
        """False once the user pressed q or Esc, or closed the window."""
        return super().poll() and not self._user_closed and not self._window_gone()

    def _window_gone(self) -> bool:
        """Whether a window that was shown is no longer visible."""
        if not self._shown or self._user_closed:
            return self._user_closed
        try:
            visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
        except cv2.error:
            visible = -1.0
        if visible < 1:
            self._user_closed = True
            log.info("preview window %r closed by the user", self.title)
        return self._user_closed

    def _release(self) -> None:
        if not self._created:
            return
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # let the window system process the destroy
        except cv2.error:
            log.debug("preview window %r was already gone", self.title)
