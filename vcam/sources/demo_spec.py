"""The ``demo`` source's spec: its grammar and its checks, pure (no OpenCV, numpy or PIL).

Grammar (tokens after ``demo`` are separated by ``:`` and may come in any order, each at most once)::

    demo                         the classic 3x3 gallery, 1920x1080 (as before themes existed)
    demo:RxC[@WxH]               the classic gallery with R rows and C columns, optionally at WxH pixels
    demo:THEME[:TOKEN...]        a simulated meeting; THEME is zoom or teams (classic: the plain look)

    TOKEN   RxC[@WxH] | @WxH     a full R x C grid (R*C people) and/or the frame size
            n=N                  N people (1..49) in the app's grid for N: ceil(sqrt(N)) columns, an uneven
                                 last row centred (not together with RxC)
            off=K                K of them have their camera off (initials on a disc)
            churn                people join and leave (one change every CHURN_S seconds), the gallery re-flows
            speaker              speaker view: the active speaker large, the others in a filmstrip
            light                the theme's light variant
            seed=S               another deterministic meeting (motion, who speaks, who has the camera off)

Examples: ``demo:zoom``, ``demo:zoom:5x5``, ``demo:teams:n=23:off=3``, ``demo:zoom:7x7@1280x720``,
``demo:zoom:n=12:churn:speaker``, ``demo:teams:light:4x4``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vcam.errors import ConfigError, SourceSpecError
from vcam.sources import tiles

THEMES = ("classic", "zoom", "teams")
"""The looks the demo draws: ``classic`` (plain, as before themes), Zoom-like and Teams-like."""
DEMO_FORMS = ("demo or demo:ROWSxCOLS[@WIDTHxHEIGHT], e.g. demo:1x1@1280x720, or demo:THEME[:RxC][:@WxH][:n=N]"
              "[:off=K][:churn][:speaker][:light][:seed=S] with THEME zoom, teams or classic, e.g. demo:zoom:n=23")
"""What a demo spec may look like, for error messages and ``SOURCE_SPECS``."""
_GRID = re.compile(r"(?:(\d+)x(\d+))?(?:@(\d+)x(\d+))?")
_NUMBERS = {"n": "people", "off": "off", "seed": "seed"}
_FLAGS = ("churn", "speaker", "light")


@dataclass(frozen=True)
class DemoOptions:
    """How a themed demo meeting looks and behaves (the keyword arguments of ``DemoSource`` beyond its grid).

    Attributes:
        theme: one of :data:`THEMES`.
        people: participants at the start; None: rows x cols.
        off: how many of them have their camera off, 0..people.
        churn: people join and leave over time and the gallery re-flows.
        speaker: speaker view (one large tile and a filmstrip) instead of the gallery grid.
        light: the theme's light variant.
        seed: picks motion, speakers, camera-off people and churn; same seed, same meeting.
    """

    theme: str = "classic"
    people: int | None = None
    off: int = 0
    churn: bool = False
    speaker: bool = False
    light: bool = False
    seed: int = 0


def parse_demo(text: str, arg: str) -> tuple[int, int, tuple[int, int], DemoOptions | None]:
    """``(rows, cols, (width, height), options)`` of the demo spec ``text`` whose part after ``demo:`` is ``arg``.

    ``options`` is None for the classic forms ``demo`` and ``demo:RxC[@WxH]``, so they keep meaning what
    they meant before themes. For a themed spec, ``rows`` x ``cols`` is the grid of its first frame.

    Raises:
        SourceSpecError: a token is unknown or given twice, a number is out of range, or the tiles would
            be too small; the message names the spec, the token and the fix.
    """
    grid, size, fields = _tokens(text, arg)
    size = size or tiles.SIZE
    rows, cols = grid or (tiles.ROWS, tiles.COLS)
    _check(lambda: tiles.check_grid(rows, cols, *size))
    if not fields:
        return rows, cols, size, None
    options = DemoOptions(**fields)
    if grid and options.people is not None:
        raise SourceSpecError(f"bad demo source {text!r}: give either ROWSxCOLS or n=N, not both")
    people = options.people or (grid[0] * grid[1] if grid else tiles.ROWS * tiles.COLS)
    _check_counts(text, options, people, grid)
    rows, cols = grid or tiles.app_grid(people)
    widest = tiles.app_grid(min(tiles.MAX_PEOPLE, people + 2)) if options.churn else (rows, cols)
    _check(lambda: tiles.check_grid(max(rows, widest[0]), max(cols, widest[1]), *size))
    return rows, cols, size, options


def _tokens(text: str, arg: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None, dict[str, object]]:
    """The grid, the size and the DemoOptions fields the tokens of ``arg`` give (None / empty: not given)."""
    grid, size, fields = None, None, {}
    for token in (t.strip() for t in arg.split(":") if arg):
        key, value = _token(text, token)
        if key in fields or (key == "grid" and (grid or size)):
            raise SourceSpecError(f"bad demo source {text!r}: {token!r} is given twice (or the grid or size is)")
        if key == "grid":
            grid, size = value
        else:
            fields[key] = value
    return grid, size, fields


def _token(text: str, token: str) -> tuple[str, object]:
    """``(field, value)`` of one token: ``grid`` -> ``(grid, size)``, else a DemoOptions field."""
    m = _GRID.fullmatch(token)
    if token and m:
        r, c, w, h = (int(v) if v else None for v in m.groups())
        return "grid", ((r, c) if r is not None else None, (w, h) if w is not None else None)
    if token in THEMES:
        return "theme", token
    if token in _FLAGS:
        return token, True
    key, eq, value = token.partition("=")
    if eq and key in _NUMBERS:
        if not value.isdigit():
            raise SourceSpecError(f"bad demo source {text!r}: {key}= takes a whole number >= 0, got {value!r} "
                                  f"(the frame size is a token of its own, e.g. demo:zoom:n=23:@1280x720)")
        return _NUMBERS[key], int(value)
    raise SourceSpecError(f"bad demo source {text!r}: expected {DEMO_FORMS}; {token!r} is none of these")


def _check_counts(text: str, options: DemoOptions, people: int, grid: tuple[int, int] | None) -> None:
    """Raise SourceSpecError when the people or camera-off counts are out of range."""
    if options.people is not None and not 1 <= options.people <= tiles.MAX_PEOPLE:
        raise SourceSpecError(f"bad demo source {text!r}: n must be between 1 and {tiles.MAX_PEOPLE} "
                              f"(a gallery page shows at most {tiles.MAX_PEOPLE}), got {options.people}")
    if not 0 <= options.off <= people:
        raise SourceSpecError(f"bad demo source {text!r}: off must be between 0 and the {people} people, "
                              f"got {options.off}")


def _check(check: Callable[[], None]) -> None:
    """Run ``check()``; its ConfigError (e.g. tiles too small) becomes a SourceSpecError with the same text."""
    try:
        check()
    except ConfigError as err:
        raise SourceSpecError(str(err)) from None
