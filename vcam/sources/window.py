"""One window of the desktop, found by its title and followed as it moves: the meeting's own window.

A screen region (``screen:X,Y,W,H``) stays where it was put; the meeting window does not. This
source asks the X server where the window is now (python-xlib) and grabs that rectangle of the
screen (mss), so the capture follows the window across the screen. X11 only: Wayland lets no
program read another's window, and Windows and macOS are not done yet.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import numpy as np

from vcam.errors import SourceError, SourceLost
from vcam.sources.screen import ScreenSource

log = logging.getLogger(__name__)

FOLLOW_S = 0.5
"""Seconds between looks at where the window is. Shorter follows a dragged window sooner, at three
X round trips per look."""
MIN_SIZE = (160, 90)
"""Smallest window (width, height in pixels) offered or matched: a smaller one holds no face worth finding."""
_SEARCH_DEPTH = 3
"""Levels of the window tree searched: a window manager puts each client inside a frame or two."""


class WindowSource(ScreenSource):
    """The pixels of the window whose title contains ``title`` (any case), wherever it is on the screen.

    Args:
        spec: the spec string, for messages and frames (``window:TITLE``).
        title: part of the window's title, e.g. ``"Zoom Meeting"``. Of several matches the largest
            visible one is used; vcam's own windows are never matched (the preview would capture itself).
        fps: capture rate, within :data:`vcam.limits.FPS` (ConfigError otherwise).
        realtime: pace frames at ``fps``.

    A move is followed within :data:`FOLLOW_S`. A resize, close or minimise raises
    :class:`SourceLost` from :meth:`read`; the daemon then reopens the source (at the new size) or
    shows "source lost" until the window is back. What covers the window is captured too: keep it
    on top, as with a screen region.
    """

    def __init__(self, spec: str, title: str, fps: float = 30.0, realtime: bool = True) -> None:
        super().__init__(spec, fps=fps, realtime=realtime)
        self.title = title
        self.window_id = 0
        self.window_title = title  # the whole title of the window found, once open
        self._looked = 0.0
        self._x: object | None = None  # the grabbing thread's X connection (Xlib.display.Display)

    def _open(self) -> None:
        display = _connect()
        try:
            window, title = find_window(display, self.title)
            self.window_id, self.window_title = window.id, title
            self._box = _on_screen(display, window, title)
        finally:
            display.close()
        log.info("capturing window %r (id 0x%x)", title, self.window_id)

    def _grab(self) -> np.ndarray | None:
        now = time.monotonic()
        if now - self._looked >= FOLLOW_S:
            self._follow()
            self._looked = now
        return super()._grab()  # the screen's pixels inside the window's box

    def _follow(self) -> None:
        """Move the capture box to where the window is now; SourceLost when it cannot be captured."""
        from Xlib import error as xerror

        try:
            if self._x is None:
                self._x = _connect()
            window = self._x.create_resource_object("window", self.window_id)
            box = _on_screen(self._x, window, self.window_title)
        except (xerror.BadWindow, xerror.BadDrawable) as err:
            raise SourceLost(f"window {self.window_title!r} was closed; vcam captures it again when a window "
                             f"whose title contains {self.title!r} is back") from err
        except (xerror.ConnectionClosedError, OSError) as err:
            raise SourceLost(f"lost the X display while following window {self.window_title!r} ({err})") from err
        except SourceError as err:
            raise SourceLost(str(err)) from err
        if (box["width"], box["height"]) != self.size:
            raise SourceLost(f"window {self.window_title!r} changed size ({self.size[0]}x{self.size[1]} -> "
                             f"{box['width']}x{box['height']}); reopening it at the new size")
        if box != self._box:
            log.debug("window %r moved to %d,%d", self.window_title, box["left"], box["top"])
        self._box = box

    def _release(self) -> None:
        super()._release()
        if self._x is not None:
            try:
                self._x.close()
            except Exception as err:  # noqa: BLE001 - the X server is already gone
                log.debug("closing the window capture's X connection: %s", err)


def find_window(display: object, title: str) -> tuple[object, str]:
    """The largest viewable window whose title contains ``title`` (case-insensitive); ``(window, its title)``.

    Args:
        display: an open ``Xlib.display.Display``.
        title: part of a title.

    Raises:
        SourceError: no such window; the message lists the titles there are.
    """
    wanted = title.casefold()
    seen = list(_titled_windows(display))
    matches = [(w, name, area) for w, name, area in seen if wanted in name.casefold()]
    if not matches:
        names = sorted({name for _, name, _ in seen}, key=str.casefold)
        if not names:
            raise SourceError(f"no window whose title contains {title!r} is on the screen (no other program's "
                              f"window is); open the meeting first")
        listed = ", ".join(repr(n) for n in names[:12])
        raise SourceError(f"no window whose title contains {title!r} is on the screen; open the meeting first, or "
                          f"use part of one of these titles: {listed} (window:TITLE)")
    window, name, _ = max(matches, key=lambda m: m[2])
    return window, name


def window_titles() -> list[str]:
    """Titles of the viewable windows of other programs on ``$DISPLAY``, sorted; ``[]`` without an X display."""
    try:
        display = _connect()
    except SourceError as err:
        log.debug("no windows to list: %s", err)
        return []
    try:
        return sorted({name for _, name, _ in _titled_windows(display)}, key=str.casefold)
    except Exception as err:  # noqa: BLE001 - the X server went away while listing: no window items
        log.debug("listing windows failed: %s", err)
        return []
    finally:
        display.close()


def _titled_windows(display: object):
    """``(window, title, area in pixels)`` of each viewable, titled window that could hold a meeting.

    Skipped: this process's own windows (``_NET_WM_PID``), panels and desktop backgrounds
    (``_NET_WM_WINDOW_TYPE``), and windows under :data:`MIN_SIZE`.
    """
    from Xlib import X
    from Xlib import error as xerror

    own_pid = os.getpid()
    pid_atom, type_atom = display.get_atom("_NET_WM_PID"), display.get_atom("_NET_WM_WINDOW_TYPE")
    not_meetings = {display.get_atom(f"_NET_WM_WINDOW_TYPE_{kind}") for kind in ("DOCK", "DESKTOP")}
    stack = [(child, 1) for child in display.screen().root.query_tree().children]
    while stack:
        window, depth = stack.pop()
        try:
            if window.get_attributes().map_state != X.IsViewable:
                continue
            name = _title(display, window)
            if not name:
                if depth < _SEARCH_DEPTH:
                    stack.extend((child, depth + 1) for child in window.query_tree().children)
                continue
            pid = window.get_full_property(pid_atom, X.AnyPropertyType)
            kinds = window.get_full_property(type_atom, X.AnyPropertyType)
            geometry = window.get_geometry()
            if ((pid is not None and len(pid.value) and int(pid.value[0]) == own_pid)
                    or (kinds is not None and not_meetings.intersection(kinds.value))
                    or geometry.width < MIN_SIZE[0] or geometry.height < MIN_SIZE[1]):
                continue
            yield window, name, geometry.width * geometry.height
        except xerror.XError:  # a window that went away while we looked
            continue


def _title(display: object, window: object) -> str:
    """The window's title: ``_NET_WM_NAME`` (UTF-8) or else ``WM_NAME``; '' when it has none."""
    from Xlib import X

    prop = window.get_full_property(display.get_atom("_NET_WM_NAME"), X.AnyPropertyType)
    if prop is not None and prop.value:
        value = prop.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    name = window.get_wm_name()
    if isinstance(name, bytes):
        return name.decode("latin-1")
    return name or ""


def _on_screen(display: object, window: object, title: str) -> dict[str, int]:
    """The part of ``window`` on the screen as an mss box ``{left, top, width, height}`` in root pixels.

    Raises:
        SourceError: the window is minimised or hidden, or wholly off the screen.
        Xlib.error.BadWindow: it no longer exists.
    """
    from Xlib import X

    if window.get_attributes().map_state != X.IsViewable:
        raise SourceError(f"window {title!r} is minimised or hidden; bring it back on the screen")
    root = display.screen().root
    geometry = window.get_geometry()
    origin = window.translate_coords(root, 0, 0)  # the window's (0, 0) in root coordinates, negated
    left, top = -origin.x, -origin.y
    screen_w, screen_h = display.screen().width_in_pixels, display.screen().height_in_pixels
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(screen_w, left + geometry.width), min(screen_h, top + geometry.height)
    if x1 - x0 < 16 or y1 - y0 < 16:
        raise SourceError(f"window {title!r} is off the screen ({geometry.width}x{geometry.height} at {left},{top}); "
                          f"move it onto the screen")
    return {"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}


def _connect() -> object:
    """An ``Xlib.display.Display`` on $DISPLAY; SourceError with the fix when there is none."""
    if not sys.platform.startswith("linux"):
        raise SourceError("window:TITLE capture works on Linux (X11) only for now; use screen:X,Y,W,H with "
                          "the meeting window's position instead")
    if not os.environ.get("DISPLAY"):
        wayland = " (a Wayland session lets no program read another's window)" if os.environ.get("WAYLAND_DISPLAY") else ""
        raise SourceError(f"window:TITLE capture needs an X11 display and DISPLAY is not set{wayland}; use screen:N "
                          f"or screen:X,Y,W,H, or run vcam in an X11 (Xorg) session")
    import Xlib.display
    from Xlib import error as xerror

    try:
        return Xlib.display.Display()
    except (xerror.DisplayError, xerror.ConnectionClosedError, OSError) as err:
        raise SourceError(f"cannot reach the X display {os.environ['DISPLAY']!r} to find the window: {err}; "
                          f"check that DISPLAY points at a running X server") from err
