"""Frame sources: the one place their specs are parsed, and the registry that makes them.

Specs (``vcam run --source SPEC``):

==================  ==============================================
``demo``            a generated 3×3 meeting gallery of real portraits, 1920×1080
``demo:RxC[@WxH]``  the same with R rows and C columns, optionally at W×H pixels
                    (``demo:1x1@1280x720`` is one face in a 720p stream)
``demo:THEME[:…]``  a simulated Zoom or Teams meeting with known ground truth, e.g.
                    ``demo:zoom:n=23:off=3``, ``demo:teams:5x5:churn``, ``demo:zoom:speaker``
                    (the grammar: :mod:`vcam.sources.demo_spec`)
``webcam[:N]``      camera N (default 0) through OpenCV
``screen[:M]``      monitor M (default 1, the primary; 0 = all monitors)
``screen:X,Y,W,H``  a region of the screen in pixels
``window:TITLE``    the window whose title contains TITLE (any case), followed as
                    it moves (X11), e.g. ``window:Zoom Meeting``
``portal[:KIND]``   on Wayland: the screen or window the user chooses once in the desktop's
                    dialog (the ScreenCast portal); KIND ``screen`` or ``window`` limits the
                    choice. ``screen…`` and ``window:…`` use it on a Wayland session too
``PATH``            a video file; ``loop=True`` restarts it at the end
==================  ==============================================

A spec is parsed first, then built::

    spec = parse_source("demo:2x2")     # a SourceSpec: the text is checked, nothing is opened or imported
    with make_source(spec) as src:      # the Source it names, opened by the with block
        for frame in src:
            ...

:data:`SOURCES` maps each kind of spec to the factory that makes its Source. A factory imports its module
only when it is called, so importing this package loads neither OpenCV nor mss nor python-xlib.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vcam.errors import SourceError, SourceSpecError
from vcam.sources.base import Source
from vcam.sources.demo_spec import DemoOptions, parse_demo

__all__ = ["SOURCES", "SOURCE_SPECS", "Source", "SourceFactory", "SourceSpec", "choose_again", "make_source",
           "parse_source", "portal_kind", "video_path"]

log = logging.getLogger(__name__)

SOURCE_SPECS = ("demo[:RxC[@WxH]], demo:zoom|teams[:OPTION...], webcam[:N], screen[:MONITOR], screen:X,Y,W,H, window:TITLE, "
                "portal[:screen|window], or a path to a video file")
_WHOLE = re.compile(r"-?\d+")
_VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source spec: the kind of source and its arguments. Nothing is opened.

    Only the fields of its kind are set; the others are None.

    Attributes:
        kind: ``demo``, ``webcam``, ``screen``, ``window``, ``portal`` or ``video``: the key of its factory in
            :data:`SOURCES`.
        text: the spec as given, without surrounding spaces.
        index: the camera's OpenCV index (``webcam``).
        monitor: the mss monitor: 1 = primary, 2… = others, 0 = all together (``screen`` without a region).
        region: ``(x, y, w, h)`` of the screen in pixels (``screen:X,Y,W,H``).
        title: part of the window's title, spaces around it trimmed (``window``); ``any``, ``screen`` or
            ``window``, what the desktop's dialog offers (``portal``).
        rows, cols: the demo gallery's grid (``demo``).
        size: the demo's frame ``(width, height)`` in pixels (``demo``).
        demo: a themed demo's options (``demo:zoom…``); None for the classic ``demo`` and ``demo:RxC[@WxH]``.
        path: the video file, ``~`` expanded (``video``); it need not exist (:func:`video_path` checks).
    """

    kind: str
    text: str
    index: int | None = None
    monitor: int | None = None
    region: tuple[int, int, int, int] | None = None
    title: str | None = None
    rows: int | None = None
    cols: int | None = None
    size: tuple[int, int] | None = None
    path: Path | None = None
    demo: DemoOptions | None = None


# -- parse ---------------------------------------------------------------------------------------------------

def parse_source(spec: str) -> SourceSpec:
    """The :class:`SourceSpec` ``spec`` names (see the module docstring for the forms).

    Pure: it opens no device or file and imports no source module. The only thing it looks at outside the
    text is whether a path exists, which decides whether an unknown word is a video file.

    Raises:
        SourceSpecError: ``spec`` is not one of the forms, or its demo grid is out of range; the message
            names the spec and the form expected.
    """
    text = spec.strip()
    kind, _, arg = text.partition(":")
    parse = _PARSERS.get(kind, _video)
    return parse(text, arg)


def _demo(text: str, arg: str) -> SourceSpec:
    rows, cols, size, options = parse_demo(text, arg)
    return SourceSpec("demo", text, rows=rows, cols=cols, size=size, demo=options)


def _webcam(text: str, arg: str) -> SourceSpec:
    return SourceSpec("webcam", text, index=_index(text, arg, default=0))


def _screen(text: str, arg: str) -> SourceSpec:
    if "," not in arg:
        return SourceSpec("screen", text, monitor=_index(text, arg, default=1))
    parts = arg.split(",")
    if len(parts) != 4 or not all(_WHOLE.fullmatch(p.strip()) for p in parts):
        raise SourceSpecError(f"bad screen region {text!r}: expected screen:X,Y,W,H in whole pixels, e.g. screen:0,0,1280,720")
    x, y, w, h = (int(p) for p in parts)
    return SourceSpec("screen", text, region=(x, y, w, h))


def _window(text: str, arg: str) -> SourceSpec:
    if not arg.strip():
        raise SourceSpecError(f"bad window source {text!r}: give part of the window's title, e.g. window:Zoom Meeting")
    return SourceSpec("window", text, title=arg.strip())


def _portal(text: str, arg: str) -> SourceSpec:
    choice = arg.strip().lower() or "any"
    if choice not in ("any", "screen", "window"):
        raise SourceSpecError(f"bad portal source {text!r}: use portal, portal:screen or portal:window")
    return SourceSpec("portal", text, title=choice)


def _video(text: str, arg: str) -> SourceSpec:
    """A video file: a path that exists, or one that looks like a video file (a video suffix or a folder)."""
    path = Path(text).expanduser()
    if _exists(path) or path.suffix.lower() in _VIDEO_SUFFIXES or "/" in text or "\\" in text:
        return SourceSpec("video", text, path=path)
    raise SourceSpecError(f"unknown source {text!r}: expected {SOURCE_SPECS}")


def _exists(path: Path) -> bool:
    """Whether something is at ``path``; False, not OSError, for a name too long or a folder that cannot be read."""
    try:
        return path.exists()
    except OSError:
        return False


def _index(text: str, arg: str, default: int) -> int:
    if not arg:
        return default
    if not arg.isdigit():
        raise SourceSpecError(f"bad source {text!r}: the part after ':' must be a whole number >= 0, got {arg!r}")
    return int(arg)


_PARSERS = {"demo": _demo, "webcam": _webcam, "screen": _screen, "window": _window, "portal": _portal}
"""Spec kind (the part before ``:``) → its parser; any other spec is a video file or an error."""


# -- build ---------------------------------------------------------------------------------------------------

class SourceFactory(Protocol):
    """Makes the Source of one kind from its parsed spec, not yet opened."""

    def __call__(self, spec: SourceSpec, *, realtime: bool, loop: bool, fps: float | None) -> Source:
        """See :func:`make_source` for the arguments."""


def make_source(spec: str | SourceSpec, *, realtime: bool = True, loop: bool = False,
                fps: float | None = None) -> Source:
    """Make the source a spec names, not yet opened: use it in a ``with`` block.

    Args:
        spec: a spec (see the module docstring), or one :func:`parse_source` already parsed.
        realtime: pace frames at the source's rate (live) or deliver them as fast as possible.
        loop: restart a video file at its end.
        fps: the frame rate of demo, screen and window sources (None: 30), within
            :data:`vcam.limits.FPS`; other sources deliver at their own rate.

    Raises:
        SourceSpecError: the spec does not parse, or no factory is registered for its kind.
        SourceError: it names a video file that does not exist.
        ConfigError: ``fps`` is out of range.
    """
    parsed = parse_source(spec) if isinstance(spec, str) else spec
    if parsed.kind not in SOURCES:
        raise SourceSpecError(f"unknown source kind {parsed.kind!r} in {parsed.text!r}: "
                              f"known kinds are {', '.join(SOURCES)}")
    return SOURCES[parsed.kind](parsed, realtime=realtime, loop=loop, fps=fps)


def video_path(spec: SourceSpec) -> Path:
    """The video file ``spec`` names, which must exist.

    Raises:
        SourceError: there is no file or folder at that path; the message says where relative paths start.
    """
    if spec.path is None or not _exists(spec.path):
        raise SourceError(f"video file not found: {spec.text!r}; check the path (relative paths start from {Path.cwd()})")
    return spec.path


def _given(**kwargs: object) -> dict[str, object]:
    """The keyword arguments that are not None: the others keep the source's defaults."""
    return {key: value for key, value in kwargs.items() if value is not None}


def _make_demo(spec: SourceSpec, *, realtime: bool, loop: bool, fps: float | None) -> Source:
    from vcam.sources.demo import DemoSource

    width, height = spec.size or (None, None)
    options = dataclasses.asdict(spec.demo) if spec.demo else {}
    return DemoSource(realtime=realtime, spec=spec.text, **options,
                      **_given(rows=spec.rows, cols=spec.cols, width=width, height=height, fps=fps))


def _make_webcam(spec: SourceSpec, *, realtime: bool, loop: bool, fps: float | None) -> Source:
    from vcam.sources.webcam import WebcamSource

    return WebcamSource(**_given(index=spec.index))  # paced by the camera, at the camera's rate


def portal_kind(spec: SourceSpec) -> str | None:
    """What the desktop's dialog offers for ``spec`` (``any``, ``screen``, ``window``), or None when the spec is
    not captured through the ScreenCast portal: ``portal…`` always, ``screen…`` and ``window:…`` on Wayland."""
    if spec.kind == "portal":
        return spec.title
    if spec.kind in ("screen", "window"):
        from vcam.sources.portal import wayland_session

        return spec.kind if wayland_session() else None
    return None


def choose_again(spec: str | SourceSpec) -> None:
    """Make the next open of ``spec`` ask the user in the desktop's dialog (a source chosen anew in the tray)."""
    parsed = parse_source(spec) if isinstance(spec, str) else spec
    kind = portal_kind(parsed)
    if kind is not None:
        from vcam.sources.portal import choose_again as forget

        forget(kind)


def _make_portal(spec: SourceSpec, *, realtime: bool, loop: bool, fps: float | None) -> Source:
    from vcam.sources.portal import PortalSource

    return PortalSource(spec.text, portal_kind(spec) or "any", region=spec.region, realtime=realtime,
                        **_given(fps=fps))


def _make_screen(spec: SourceSpec, *, realtime: bool, loop: bool, fps: float | None) -> Source:
    from vcam.sources.screen import ScreenSource

    if portal_kind(spec):
        log.info("this is a Wayland session, where %s (X11 capture) sees no Wayland window: capturing through "
                 "the desktop's screen-sharing portal instead; choose the screen once in the desktop's dialog",
                 spec.text)
        return _make_portal(spec, realtime=realtime, loop=loop, fps=fps)

    return ScreenSource(spec.text, realtime=realtime, **_given(monitor=spec.monitor, region=spec.region, fps=fps))


def _make_window(spec: SourceSpec, *, realtime: bool, loop: bool, fps: float | None) -> Source:
    from vcam.sources.window import WindowSource

    if portal_kind(spec):
        log.info("this is a Wayland session, where window capture by title (X11) sees no Wayland window: "
                 "capturing through the desktop's screen-sharing portal instead; choose the window titled %r "
                 "once in the desktop's dialog", spec.title)
        return _make_portal(spec, realtime=realtime, loop=loop, fps=fps)

    return WindowSource(spec.text, spec.title, realtime=realtime, **_given(fps=fps))


def _make_video(spec: SourceSpec, *, realtime: bool, loop: bool, fps: float | None) -> Source:
    from vcam.sources.video import VideoSource

    return VideoSource(video_path(spec), realtime=realtime, loop=loop)  # at the file's own rate


SOURCES: dict[str, SourceFactory] = {
    "demo": _make_demo,
    "webcam": _make_webcam,
    "screen": _make_screen,
    "window": _make_window,
    "portal": _make_portal,
    "video": _make_video,
}
"""Source kind → the factory that makes it (as pyvirtualcam keeps its backends by name).

A new kind of source needs a module with its Source, a factory here, and a parser in ``_PARSERS``.
"""
