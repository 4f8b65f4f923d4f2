"""layout: find a meeting's tiles in a captured screen, and keep them while the meeting runs.

Zoom, Teams, Google Meet and Webex draw a gallery as rectangles on a flat window background,
separated by gutters of that colour. :func:`find_layout` reads that structure:

1. the frame is shrunk to at most :data:`WORK_WIDTH` pixels wide;
2. the window background is guessed: the few most common colours (coarse histogram);
3. for each guess, a mask of background pixels is cut recursively along whole rows and
   columns of background (an XY-cut): its leaves are the rectangles of content;
4. the leaves are read as a ``grid`` (same-size rectangles in rows with even gutters, the last
   row may be shorter), a ``speaker`` view (one large video and a filmstrip of small tiles in
   one row or column beside it) or a ``strip`` (the filmstrip beside shared content: a mostly
   flat page, or content that is not one rectangle). Anything else is no gallery: None.

:class:`LayoutFinder` is the stage: it keeps ``current`` and calls :func:`find_layout` only when
a cheap probe of the frame (a few hundred pixels on the gutters and just inside the tiles) says
the layout may have moved, and now and then anyway; :func:`regions_for` gives the detector its
regions. No I/O here.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from vcam.pipeline.stage import Step
from vcam.types import Faces, Frame, Layout

log = logging.getLogger(__name__)

WORK_WIDTH = 960
"""Frames are read at most this wide (px). Wider reads 1 px gutters of 1920 px screens; slower."""
BG_TOL = 6
"""A pixel is window background within this many levels (any channel, 0..255) of its colour.
Higher survives compressed recordings; lower tells apart themes whose tiles are close to the window
(Teams dark: 10 levels)."""
GUTTER_SHARE = 0.97
"""A row or column is a gutter when at least this share of it is background (room for a cursor)."""
MIN_TILE = 0.06
"""Smallest tile, as a share of the frame's width and of its height."""
ASPECT = (0.55, 2.6)
"""Width / height of an acceptable tile (16:9 and 4:3 are typical; Meet crops near 1:1)."""
SAME_SIZE = 0.05
"""Tiles of one grid differ in width and height by at most this share (or 3 px)."""
LABEL_BAND = (0.22, 0.70)
"""Each tile's name-label area: its bottom share of the height and left share of the width."""
LABEL_MIN_PX = 24
"""The label band is never thinner than this (px): names are 10-14 px high in small tiles."""
FLAT_TOL = 12
"""Levels within which a pixel counts as a camera-off tile's flat backdrop (after averaging)."""
FLAT_SHARE = 0.88
"""A tile is camera-off when at least this share of it outside the central disc is flat."""


@dataclass(frozen=True)
class _Read:
    """A layout read in work pixels: kind, ``(T, 4)`` boxes ``[x0, y0, x1, y1]``, camera-off flags."""

    kind: str
    boxes: np.ndarray
    camera_off: np.ndarray


def find_layout(image: np.ndarray, *, found_at: float = 0.0, tol: int = BG_TOL) -> Layout | None:
    """The meeting's tiles in ``image`` ``(H, W, 3) uint8`` BGR, or None when it shows no gallery.

    Args:
        image: a screen or window capture, any size up to 3840x2160.
        found_at: stamped on the layout (``Frame.t``, seconds).
        tol: see :data:`BG_TOL`.

    Returns a :class:`~vcam.types.Layout` in frame pixels, tiles in reading order, with
    ``labels`` (each tile's bottom-left band) and ``camera_off`` set.
    """
    small, scale = _shrink(image)
    best: _Read | None = None
    for bg in _background_guesses(small):
        read = _read(small, bg, tol)
        if read is not None and (best is None or len(read.boxes) > len(best.boxes)):
            best = read
    if best is None:
        return None
    return _to_layout(best, scale, image.shape[1], image.shape[0], found_at)


def regions_for(layout: Layout, frame_size: tuple[int, int], pad: int = 6) -> list[tuple[int, int, int, int]]:
    """The detector's regions ``(x, y, w, h)`` px: each tile grown by ``pad`` px, clipped to ``frame_size`` (W, H).

    A face cut by a tile's edge is still whole in its region; a larger ``pad`` reaches into neighbours.
    """
    width, height = frame_size
    out = []
    for x, y, w, h in np.asarray(layout.tiles, np.float64):
        x0, y0 = max(0, int(np.floor(x)) - pad), max(0, int(np.floor(y)) - pad)
        x1, y1 = min(width, int(np.ceil(x + w)) + pad), min(height, int(np.ceil(y + h)) + pad)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


# --- reading one frame -------------------------------------------------------------------------


def _shrink(image: np.ndarray) -> tuple[np.ndarray, float]:
    """``(image at most WORK_WIDTH wide, frame px per work px)``."""
    width = image.shape[1]
    if width <= WORK_WIDTH:
        return image, 1.0
    scale = width / WORK_WIDTH
    size = (WORK_WIDTH, max(1, round(image.shape[0] / scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _background_guesses(small: np.ndarray, n: int = 4, min_share: float = 0.02) -> list[np.ndarray]:
    """Up to ``n`` ``(3,) int`` BGR colours that may be the window's: the commonest on the frame's edge,
    then the commonest in the frame (each covering at least ``min_share`` of it), no two alike."""
    edge = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    sample = small[::3, ::3].reshape(-1, 3)
    out = _modes(edge, 1, 0.3) + _modes(sample, n, min_share)
    unique: list[np.ndarray] = []
    for colour in out:
        if all(np.abs(colour - u).max() > BG_TOL for u in unique):
            unique.append(colour)
    return unique[:n]


def _modes(pixels: np.ndarray, n: int, min_share: float) -> list[np.ndarray]:
    """The ``n`` commonest colours of ``(N, 3) uint8`` pixels (4-level bins, each bin's median), if common enough."""
    q = (pixels >> 2).astype(np.int32)
    codes = q[:, 0] << 12 | q[:, 1] << 6 | q[:, 2]
    counts = np.bincount(codes, minlength=1 << 18)
    out = []
    for code in np.argpartition(-counts, n)[:n][np.argsort(-counts[np.argpartition(-counts, n)[:n]])]:
        if counts[code] < min_share * len(codes):
            break
        out.append(np.median(pixels[codes == code], axis=0).astype(np.int32))
    return out


def _read(small: np.ndarray, bg: np.ndarray, tol: int) -> _Read | None:
    """The layout ``small`` shows on window colour ``bg``, or None."""
    lo, hi = np.clip(bg - tol, 0, 255), np.clip(bg + tol, 0, 255)
    mask = cv2.inRange(small, lo.astype(np.float64), hi.astype(np.float64))
    ii = cv2.integral((mask > 0).view(np.uint8))
    h, w = mask.shape
    leaves = _cut(ii, (0, 0, w, h), 0)
    read = _arrange(small, ii, leaves)
    if read is not None:
        log.debug("layout %s of %d tiles on background %s", read.kind, len(read.boxes), bg.tolist())
    return read


def _area_bg(ii: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Background pixels inside ``box`` ``(x0, y0, x1, y1)`` from the integral image ``ii``."""
    x0, y0, x1, y1 = box
    return int(ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0])


def _line_shares(ii: np.ndarray, box: tuple[int, int, int, int], axis: int) -> np.ndarray:
    """Share of background on each row (``axis`` 0) or column (1) of ``box``."""
    x0, y0, x1, y1 = box
    if axis == 0:
        sums = (ii[y0 + 1:y1 + 1, x1] - ii[y0 + 1:y1 + 1, x0]) - (ii[y0:y1, x1] - ii[y0:y1, x0])
        return sums / max(1, x1 - x0)
    sums = (ii[y1, x0 + 1:x1 + 1] - ii[y0, x0 + 1:x1 + 1]) - (ii[y1, x0:x1] - ii[y0, x0:x1])
    return sums / max(1, y1 - y0)


def _runs(content: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], content.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _cut(ii: np.ndarray, box: tuple[int, int, int, int], depth: int,
         max_depth: int = 10) -> list[tuple[int, int, int, int]]:
    """The leaves ``(x0, y0, x1, y1)`` of a recursive cut of ``box`` along whole background rows and columns."""
    x0, y0, x1, y1 = box
    for axis in (0, 1):
        runs = _runs(_line_shares(ii, box, axis) < GUTTER_SHARE)
        if not runs:
            return []
        parts = [(x0, y0 + a, x1, y0 + b) if axis == 0 else (x0 + a, y0, x0 + b, y1) for a, b in runs]
        if len(parts) > 1 or parts[0] != box:
            if depth >= max_depth:
                return parts
            return [leaf for part in parts for leaf in _cut(ii, part, depth + 1, max_depth)]
    return [box]


def _arrange(small: np.ndarray, ii: np.ndarray, leaves: list[tuple[int, int, int, int]]) -> _Read | None:
    """Read the leaves as a grid, a speaker view or a strip (see the module docstring), or None."""
    height, width = small.shape[:2]
    boxes = np.array(leaves, np.float64).reshape(-1, 4)
    tiles = [b for b in leaves if _tile_like(ii, b, width, height)]
    group = _largest_same_size(tiles)
    if len(group) == 1:
        return _single(small, ii, boxes, group[0])
    if len(group) < 2:
        return None
    g = np.array(group, np.float64)
    off = np.array([_camera_off(small, b) for b in group])
    if off.all():
        return None  # a gallery with no camera on cannot be told from flat boxes on a page
    others = _others(boxes, g)
    big = [b for b in others if _area(b) >= 3 * _area(g[0]) and _tile_shaped(b, 3.0) and _beside(g, b)]
    if _line(g) is not None and len(big) == 1:
        return _film(small, g, off, big[0])
    if _is_grid(g) and not _covers_grid(others, g):
        return _Read("grid", g, off)
    if _line(g) is not None and all(_beside(g, b) for b in others if _area(b) >= 0.2 * _area(g[0])):
        return _Read("strip", g, off)
    return None


def _tile_like(ii: np.ndarray, box: tuple[int, int, int, int], width: int, height: int) -> bool:
    """Big enough, tile-shaped, and mostly not window background."""
    w, h = box[2] - box[0], box[3] - box[1]
    if w < MIN_TILE * width or h < MIN_TILE * height or not ASPECT[0] <= w / h <= ASPECT[1]:
        return False
    return _area_bg(ii, box) < 0.3 * w * h


def _largest_same_size(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The largest set of boxes of one size (within :data:`SAME_SIZE`); ties go to the larger tiles."""
    groups: list[list[tuple[int, int, int, int]]] = []
    for box in sorted(boxes, key=lambda b: -_area(b)):
        for group in groups:
            if _same_size(group[0], box):
                group.append(box)
                break
        else:
            groups.append([box])
    return max(groups, key=len, default=[])


def _same_size(a: tuple[float, ...] | np.ndarray, b: tuple[float, ...] | np.ndarray) -> bool:
    wa, ha, wb, hb = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    return abs(wa - wb) <= max(3, SAME_SIZE * wa) and abs(ha - hb) <= max(3, SAME_SIZE * ha)


def _area(box: tuple[float, ...] | np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def _others(boxes: np.ndarray, group: np.ndarray) -> list[np.ndarray]:
    """The leaves that are not in ``group``."""
    return [b for b in boxes if not any(np.array_equal(b, g) for g in group)]


def _rows(g: np.ndarray) -> list[np.ndarray]:
    """The boxes grouped in rows (top edges within a quarter tile height), each row sorted by x."""
    order = np.argsort(g[:, 1], kind="stable")
    rows: list[list[np.ndarray]] = []
    for box in g[order]:
        if rows and abs(box[1] - rows[-1][0][1]) <= 0.25 * (box[3] - box[1]):
            rows[-1].append(box)
        else:
            rows.append([box])
    return [np.array(sorted(row, key=lambda b: b[0])) for row in rows]


def _even_gaps(starts: np.ndarray, ends: np.ndarray, size: float) -> bool:
    """Gaps between consecutive spans ``[start, end)`` are >= 0, small next to ``size``, and alike."""
    if len(starts) < 2:
        return True
    gaps = starts[1:] - ends[:-1]
    return bool(gaps.min() >= 0 and gaps.max() <= 0.3 * size and np.ptp(gaps) <= max(3.0, 0.5 * np.median(gaps)))


def _is_grid(g: np.ndarray) -> bool:
    """Rows of same-size boxes with even gutters across and down."""
    rows = _rows(g)
    w, h = np.median(g[:, 2] - g[:, 0]), np.median(g[:, 3] - g[:, 1])
    if not all(_even_gaps(r[:, 0], r[:, 2], w) for r in rows):
        return False
    tops = np.array([r[:, 1].min() for r in rows])
    bottoms = np.array([r[:, 3].max() for r in rows])
    return _even_gaps(tops, bottoms, h)


def _line(g: np.ndarray) -> int | None:
    """0 when the boxes make one row, 1 one column (evenly spaced), else None."""
    if len(_rows(g)) == 1:
        return 0
    cols = g[np.argsort(g[:, 1])]
    if np.ptp(cols[:, 0]) <= 0.25 * (cols[0, 2] - cols[0, 0]) and _even_gaps(cols[:, 1], cols[:, 3], cols[0, 3] - cols[0, 1]):
        return 1
    return None


def _beside(g: np.ndarray, box: np.ndarray) -> bool:
    """``box`` lies wholly on one side of the boxes ``g`` (left, right, above or below all of them)."""
    x0, y0, x1, y1 = g[:, 0].min(), g[:, 1].min(), g[:, 2].max(), g[:, 3].max()
    return bool(box[2] <= x0 or box[0] >= x1 or box[3] <= y0 or box[1] >= y1)


def _covers_grid(others: list[np.ndarray], g: np.ndarray) -> bool:
    """Some other content of a tile's size or more lies inside the grid (a window over it)."""
    x0, y0, x1, y1 = g[:, 0].min(), g[:, 1].min(), g[:, 2].max(), g[:, 3].max()
    tile = _area(g[0])
    for b in others:
        ix = min(b[2], x1) - max(b[0], x0)
        iy = min(b[3], y1) - max(b[1], y0)
        if ix > 0 and iy > 0 and ix * iy >= 0.2 * tile:
            return True
    return False


def _film(small: np.ndarray, g: np.ndarray, off: np.ndarray, big: np.ndarray) -> _Read:
    """A filmstrip ``g`` beside one large box: a speaker view when that is a video or an avatar, else a strip."""
    big_off = _camera_off(small, big)
    if not big_off and _page_like(small, big):
        return _Read("strip", g, off)
    return _Read("speaker", np.vstack([g, big[None]]), np.append(off, big_off))


def _single(small: np.ndarray, ii: np.ndarray, boxes: np.ndarray, box: tuple[int, int, int, int]) -> _Read | None:
    """One large video tile with window margins around it, and nothing else of note: a 1x1 gallery."""
    height, width = small.shape[:2]
    b = np.array(box, np.float64)
    big = _area(b) >= 0.3 * width * height
    framed = (b[0] > 0 or b[2] < width) and (b[1] > 0 or b[3] < height)
    rest = sum(_area(o) for o in _others(boxes, b[None]) if _tile_shaped(o))
    if big and framed and rest < 0.03 * width * height and not _camera_off(small, b) and not _page_like(small, b):
        return _Read("grid", b[None], np.zeros(1, bool))
    return None


def _tile_shaped(box: np.ndarray, longest: float = 6.0) -> bool:
    """Not a thin bar (a toolbar or a title line): its long side is under ``longest`` x its short side."""
    w, h = box[2] - box[0], box[3] - box[1]
    return min(w, h) > 0 and max(w / h, h / w) < longest


def _patch(small: np.ndarray, box: np.ndarray, size: int = 48) -> np.ndarray:
    """The box's area above its label band, averaged down to ``size`` px high: ``(size, ~, 3) float32``."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    y1 = max(y0 + 1, y1 - int(LABEL_BAND[0] * (y1 - y0)))
    crop = small[y0:y1, x0:x1]
    w = max(1, round(size * crop.shape[1] / max(1, crop.shape[0])))
    return cv2.resize(crop, (w, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def _camera_off(small: np.ndarray, box: np.ndarray) -> bool:
    """The box (above its label band) is one flat colour outside a centred disc of 0.3 x its height."""
    x0, y0, x1, y1 = box
    patch = _patch(small, np.asarray(box, np.float64))
    ph, pw = patch.shape[:2]
    tile_h = (y1 - y0) * ph / max(1.0, (y1 - y0) * (1 - LABEL_BAND[0]))  # the tile's height in patch px
    yy, xx = np.mgrid[0:ph, 0:pw]
    ring = (xx - pw / 2) ** 2 + (yy - tile_h / 2) ** 2 > (0.3 * tile_h) ** 2
    pixels = patch[ring]
    if len(pixels) == 0:
        return False
    flat = np.abs(pixels - np.median(pixels, axis=0)).max(axis=1) <= FLAT_TOL
    return bool(flat.mean() >= FLAT_SHARE)


def _page_like(small: np.ndarray, box: np.ndarray) -> bool:
    """Most of the box is one colour: a slide or a document, not a camera's picture."""
    pixels = _patch(small, np.asarray(box, np.float64), 64).reshape(-1, 3)
    flat = np.abs(pixels - np.median(pixels, axis=0)).max(axis=1) <= FLAT_TOL
    return bool(flat.mean() >= 0.6)


def _to_layout(read: _Read, scale: float, width: int, height: int, found_at: float) -> Layout:
    """The read layout in frame pixels, in reading order, with label bands."""
    boxes = read.boxes * scale
    tiles = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    tiles = np.clip(tiles, 0, None)
    order = _reading_order(tiles)
    tiles, off = tiles[order].astype(np.float32), read.camera_off[order]
    layout = Layout.of(read.kind, tiles, label_bands(tiles), found_at=found_at)
    return layout.replace(camera_off=off)


def _reading_order(tiles: np.ndarray) -> np.ndarray:
    """Indices of ``(T, 4)`` ``[x, y, w, h]`` tiles top to bottom, then left to right."""
    order = np.argsort(tiles[:, 1], kind="stable")
    rows, row, top = np.zeros(len(tiles), int), 0, None
    for i in order:
        if top is None or tiles[i, 1] - top > 0.5 * tiles[i, 3]:
            row, top = row + (top is not None), tiles[i, 1]
        rows[i] = row
    return np.lexsort((tiles[:, 0], rows))


def label_bands(tiles: np.ndarray) -> np.ndarray:
    """``(T, 4) float32`` ``[x, y, w, h]``: where each tile of ``(T, 4)`` ``tiles`` prints its name.

    The bottom :data:`LABEL_BAND` share of the height (never under :data:`LABEL_MIN_PX` px, never
    more than the tile) and the left share of the width.
    """
    tiles = np.asarray(tiles, np.float32).reshape(-1, 4)
    band_h = np.minimum(tiles[:, 3], np.maximum(LABEL_BAND[0] * tiles[:, 3], LABEL_MIN_PX))
    return np.stack([tiles[:, 0], tiles[:, 1] + tiles[:, 3] - band_h, LABEL_BAND[1] * tiles[:, 2], band_h],
                    axis=1).astype(np.float32)
