"""A simulated meeting: a gallery view of real portraits, made at run time.

``DemoSource`` draws what a presenter sees in Zoom or Teams gallery view: a dark
window with a grid of 16:9 tiles separated by small gaps, each tile a dark-grey
backdrop holding one participant's webcam picture and a name label in its
bottom-left corner.

The participants are the public-domain and MIT-licensed portraits in
``vcam/assets/portraits`` (see the SOURCES.md there). To give every pipeline
stage real work, each face drifts, zooms, tilts and turns a little, smoothly
and differently per tile:

* translation up to :data:`MAX_SHIFT` of the tile's width and height,
* scale between ``1 - MAX_ZOOM`` and ``1 + MAX_ZOOM``,
* in-plane rotation up to :data:`MAX_ROLL_DEG`,
* a simulated head turn: a horizontal squeeze of up to :data:`MAX_TURN`.

Like a real gallery view, each participant's video runs at half the window's
frame rate (:data:`TILE_RATE_DIVISOR`), staggered so that half of the tiles
change on every frame. That halves the cost: a 1920x1080 frame takes a few
milliseconds (one ``cv2.warpAffine`` per changed tile).

Frame ``i`` is a pure function of ``i`` and the constructor arguments, so tests
and benchmarks can ask for the same frame twice and get the same pixels.
"""

from __future__ import annotations

import importlib.resources
import logging
import math
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import SourceError
from vcam.limits import FPS
from vcam.sources import tiles
from vcam.sources.base import Source

log = logging.getLogger(__name__)

MAX_SHIFT = 0.06
"""Largest translation of a face, as a fraction of its tile's width / height."""
MAX_ZOOM = 0.10
"""Largest relative change of a face's scale (0.10 -> 0.9 to 1.1)."""
MAX_ROLL_DEG = 8.0
"""Largest in-plane rotation of a face, degrees."""
MAX_TURN = 0.10
"""Largest horizontal squeeze of a face, simulating a head turn (0.10 -> 90% width)."""

WINDOW_BGR = (24, 22, 20)
"""Colour of the meeting window behind the tiles."""
TILE_BGR = (48, 46, 44)
"""Colour of a tile's backdrop, around the portrait."""
LABEL_BGR = (22, 22, 22)
"""Colour of the name label's box."""
TILE_RATE_DIVISOR = 2
"""Each tile's video updates on every 2nd frame (staggered across tiles); 1 = every frame."""


@dataclass(frozen=True)
class _Motion:
    """One tile's motion: per-component phases (radians) and frequencies (Hz)."""

    phase: np.ndarray  # (5,) float64: x, y, zoom, roll, turn
    freq: np.ndarray  # (5,) float64, Hz

    def at(self, t: float) -> np.ndarray:
        """``(5,)`` values in -1..1 for x, y, zoom, roll and turn at ``t`` seconds."""
        return np.sin(2 * math.pi * self.freq * t + self.phase)


class DemoSource(Source):
    """An endless, deterministic meeting gallery of real portraits.

    Args:
        rows: tile rows in the gallery, >= 1.
        cols: tile columns in the gallery, >= 1.
        width: frame width in pixels, within :data:`vcam.limits.WIDTH`.
        height: frame height in pixels, within :data:`vcam.limits.HEIGHT`.
        fps: frame rate, within :data:`vcam.limits.FPS`; also the clock of the motion (frame ``i`` is
            ``i / fps`` s).
        realtime: pace frames at ``fps`` (live) or make them as fast as possible.
        seed: picks each tile's motion phases and speeds; same seed, same video.
        portrait_dir: folder of ``NN_first_last.jpg`` portraits; default the
            ones shipped in ``vcam.assets``. Fewer portraits than tiles are reused
            cyclically.
        spec: the spec string it was opened from, kept in every Frame (e.g. ``"demo:2x2"``).

    Raises:
        ConfigError: an argument is out of range (the message names it), or
            the grid leaves tiles under 32x18 pixels.

    Like every source, it is read from one thread: ``render`` updates a shared canvas.
    """

    def __init__(self, rows: int = tiles.ROWS, cols: int = tiles.COLS, width: int = tiles.SIZE[0],
                 height: int = tiles.SIZE[1], fps: float = 30.0, realtime: bool = True, seed: int = 0, *,
                 portrait_dir: Path | Traversable | None = None, spec: str = "demo") -> None:
        tiles.check_grid(rows, cols, width, height)
        FPS.check(fps, "DemoSource fps")
        super().__init__(spec, fps=fps, realtime=realtime)
        self.rows, self.cols = int(rows), int(cols)
        self._size = (int(width), int(height))
        self.seed = seed
        self._portrait_dir = portrait_dir
        self._rects = tiles.grid(self.rows, self.cols, *self._size)
        self._motions = _motions(len(self._rects), seed)
        self._names: list[str] = []
        self._faces: list[np.ndarray] = []
        self._canvas: np.ndarray | None = None
        self._shown: list[int | None] = []

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames in pixels."""
        return self._size

    def tile_rects(self) -> list[tuple[int, int, int, int]]:
        """Each tile's ``(x, y, w, h)`` in frame pixels, row-major."""
        return list(self._rects)

    def tile_names(self) -> list[str]:
        """The participant's name shown in each tile, row-major (valid after opening)."""
        return list(self._names)

    def _open(self) -> None:
        portraits = load_portraits(self._portrait_dir)
        picks = [portraits[i % len(portraits)] for i in range(len(self._rects))]
        self._names = [name for name, _ in picks]
        self._faces = [_fit(image, w, h) for (_, image), (_, _, w, h) in zip(picks, self._rects)]
        self._canvas = _background(self._size, self._rects)
        self._shown = [None] * len(self._rects)
        log.debug("demo gallery: %d tiles from %d portraits", len(self._rects), len(portraits))

    def _grab(self) -> np.ndarray:
        return self.render(self._index)

    def render(self, index: int) -> np.ndarray:
        """Frame ``index`` of the demo: a new ``(height, width, 3) uint8`` BGR array (source must be open).

        Tiles whose picture is the same as in the last rendered frame are not redrawn.
        """
        if self._canvas is None:
            raise SourceError("the demo source is not open; use it in a 'with' block")
        for tile in range(len(self._rects)):
            step = _tile_step(index, tile)
            if self._shown[tile] != step:
                self._draw(tile, step)
        return self._canvas.copy()

    def _draw(self, tile: int, step: int) -> None:
        """Redraw ``tile`` on the canvas as it looks at frame ``step``."""
        motion = self._motions[tile].at(step / self.fps)
        _draw_tile(self._canvas, self._rects[tile], self._faces[tile], motion, self._names[tile])
        self._shown[tile] = step


def _tile_step(index: int, tile: int) -> int:
    """The frame whose motion ``tile`` shows at frame ``index`` (tiles update every TILE_RATE_DIVISOR frames)."""
    return index - (index + tile) % TILE_RATE_DIVISOR


def load_portraits(folder: Path | Traversable | None = None) -> list[tuple[str, np.ndarray]]:
    """``(name, (H, W, 3) uint8 BGR image)`` for each ``*.jpg`` in ``folder``, sorted by file name.

    ``folder`` defaults to the portraits shipped in ``vcam.assets``. Names come from
    file names: ``01_grace_hopper.jpg`` -> ``"Grace Hopper"``.

    Raises:
        SourceError: the folder is missing, holds no portraits, or one does not decode.
    """
    folder = _default_portraits() if folder is None else folder
    if not folder.is_dir():
        raise SourceError(f"demo portraits not found: expected a folder of JPEG portraits at {folder}; "
                          f"reinstall vcam (pip install --force-reinstall vcam) to restore vcam/assets/portraits")
    files = sorted((p for p in folder.iterdir() if p.name.lower().endswith((".jpg", ".jpeg"))), key=lambda p: p.name)
    if not files:
        raise SourceError(f"demo portraits not found: no .jpg files in {folder}; "
                          f"reinstall vcam (pip install --force-reinstall vcam) to restore them")
    return [(_display_name(p.name), _decode(p)) for p in files]


def _default_portraits() -> Traversable:
    try:
        return importlib.resources.files("vcam.assets") / "portraits"
    except ModuleNotFoundError as err:
        raise SourceError("demo portraits not found: the package data vcam.assets is missing; "
                          "reinstall vcam (pip install --force-reinstall vcam)") from err


def _decode(path: Path | Traversable) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"demo portrait {path} is not a readable JPEG; reinstall vcam to restore it")
    return image


def _display_name(filename: str) -> str:
    """``"01_grace_hopper.jpg"`` -> ``"Grace Hopper"``."""
    stem = re.sub(r"^\d+[_-]*", "", filename.rsplit(".", 1)[0])
    return " ".join(word.capitalize() for word in re.split(r"[_\-\s]+", stem) if word) or filename


def _motions(n: int, seed: int) -> list[_Motion]:
    """Per-tile motion parameters: periods between ~4 and ~14 s, random phases."""
    rng = np.random.default_rng(seed)
    return [_Motion(phase=rng.uniform(0, 2 * math.pi, 5), freq=rng.uniform(0.07, 0.25, 5)) for _ in range(n)]


def _fit(image: np.ndarray, tile_w: int, tile_h: int) -> np.ndarray:
    """The portrait scaled to fill the tile's height (or width, if it is wider than the tile)."""
    h, w = image.shape[:2]
    scale = min(tile_h / h, tile_w / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _background(size: tuple[int, int], rects: list[tuple[int, int, int, int]]) -> np.ndarray:
    """The static window: ``(H, W, 3) uint8`` with every tile's backdrop drawn."""
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = WINDOW_BGR
    for x, y, w, h in rects:
        frame[y:y + h, x:x + w] = TILE_BGR
    return frame


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


def _draw_tile(frame: np.ndarray, rect: tuple[int, int, int, int], face: np.ndarray, m: np.ndarray,
               name: str) -> None:
    """Draw the tile at ``rect`` of ``frame`` (in place): backdrop, ``face`` moved by motion ``m``, label.

    Only the part of the tile the moved portrait covers is resampled.
    """
    x, y, w, h = rect
    cv2.rectangle(frame, (x, y), (x + w - 1, y + h - 1), TILE_BGR, cv2.FILLED)  # 50x faster than numpy here
    matrix = _affine((face.shape[1], face.shape[0]), (w, h), m)
    x0, y0, x1, y1 = _covered(matrix, face.shape[1], face.shape[0], w, h)
    matrix[:, 2] -= (x0, y0)
    cv2.warpAffine(face, matrix, (x1 - x0, y1 - y0), dst=frame[y + y0:y + y1, x + x0:x + x1],
                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    _draw_label(frame[y:y + h, x:x + w], name)


def _covered(matrix: np.ndarray, fw: int, fh: int, w: int, h: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the tile pixels the portrait covers after ``matrix``, clipped to ``w`` x ``h``."""
    corners = matrix[:, :2] @ np.array([[0, fw, fw, 0], [0, 0, fh, fh]], np.float64) + matrix[:, 2:]
    x0, y0 = np.floor(corners.min(axis=1)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=1)).astype(int) + 1
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def _draw_label(tile: np.ndarray, name: str) -> None:
    """A dark box with ``name`` in white, in the tile's bottom-left corner (in place)."""
    h = tile.shape[0]
    scale = max(0.35, h / 700)
    thickness = 1
    (tw, th), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, round(h / 70))
    x1, y1 = pad + tw + 2 * pad, h - pad
    cv2.rectangle(tile, (pad, y1 - th - base - 2 * pad), (x1 - 1, y1 - 1), LABEL_BGR, cv2.FILLED)
    cv2.putText(tile, name, (2 * pad, y1 - pad - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (240, 240, 240),
                thickness, cv2.LINE_AA)
