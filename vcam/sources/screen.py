"""The screen, or a region of it, through mss: the meeting's gallery view."""

from __future__ import annotations

import logging
import os
import sys

import mss
import numpy as np

from vcam.errors import SourceError, SourceLost
from vcam.limits import FPS
from vcam.sources.base import Source

log = logging.getLogger(__name__)


class ScreenSource(Source):
    """A monitor or a rectangle of the screen.

    Args:
        spec: the spec string, for messages and frames.
        monitor: mss monitor number: 1 = primary, 2… = others, 0 = all monitors together.
        region: ``(x, y, w, h)`` in virtual-screen pixels; overrides ``monitor``.
        fps: capture rate, within :data:`vcam.limits.FPS`.

    Raises:
        ConfigError: ``fps`` is out of range.
    """

    def __init__(self, spec: str, monitor: int = 1, region: tuple[int, int, int, int] | None = None,
                 fps: float = 30.0, realtime: bool = True) -> None:
        FPS.check(fps, "capture fps")
        super().__init__(spec, fps=fps, realtime=realtime)
        self.monitor = monitor
        self.region = region
        self._box: dict[str, int] = {}
        self._mss: mss.base.MSSBase | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self._box.get("width", 0), self._box.get("height", 0)

    def _open(self) -> None:
        _check_display()
        try:
            with mss.MSS() as sct:
                monitors = sct.monitors
        except mss.ScreenShotError as err:
            raise SourceError(f"cannot read the screen: {err}; check that DISPLAY points at a running X server") from err
        self._box = self._region_box(monitors) if self.region else self._monitor_box(monitors)

    def _monitor_box(self, monitors: list[dict[str, int]]) -> dict[str, int]:
        if self.monitor >= len(monitors):
            raise SourceError(
                f"no monitor {self.monitor}: this screen has {len(monitors) - 1} monitor(s); "
                f"use screen:1 to screen:{len(monitors) - 1}, or screen:0 for all of them")
        return dict(monitors[self.monitor])

    def _region_box(self, monitors: list[dict[str, int]]) -> dict[str, int]:
        x, y, w, h = self.region
        full = monitors[0]
        right, bottom = full["left"] + full["width"], full["top"] + full["height"]
        if w <= 0 or h <= 0 or x < full["left"] or y < full["top"] or x + w > right or y + h > bottom:
            raise SourceError(
                f"screen region x={x}, y={y}, w={w}, h={h} is not inside the screen "
                f"({full['left']},{full['top']} to {right},{bottom}); pick a region within it, "
                f"e.g. screen:0,0,{min(1280, full['width'])},{min(720, full['height'])}")
        return {"left": x, "top": y, "width": w, "height": h}

    def _grab(self) -> np.ndarray | None:
        try:
            if self._mss is None:  # created on the grabbing thread: X connections are per thread
                self._mss = mss.MSS()
            shot = self._mss.grab(self._box)
        except (mss.ScreenShotError, AssertionError, OSError) as err:  # mss 10 asserts when the X server is gone
            raise SourceLost(f"screen capture failed ({type(err).__name__}: {err}); the region or display "
                             f"went away") from err
        w, h = shot.size
        return np.frombuffer(shot.bgra, np.uint8).reshape(h, w, 4)

    def _release(self) -> None:
        if self._mss is not None:
            try:
                self._mss.close()
            except Exception as err:  # noqa: BLE001 - mss raises when the X server is already gone
                log.debug("closing the screen grabber: %s", err)


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise SourceError("no display to capture: DISPLAY is not set; run vcam inside your desktop session "
                          "(or start Xvfb and export DISPLAY), or use --source demo, webcam or a video file")
