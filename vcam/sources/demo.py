"""A simulated meeting: a Zoom- or Teams-like gallery of real portraits, made at run time, with its ground truth.

``DemoSource`` draws what a presenter sees in a video meeting: a window with a gallery of 16:9 tiles,
each holding one participant's webcam picture (or, camera off, their initials on a disc) and their name
in the bottom-left corner. Themes (:mod:`vcam.sources.demo_theme`) give Zoom's look (touching tiles, a
green speaker border), Teams' (rounded tiles, wide gaps, a purple border), light variants, and the
classic plain look of ``demo`` / ``demo:RxC``. Options simulate a real meeting: ``n`` people in the app's
grid with an uneven, centred last row, cameras off, people joining and leaving (churn, with re-flow),
a speaker view, and an active speaker that changes every few seconds.

The participants are the public-domain and MIT-licensed portraits in ``vcam/assets/portraits`` (see the
SOURCES.md there), reused mirrored when there are more tiles than portraits. To give every pipeline
stage real work, each face drifts, zooms, tilts and turns a little, smoothly and differently per person:

* translation up to :data:`MAX_SHIFT` of the tile's width and height,
* scale between ``1 - MAX_ZOOM`` and ``1 + MAX_ZOOM``,
* in-plane rotation up to :data:`MAX_ROLL_DEG`,
* a simulated head turn: a horizontal squeeze of up to :data:`MAX_TURN`.

Like a real gallery view, each participant's video runs at half the window's frame rate
(:data:`TILE_RATE_DIVISOR`), staggered so that half of the tiles change on every frame; labels and
avatars are cached sprites. A 1920x1080 7x7 frame takes a few milliseconds.

Frame ``i`` is a pure function of ``i`` and the constructor arguments, and :meth:`DemoSource.truth`
says what it shows (tiles, names as drawn, cameras off, who speaks), so tests, benchmarks and evaluations
know the answer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import ConfigError, SourceError
from vcam.limits import FPS
from vcam.sources import demo_theme, tiles
from vcam.sources.base import Source
from vcam.sources.demo_meeting import DemoTile, DemoTruth, Meeting
from vcam.sources.demo_people import load_portraits, portrait_files, portrait_of
from vcam.sources.tiles import Rect

__all__ = ["DemoSource", "DemoTile", "DemoTruth", "load_portraits"]

log = logging.getLogger(__name__)

MAX_SHIFT = 0.06
"""Largest translation of a face, as a fraction of its tile's width / height."""
MAX_ZOOM = 0.10
"""Largest relative change of a face's scale (0.10 -> 0.9 to 1.1)."""
MAX_ROLL_DEG = 8.0
"""Largest in-plane rotation of a face, degrees."""
MAX_TURN = 0.10
"""Largest horizontal squeeze of a face, simulating a head turn (0.10 -> 90% width)."""
TILE_RATE_DIVISOR = 2
"""Each tile's video updates on every 2nd frame (staggered across people); 1 = every frame."""


@dataclass(frozen=True)
class _Motion:
    """One person's motion: per-component phases (radians) and frequencies (Hz)."""

    phase: np.ndarray  # (5,) float64: x, y, zoom, roll, turn
    freq: np.ndarray  # (5,) float64, Hz

    def at(self, t: float) -> np.ndarray:
        """``(5,)`` values in -1..1 for x, y, zoom, roll and turn at ``t`` seconds."""
        return np.sin(2 * math.pi * self.freq * t + self.phase)


class DemoSource(Source):
    """An endless, deterministic meeting of real portraits, with its ground truth.

    Args:
        rows: tile rows of the gallery while it holds its first ``people``, >= 1.
        cols: tile columns, >= 1.
        width: frame width in pixels, within :data:`vcam.limits.WIDTH`.
        height: frame height in pixels, within :data:`vcam.limits.HEIGHT`.
        fps: frame rate, within :data:`vcam.limits.FPS`; also the clock of the meeting (frame ``i`` is
            ``i / fps`` s).
        realtime: pace frames at ``fps`` (live) or make them as fast as possible.
        seed: picks motion, speakers, cameras off and churn; same seed, same meeting.
        portrait_dir: folder of ``NN_first_last.jpg`` portraits; default the ones shipped in ``vcam.assets``.
        spec: the spec string it was opened from, kept in every Frame (e.g. ``"demo:zoom:5x5"``).
        theme: ``classic`` (plain; repeats of a portrait keep its name; no speaker border), ``zoom`` or ``teams``.
        people: participants at the start, 1..rows*cols; None: rows * cols (with a smaller number the last
            row is uneven and centred).
        off: how many of them have their camera off, 0..people.
        churn: one person joins or leaves every ``demo_people.CHURN_S`` seconds and the gallery re-flows.
        speaker: speaker view (the active speaker large, up to 5 others in a filmstrip).
        light: the theme's light variant (same as the theme where there is none).

    Raises:
        ConfigError: an argument is out of range (the message names it), or the grid leaves tiles under
            32x18 pixels.

    Like every source, it is read from one thread: ``render`` updates a shared canvas.
    """

    def __init__(self, rows: int = tiles.ROWS, cols: int = tiles.COLS, width: int = tiles.SIZE[0],
                 height: int = tiles.SIZE[1], fps: float = 30.0, realtime: bool = True, seed: int = 0, *,
                 portrait_dir: Path | Traversable | None = None, spec: str = "demo", theme: str = "classic",
                 people: int | None = None, off: int = 0, churn: bool = False, speaker: bool = False,
                 light: bool = False) -> None:
        tiles.check_grid(rows, cols, width, height)
        FPS.check(fps, "DemoSource fps")
        people = _check_people(rows, cols, people, off, theme)
        super().__init__(spec, fps=fps, realtime=realtime)
        self.rows, self.cols, self.people, self.seed = int(rows), int(cols), people, seed
        self._size = (int(width), int(height))
        self._portrait_dir = portrait_dir
        self.look = demo_theme.theme(theme, light)
        self._options = dict(off=off, churn=churn, speaker_view=speaker, seed=seed, classic=theme == "classic")
        self._meeting: Meeting | None = None
        self._faces: list[np.ndarray] = []
        self._fitted: dict[tuple[int, bool, int, int], np.ndarray] = {}
        self._motions: dict[int, _Motion] = {}
        self._canvas: np.ndarray | None = None
        self._drawn: tuple[Rect, ...] = ()
        self._shown: list[tuple[object, ...] | None] = []

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames in pixels."""
        return self._size

    @property
    def meeting(self) -> Meeting:
        """Who shows where and when (reads the portraits' names, not their pictures)."""
        if self._meeting is None:
            names = [name for name, _ in portrait_files(self._portrait_dir)]
            self._meeting = Meeting(self._size, self.rows, self.cols, self.people, self.look, names, **self._options)
        return self._meeting

    def truth(self, index: int) -> DemoTruth:
        """What frame ``index`` shows: each visible tile's rect, label rect, participant, name as drawn,
        camera off and speaking, and the layout kind. Needs no open source; the same for every call."""
        return self.meeting.at(index, index / self.fps)

    def tile_rects(self) -> list[tuple[int, int, int, int]]:
        """Each tile's ``(x, y, w, h)`` in frame pixels at frame 0, reading order."""
        return [tile.rect for tile in self.truth(0).tiles]

    def tile_names(self) -> list[str]:
        """The full name of the participant in each tile at frame 0, reading order."""
        return [tile.full_name for tile in self.truth(0).tiles]

    def _open(self) -> None:
        portraits = load_portraits(self._portrait_dir)
        self._faces = [image for _, image in portraits]
        self._canvas = np.empty((self._size[1], self._size[0], 3), np.uint8)
        self._drawn, self._shown = (), []
        log.debug("demo meeting (%s): %d people from %d portraits", self.look.name, self.people, len(portraits))

    def _grab(self) -> np.ndarray:
        return self.render(self._index)

    def render(self, index: int) -> np.ndarray:
        """Frame ``index`` of the demo: a new ``(height, width, 3) uint8`` BGR array (source must be open).

        Tiles whose picture is the same as in the last rendered frame are not redrawn.
        """
        if self._canvas is None:
            raise SourceError("the demo source is not open; use it in a 'with' block")
        truth = self.truth(index)
        rects = tuple(tile.rect for tile in truth.tiles)
        if rects != self._drawn:
            self._canvas[:] = self.look.window
            self._drawn, self._shown = rects, [None] * len(rects)
            log.debug("demo layout at frame %d: %s of %d tiles", index, truth.kind, len(rects))
        for i, tile in enumerate(truth.tiles):
            step = -1 if tile.camera_off else _tile_step(index, tile.participant)
            key = (tile.participant, step, tile.speaking, tile.name)
            if self._shown[i] != key:
                self._draw(tile, step)
                self._shown[i] = key
        return self._canvas.copy()

    def _draw(self, tile: DemoTile, step: int) -> None:
        """Redraw ``tile`` on the canvas as it looks at frame ``step`` (-1: camera off, no motion)."""
        x, y, w, h = tile.rect
        view = self._canvas[y:y + h, x:x + w]
        look = self.look
        if tile.camera_off:
            cv2.rectangle(view, (0, 0), (w - 1, h - 1), look.camera_off, cv2.FILLED)
            _blend_avatar(view, tile.full_name)
        else:
            cv2.rectangle(view, (0, 0), (w - 1, h - 1), look.tile, cv2.FILLED)  # 50x faster than numpy here
            motion = self._motion(tile.participant).at(step / self.fps)
            _warp_face(view, self._face(tile.participant, w, h), motion)
        sprite = demo_theme.label(tile.full_name, w, h, look)
        lx, ly, _, _ = tile.label
        sprite.blend(view, lx - x, ly - y)
        if tile.speaking and look.speaking is not None:
            demo_theme.speaker_border(view, look.px(look.border, self._size[1], 2), look.px(look.radius, self._size[1]),
                                      look.speaking)
        demo_theme.round_corners(view, look.px(look.radius, self._size[1]), look.window)

    def _face(self, participant: int, w: int, h: int) -> np.ndarray:
        """Participant's portrait (mirrored on a repeat) scaled for a ``w`` x ``h`` tile, cached."""
        index, mirrored = portrait_of(participant, len(self._faces))
        key = (index, mirrored, w, h)
        if key not in self._fitted:
            image = self._faces[index][:, ::-1] if mirrored else self._faces[index]
            self._fitted[key] = _fit(np.ascontiguousarray(image), w, h)
        return self._fitted[key]

    def _motion(self, participant: int) -> _Motion:
        if participant not in self._motions:
            self._motions[participant] = _motion(self.seed, participant)
        return self._motions[participant]



def _check_people(rows: int, cols: int, people: int | None, off: int, theme: str) -> int:
    """``people`` (None: rows * cols), checked with ``off`` and ``theme``; ConfigError names the bad argument."""
    if theme not in demo_theme.THEMES:
        raise ConfigError(f"DemoSource theme must be one of {', '.join(n for n in demo_theme.THEMES if '-' not in n)}, "
                          f"got {theme!r}")
    people = rows * cols if people is None else people
    if not 1 <= people <= max(rows * cols, 1):
        raise ConfigError(f"DemoSource people must be between 1 and rows*cols ({rows * cols}), got {people}")
    if not 0 <= off <= people:
        raise ConfigError(f"DemoSource off must be between 0 and people ({people}), got {off}")
    return people


def _tile_step(index: int, participant: int) -> int:
    """The frame whose motion ``participant`` shows at frame ``index`` (tiles update every TILE_RATE_DIVISOR frames)."""
    return index - (index + participant) % TILE_RATE_DIVISOR


def _motion(seed: int, participant: int) -> _Motion:
    """One person's motion parameters: periods between ~4 and ~14 s, random phases."""
    rng = np.random.default_rng([seed, participant])
    return _Motion(phase=rng.uniform(0, 2 * math.pi, 5), freq=rng.uniform(0.07, 0.25, 5))


def _fit(image: np.ndarray, tile_w: int, tile_h: int) -> np.ndarray:
    """The portrait scaled to fill the tile's height (or width, if it is wider than the tile)."""
    h, w = image.shape[:2]
    scale = min(tile_h / h, tile_w / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _blend_avatar(view: np.ndarray, name: str) -> None:
    """A camera-off tile's disc with ``name``'s initials, centred a little above the middle (in place)."""
    h, w = view.shape[:2]
    sprite = demo_theme.avatar(name, max(8, round(h * demo_theme.AVATAR_DIAMETER)))
    sw, sh = sprite.size
    sprite.blend(view, (w - sw) // 2, max(0, (h - sh) // 2 - h // 20))


def _warp_face(view: np.ndarray, face: np.ndarray, m: np.ndarray) -> None:
    """Draw ``face`` moved by motion ``m`` onto the tile ``view`` (in place); only the covered part is resampled."""
    h, w = view.shape[:2]
    matrix = _affine((face.shape[1], face.shape[0]), (w, h), m)
    x0, y0, x1, y1 = _covered(matrix, face.shape[1], face.shape[0], w, h)
    matrix[:, 2] -= (x0, y0)
    cv2.warpAffine(face, matrix, (x1 - x0, y1 - y0), dst=view[y0:y1, x0:x1],
                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)


def _affine(face_size: tuple[int, int], tile_size: tuple[int, int], m: np.ndarray) -> np.ndarray:
    """``(2, 3)`` float64 map from portrait pixels to tile pixels for motion values ``m`` (5 in -1..1).

    The portrait's centre goes to the tile's centre plus the shift; about that
    point it is scaled, squeezed horizontally (the head turn) and rotated.
    """
    (fw, fh), (tw, th) = face_size, tile_size
    zoom = 1.0 + MAX_ZOOM * m[2]
    squeeze = 1.0 - MAX_TURN * 0.5 * (1.0 + m[4])
    roll = math.radians(MAX_ROLL_DEG * m[3])
    cos, sin = math.cos(roll), math.sin(roll)
    linear = zoom * np.array([[cos, -sin], [sin, cos]]) @ np.diag([squeeze, 1.0])
    centre = np.array([tw / 2 + MAX_SHIFT * tw * m[0], th / 2 + MAX_SHIFT * th * m[1]])
    offset = centre - linear @ np.array([fw / 2, fh / 2])
    return np.hstack([linear, offset[:, None]])


def _covered(matrix: np.ndarray, fw: int, fh: int, w: int, h: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the tile pixels the portrait covers after ``matrix``, clipped to ``w`` x ``h``."""
    corners = matrix[:, :2] @ np.array([[0, fw, fw, 0], [0, 0, fh, fh]], np.float64) + matrix[:, 2:]
    x0, y0 = np.floor(corners.min(axis=1)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=1)).astype(int) + 1
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)
