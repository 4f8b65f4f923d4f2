"""layout_read: the tiles of one screen, in pixels (the reading behind :func:`vcam.pipeline.layout.find_layout`).

Zoom, Teams, Google Meet and Webex draw a gallery as rectangles on a flat window background,
separated by gutters of that colour. :func:`read`:

1. shrinks the frame to at most :data:`WORK_WIDTH` pixels wide (and to :data:`MASK_WIDTH` for the mask);
2. guesses the window colour: the commonest colour on the frame's edge, then the few commonest in it;
3. for each guess and tolerance, masks that colour at the mask's resolution, pools it to the work size
   (so 1-2 px gutters survive) and cuts it recursively along whole rows and columns of background
   (an XY-cut): the leaves are the rectangles of content;
4. reads the leaves as a ``grid`` (same-size rectangles in rows with even gutters, the last
   row may be shorter; or one large framed video), a ``speaker`` view (one large video or avatar and a
   filmstrip of small tiles in one row or column beside it, centred on it or aligned with its start)
   or a ``strip`` (the filmstrip beside shared content: a mostly flat page, or content that is not
   one rectangle). Anything else is no gallery: None. The read with the most tiles wins;
5. when nothing reads, does the same inside the largest rectangles (a meeting window on a desktop);
6. marks each tile of the winner camera-off when it is flat outside a centred disc.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

MASK_WIDTH = 1920
"""The window's colour is looked for at most this wide (px): 4K frames are halved first. Wider keeps
hairline gutters of 4K screens; slower (a 4K mask costs ~4x)."""
WORK_WIDTH = 960
"""Tiles are cut out at most this wide (px), from a mask made at up to MASK_WIDTH. Wider is finer and slower."""
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
FLAT_TOL = 12
"""Levels within which a pixel counts as a camera-off tile's flat backdrop (after averaging)."""
FLAT_SHARE = 0.88
"""A tile is camera-off when at least this share of it outside the central disc is flat."""


@dataclass(frozen=True)
class Read:
    """A layout read in work pixels (from :func:`read`, frame pixels).

    Attributes:
        kind: one of :data:`vcam.types.LAYOUT_KINDS`.
        boxes: ``(T, 4) float64`` ``[x0, y0, x1, y1]``.
        camera_off: ``(T,) bool``.
    """

    kind: str
    boxes: np.ndarray
    camera_off: np.ndarray


def read(image: np.ndarray, tol: int = BG_TOL, noisier: tuple[float, ...] = (1.5, 3.0)) -> Read | None:
    """The layout in ``image`` ``(H, W, 3) uint8`` BGR with boxes ``[x0, y0, x1, y1]`` in frame pixels, or None.

    ``tol`` and the ``noisier`` multiples of it (compressed recordings' gutters are not one colour:
    1.5x reads Teams' dark theme in JPEG 75-85 recordings, 3x most others) are tried on each guessed
    window colour, until a grid fills the window (:func:`_fills`); the read with the most tiles wins,
    the first on a tie. When none reads, the largest rectangles cut out are read the same way (a
    meeting window on a desktop).
    A gallery whose cameras are all off is None: it cannot be told from flat boxes on a page.
    """
    full, full_scale = _shrink(image, MASK_WIDTH)
    small, scale = _shrink(full, WORK_WIDTH)
    tols = (tol, *(round(tol * k) for k in noisier))
    best = _read_in(_Pair(full, small, scale), (0, 0, small.shape[1], small.shape[0]), tols, 1)
    if best is None:
        return None
    off = np.array([_camera_off(small, b) for b in best.boxes])
    if off.all() and best.kind != "speaker":
        return None
    return Read(best.kind, best.boxes * scale * full_scale, off)


@dataclass(frozen=True)
class _Pair:
    """The frame (at most :data:`MASK_WIDTH` wide) and its work copy: ``small`` is ``image`` shrunk ``scale`` times."""

    image: np.ndarray
    small: np.ndarray
    scale: float

    def full(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """The frame's pixels under the work-pixel ``box`` ``(x0, y0, x1, y1)``."""
        if self.scale == 1.0:
            return self.image[box[1]:box[3], box[0]:box[2]]
        x0, y0, x1, y1 = (int(round(v * self.scale)) for v in box)
        return self.image[y0:y1, x0:x1]


def _read_in(pair: _Pair, box: tuple[int, int, int, int], tols: tuple[int, ...], nest: int,
             inner: int = 2) -> Read | None:
    """The best read of ``box`` ``(x0, y0, x1, y1)`` of ``small``, in ``small``'s pixels. When that is
    none or one tile (maybe a window on a desktop), ``nest`` levels down, the reads of its ``inner``
    largest rectangles (each a fifth of it or more) too, and the one with the most tiles."""
    x0, y0, x1, y1 = box
    sub, full = pair.small[y0:y1, x0:x1], pair.full(box)
    best: Read | None = None
    rects: list[tuple[int, int, int, int]] = []
    guesses = _background_guesses(sub)
    for t in tols:
        for bg in guesses:
            found, leaves = _read(sub, full, bg, t)
            rects += leaves if t == tols[0] else []
            if found is not None and (best is None or len(found.boxes) > len(best.boxes)):
                best = found
        if best is not None and _fills(best, sub.shape):
            break
    if best is not None:
        best = Read(best.kind, best.boxes + np.array([x0, y0, x0, y0], np.float64), best.camera_off)
        if len(best.boxes) > 1:
            return best
    area = (x1 - x0) * (y1 - y0)
    big = sorted({r for r in rects if 0.2 * area <= _area(r) <= 0.95 * area}, key=_area, reverse=True)[:inner]
    for r in big if nest > 0 else []:
        found = _read_in(pair, (x0 + r[0], y0 + r[1], x0 + r[2], y0 + r[3]), tols, nest - 1)
        if found is not None and (best is None or len(found.boxes) > len(best.boxes)):
            best = found
    return best


def _fills(found: Read, shape: tuple[int, ...], share: float = 0.4) -> bool:
    """A grid of several tiles, or a speaker view, spanning at least ``share`` of the ``(h, w)`` area: a
    gallery fills its window, so the noisier tolerances need not be tried (a row or two of a grid whose
    other gutters were lost to compression spans less; a strip always does)."""
    b = found.boxes
    span = (b[:, 2].max() - b[:, 0].min()) * (b[:, 3].max() - b[:, 1].min())
    return found.kind != "strip" and len(b) > 1 and span >= share * shape[0] * shape[1]


def _shrink(image: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """``(image at most width px wide, its px per px of the result)``."""
    if image.shape[1] <= width:
        return image, 1.0
    scale = image.shape[1] / width
    size = (width, max(1, round(image.shape[0] / scale)))
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
    top = np.argpartition(-counts, n)[:n]
    for code in top[np.argsort(-counts[top])]:
        if counts[code] < min_share * len(codes):
            break
        out.append(np.median(pixels[codes == code], axis=0).astype(np.int32))
    return out


def _read(small: np.ndarray, full: np.ndarray, bg: np.ndarray, tol: int,
          ) -> tuple[Read | None, list[tuple[int, int, int, int]]]:
    """The layout ``small`` shows on window colour ``bg`` (or None), and the rectangles cut out.

    The window's colour is looked for in ``full``, the same area at the frame's resolution: a work
    pixel is window when a quarter of the frame pixels under it are, so 1-2 px gutters survive the shrink.
    """
    lo, hi = np.clip(bg - tol, 0, 255).astype(np.float64), np.clip(bg + tol, 0, 255).astype(np.float64)
    mask = cv2.inRange(full, lo, hi)
    if mask.shape != small.shape[:2]:
        mask = cv2.resize(mask, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA) >= 64
    ii = cv2.integral((mask > 0).view(np.uint8))
    h, w = mask.shape
    leaves = _cut(ii, (0, 0, w, h), 0)
    found = _arrange(small, ii, leaves)
    if found is not None:
        log.debug("layout %s of %d tiles on background %s", found.kind, len(found.boxes), bg.tolist())
    return found, leaves


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


def _arrange(small: np.ndarray, ii: np.ndarray, leaves: list[tuple[int, int, int, int]]) -> Read | None:
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
    off = np.zeros(len(g), bool)  # read() finds which cameras are off, for the winning read only
    others = _others(boxes, g)
    big = [b for b in others if _area(b) >= 3 * _area(g[0]) and _tile_shaped(b, 3.0) and _beside(g, b)]
    line = _line(g)
    if line is not None and len(big) == 1 and (film := _film(small, ii, g, off, big[0], line)) is not None:
        return film
    if _is_grid(g) and not _covers_grid(others, g):
        return Read("grid", g, off)
    if line is not None and all(_beside(g, b) for b in others if _area(b) >= 0.2 * _area(g[0])):
        return Read("strip", g, off)
    return None


def _tile_like(ii: np.ndarray, box: tuple[int, int, int, int], width: int, height: int) -> bool:
    """Big enough, tile-shaped, and mostly not window background."""
    w, h = box[2] - box[0], box[3] - box[1]
    if w < MIN_TILE * width or h < MIN_TILE * height or not ASPECT[0] <= w / h <= ASPECT[1]:
        return False
    return _area_bg(ii, box) < 0.5 * w * h


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
    taken = {tuple(b) for b in np.asarray(group, np.float64).tolist()}
    return [b for b in boxes if tuple(b.tolist()) not in taken]


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


def _film(small: np.ndarray, ii: np.ndarray, g: np.ndarray, off: np.ndarray, big: np.ndarray, axis: int) -> Read | None:
    """A filmstrip ``g`` (a row: ``axis`` 0, a column: 1) beside one large box: a strip when that is a
    page; a speaker view when it is a video or an avatar and the filmstrip is centred on it or starts
    where it starts (as the apps draw them); else None (the large box is likely a window over a grid)."""
    big_off = _camera_off(small, big)
    if not big_off and _page_like(small, big):
        return Read("strip", g, off)
    if _gutters_inside(ii, big, g, axis):
        return None
    lo, hi = (0, 2) if axis == 0 else (1, 3)
    length = big[hi] - big[lo]
    centred = abs((g[:, lo].min() + g[:, hi].max()) - (big[lo] + big[hi])) / 2 <= 0.1 * length
    if not (centred or abs(g[:, lo].min() - big[lo]) <= 0.05 * length):
        return None
    return Read("speaker", np.vstack([g, big[None]]), np.append(off, big_off))


def _gutters_inside(ii: np.ndarray, big: np.ndarray, g: np.ndarray, axis: int, share: float = 0.3) -> bool:
    """The gutters between the filmstrip's tiles ``g`` (a row: ``axis`` 0, a column: 1) go on through
    ``big`` (at least ``share`` window colour there): a grid partly covered by a window, not one video."""
    lo, hi = (0, 2) if axis == 0 else (1, 3)
    order = np.argsort(g[:, lo])
    gaps = ((g[order[:-1], hi] + g[order[1:], lo]) / 2).astype(int)
    x0, y0, x1, y1 = (int(v) for v in big)
    for at in gaps:
        line = (at, y0, at + 1, y1) if axis == 0 else (x0, at, x1, at + 1)
        if _area_bg(ii, line) >= share * _area(line):
            return True
    return False


def _single(small: np.ndarray, ii: np.ndarray, boxes: np.ndarray, box: tuple[int, int, int, int]) -> Read | None:
    """One large video tile with window margins around it, and nothing else of note: a 1x1 gallery."""
    height, width = small.shape[:2]
    b = np.array(box, np.float64)
    big = _area(b) >= 0.3 * width * height
    framed = (b[0] > 0 or b[2] < width) and (b[1] > 0 or b[3] < height)
    rest = sum(_area(o) for o in _others(boxes, b[None]) if _tile_shaped(o))
    if big and framed and rest < 0.03 * width * height and not _camera_off(small, b) and not _page_like(small, b):
        return Read("grid", b[None], np.zeros(1, bool))
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


def _camera_off(small: np.ndarray, box: np.ndarray, size: int = 32) -> bool:
    """The box (above its label band) is one flat colour outside a centred disc of 0.3 x its height."""
    patch = _patch(small, np.asarray(box, np.float64), size)
    pixels = patch[_ring(*patch.shape[:2])]
    if len(pixels) == 0:
        return False
    flat = np.abs(pixels - np.median(pixels, axis=0)).max(axis=1) <= FLAT_TOL
    return bool(flat.mean() >= FLAT_SHARE)


@functools.lru_cache(maxsize=64)
def _ring(ph: int, pw: int) -> np.ndarray:
    """``(ph, pw) bool``: a patch's pixels outside the disc of radius 0.3 x the tile's height about its centre
    (the patch is the tile above its label band, so the tile is ``ph / (1 - LABEL_BAND[0])`` high)."""
    tile_h = ph / (1 - LABEL_BAND[0])
    yy, xx = np.mgrid[0:ph, 0:pw]
    return (xx + 0.5 - pw / 2) ** 2 + (yy + 0.5 - tile_h / 2) ** 2 > (0.3 * tile_h) ** 2


def _page_like(small: np.ndarray, box: np.ndarray) -> bool:
    """Most of the box is one colour: a slide or a document, not a camera's picture."""
    pixels = _patch(small, np.asarray(box, np.float64), 64).reshape(-1, 3)
    flat = np.abs(pixels - np.median(pixels, axis=0)).max(axis=1) <= FLAT_TOL
    return bool(flat.mean() >= 0.6)
