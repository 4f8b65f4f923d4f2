"""Frame sources and the one place their specs are parsed.

Specs (``vcam run --source SPEC``):

==================  ==============================================
``demo``            a generated 3×3 meeting gallery of real portraits, 1920×1080
``demo:RxC[@WxH]``  the same with R rows and C columns, optionally at W×H pixels
                    (``demo:1x1@1280x720`` is one face in a 720p stream)
``webcam[:N]``      camera N (default 0) through OpenCV
``screen[:M]``      monitor M (default 1, the primary; 0 = all monitors)
``screen:X,Y,W,H``  a region of the screen in pixels
``window:TITLE``    the window whose title contains TITLE (any case), followed as
                    it moves (X11), e.g. ``window:Zoom Meeting``
``PATH``            a video file; ``loop=True`` restarts it at the end
==================  ==============================================
"""

from __future__ import annotations

import re
from pathlib import Path

from vcam.errors import SourceError, SourceSpecError
from vcam.sources.base import Source

__all__ = ["Source", "open_source", "SOURCE_SPECS"]

SOURCE_SPECS = ("demo[:RxC[@WxH]], webcam[:N], screen[:MONITOR], screen:X,Y,W,H, window:TITLE, "
                "or a path to a video file")
_DEMO = re.compile(r"(\d+)x(\d+)(?:@(\d+)x(\d+))?")
_VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


def open_source(spec: str, *, realtime: bool = True, loop: bool = False, fps: float | None = None) -> Source:
    """Make the source a spec names (not yet opened; use it in a ``with`` block).

    Args:
        spec: see the module docstring.
        realtime: pace frames at the source's rate (live) or deliver them as fast as possible.
        loop: restart a video file at its end.
        fps: override the frame rate of demo and screen sources.

    Raises:
        SourceSpecError: the spec is not one of the forms above.
        SourceError: it names a video file that does not exist.
    """
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    rate = {} if fps is None else {"fps": fps}
    if kind == "demo":
        return _demo(spec, arg, realtime, rate)
    if kind == "webcam":
        from vcam.sources.webcam import WebcamSource

        return WebcamSource(_parse_index(spec, arg, default=0))
    if kind == "screen":
        return _screen(spec, arg, realtime, rate)
    if kind == "window":
        return _window(spec, arg, realtime, rate)
    return _video(spec, realtime, loop)


def _demo(spec: str, arg: str, realtime: bool, rate: dict) -> Source:
    from vcam.sources.demo import DemoSource

    if not arg:
        return DemoSource(realtime=realtime, spec=spec, **rate)
    m = _DEMO.fullmatch(arg)
    if m is None:
        raise SourceSpecError(f"bad demo source {spec!r}: expected demo or demo:ROWSxCOLS[@WIDTHxHEIGHT], e.g. demo:1x1@1280x720")
    rows, cols, width, height = (int(v) if v else None for v in m.groups())
    size = {"width": width, "height": height} if width else {}
    return DemoSource(rows=rows, cols=cols, realtime=realtime, spec=spec, **size, **rate)


def _screen(spec: str, arg: str, realtime: bool, rate: dict) -> Source:
    from vcam.sources.screen import ScreenSource

    if "," in arg:
        parts = arg.split(",")
        if len(parts) != 4 or not all(re.fullmatch(r"-?\d+", p.strip()) for p in parts):
            raise SourceSpecError(f"bad screen region {spec!r}: expected screen:X,Y,W,H in whole pixels, e.g. screen:0,0,1280,720")
        return ScreenSource(spec, region=tuple(int(p) for p in parts), realtime=realtime, **rate)
    return ScreenSource(spec, monitor=_parse_index(spec, arg, default=1), realtime=realtime, **rate)


def _window(spec: str, arg: str, realtime: bool, rate: dict) -> Source:
    from vcam.sources.window import WindowSource

    if not arg.strip():
        raise SourceSpecError(f"bad window source {spec!r}: give part of the window's title, e.g. window:Zoom Meeting")
    return WindowSource(spec, arg.strip(), realtime=realtime, **rate)


def _video(spec: str, realtime: bool, loop: bool) -> Source:
    from vcam.sources.video import VideoSource

    path = Path(spec).expanduser()
    if path.exists():
        return VideoSource(path, realtime=realtime, loop=loop)
    if path.suffix.lower() in _VIDEO_SUFFIXES or "/" in spec or "\\" in spec:
        raise SourceError(f"video file not found: {spec!r}; check the path (relative paths start from {Path.cwd()})")
    raise SourceSpecError(f"unknown source {spec!r}: expected {SOURCE_SPECS}")


def _parse_index(spec: str, arg: str, default: int) -> int:
    if not arg:
        return default
    if not arg.isdigit():
        raise SourceSpecError(f"bad source {spec!r}: the part after ':' must be a whole number >= 0, got {arg!r}")
    return int(arg)
