"""layout: find a meeting's tiles in a captured screen, and keep them while the meeting runs.

:func:`find_layout` reads one screen (how: :mod:`vcam.pipeline.layout_read`): a ``grid``, a
``speaker`` view or a ``strip`` beside shared content, or None when the screen shows no gallery.

:class:`LayoutFinder` is the stage. It keeps :attr:`LayoutFinder.current` and runs
:func:`find_layout` only when it may have changed:

- with a layout, a probe of a few hundred pixels (just outside every tile, on the gutters, and just
  inside it) is compared with the frame the layout was found in: gutters that stop being the
  window's colour, or tile edges that become it, mean the tiles moved (a re-flow, a page switch, a
  resized window); a new frame size always does;
- without one, a 32x18 sample of the frame is compared with the last one;
- whatever the probe says, a find runs every ``recheck`` seconds (slow changes), never more often
  than every ``min_interval`` s (``idle_interval`` without a layout, ``unstable_interval`` once the
  last finds disagreed: :attr:`LayoutFinder.unstable`). Times are frame times (``Frame.t``).

Two steps like the tracker's: the :class:`LayoutFinder` itself before detection (stage "layout") and
:attr:`LayoutFinder.assign` after landmarks (stage "tiles": each face's tile and shared flag; the names
stage sets its participant).
:func:`regions_for` gives the detector a region per tile. No I/O here.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from vcam.pipeline.layout_read import BG_TOL, LABEL_BAND, Read, read
from vcam.pipeline.stage import Step
from vcam.pipeline.track import iou_matrix
from vcam.types import Faces, Frame, Layout

log = logging.getLogger(__name__)

LABEL_MIN_PX = 24
"""The label band is never thinner than this (px): names are 10-14 px high in small tiles."""


def find_layout(image: np.ndarray, *, found_at: float = 0.0, tol: int = BG_TOL) -> Layout | None:
    """The meeting's tiles in ``image`` ``(H, W, 3) uint8`` BGR, or None when it shows no gallery.

    Args:
        image: a screen or window capture, any size up to 3840x2160.
        found_at: stamped on the layout (``Frame.t``, seconds).
        tol: levels (0..255) within which a pixel is the window's colour (1.5x and 3x are tried too
            when that reads no full grid): higher survives compressed recordings; lower tells apart
            themes whose tiles are close to the window colour (Teams dark: 10 levels).

    Returns a :class:`~vcam.types.Layout` in frame pixels, tiles in reading order, with
    ``labels`` (each tile's bottom-left band, :func:`label_bands`) and ``camera_off`` set.

    Raises TypeError for an image that is not a uint8 array, ValueError for one not ``(H, W, 3)``.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"find_layout needs a uint8 BGR image, got {getattr(image, 'dtype', type(image).__name__)}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"find_layout needs an (H, W, 3) BGR image, got shape {image.shape}; use vcam.types.as_bgr")
    found = read(image, tol)
    if found is None:
        return None
    return _to_layout(found, found_at)


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


def _to_layout(found: Read, found_at: float) -> Layout:
    """The read layout in frame pixels, in reading order, with label bands."""
    boxes = found.boxes
    tiles = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    tiles = np.clip(tiles, 0, None)
    order = _reading_order(tiles)
    tiles, off = tiles[order].astype(np.float32), found.camera_off[order]
    layout = Layout.of(found.kind, tiles, label_bands(tiles), found_at=found_at)
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


# --- the stage ----------------------------------------------------------------------------------


def same_tiles(a: Layout | None, b: Layout | None, min_iou: float = 0.85) -> bool:
    """Whether two layouts have the same kind and tiles (each tile's IoU with its namesake >= ``min_iou``)."""
    if a is None or b is None:
        return a is b
    if a.kind != b.kind or len(a) != len(b):
        return False
    return bool(np.all(np.diag(iou_matrix(a.tiles, b.tiles)) >= min_iou))


@dataclass(frozen=True)
class _Probe:
    """Pixels that stay put while a layout does: gutter points (window colour) and tile-edge points (not).

    ``out_at`` / ``in_at``: ``(2, N)`` intp ``(ys, xs)``; ``out_ref``: ``(N, 3) int16`` their colours then.
    """

    size: tuple[int, int]
    out_at: tuple[np.ndarray, np.ndarray]
    out_ref: np.ndarray
    in_at: tuple[np.ndarray, np.ndarray]
    bg: np.ndarray

    @classmethod
    def of(cls, layout: Layout, image: np.ndarray, step: int = 24, tol: int = BG_TOL) -> _Probe:
        """The probe of ``layout`` as found in ``image``: points every ``step`` px along each tile's edges."""
        h, w = image.shape[:2]
        out = _edge_points(layout.tiles, -3, step, w, h)
        out = out[:, layout.tile_of(out[::-1].T.astype(np.float32)) < 0]  # (ys, xs) -> [x, y] rows
        ref = image[out[0], out[1]].astype(np.int16)
        bg = np.median(ref, axis=0) if len(ref) else np.full(3, -999.0)
        keep = np.abs(ref - bg).max(axis=1) <= tol
        inner = _edge_points(layout.tiles, 4, step, w, h)
        inner = inner[:, np.abs(image[inner[0], inner[1]].astype(np.int16) - bg).max(axis=1) > tol]
        return cls((w, h), (out[0, keep], out[1, keep]), ref[keep], (inner[0], inner[1]), bg.astype(np.int16))

    def changed(self, image: np.ndarray, tol: int = 2 * BG_TOL, share: float = 0.1, edge_share: float = 0.5) -> bool:
        """Whether the layout may have moved in ``image``: a new size, over ``share`` of the gutter points
        changed by more than ``tol`` levels, or over ``edge_share`` of the tile-edge points turned window colour."""
        if (image.shape[1], image.shape[0]) != self.size:
            return True
        if len(self.out_ref) and (np.abs(image[self.out_at].astype(np.int16) - self.out_ref).max(axis=1) > tol).mean() > share:
            return True
        inner = image[self.in_at].astype(np.int16)
        return bool(len(inner) and (np.abs(inner - self.bg).max(axis=1) <= tol // 2).mean() > edge_share)


def _edge_points(tiles: np.ndarray, inset: int, step: int, width: int, height: int) -> np.ndarray:
    """``(2, N)`` intp ``(ys, xs)`` every ``step`` px along each tile's four edges, ``inset`` px inside (negative: outside)."""
    pts = []
    for x, y, w, h in np.asarray(tiles, np.float64):
        x0, y0, x1, y1 = x + inset, y + inset, x + w - 1 - inset, y + h - 1 - inset
        xs = np.arange(x0 + step / 2, x1, step)
        ys = np.arange(y0 + step / 2, y1, step)
        pts += [np.stack([np.full_like(xs, y0), xs]), np.stack([np.full_like(xs, y1), xs]),
                np.stack([ys, np.full_like(ys, x0)]), np.stack([ys, np.full_like(ys, x1)])]
    if not pts:
        return np.zeros((2, 0), np.intp)
    p = np.round(np.concatenate(pts, axis=1)).astype(np.intp)
    inside = (p[0] >= 0) & (p[0] < height) & (p[1] >= 0) & (p[1] < width)
    return p[:, inside]


def _glance(image: np.ndarray) -> np.ndarray:
    """``(18, 32) int16``: a sample of the green channel, to see whether a screen changed."""
    h, w = image.shape[:2]
    ys = np.linspace(0, h - 1, 18).astype(np.intp)
    xs = np.linspace(0, w - 1, 32).astype(np.intp)
    return image[ys[:, None], xs[None, :], 1].astype(np.int16)


class LayoutFinder:
    """The layout stage: keeps :attr:`current`, the meeting's tiles, finding them again when they may have changed.

    Args:
        min_interval: least frame time (s) between two finds while the layout changes. Lower
            follows a re-flow sooner and costs a find (10-40 ms at 1920x1080) each time.
        recheck: a find runs at least this often (s) whatever the probe says; lower catches
            changes the probe misses sooner.
        idle_interval: least time (s) between finds while no layout is known (a slide, a video).
        unstable_interval: least time (s) between finds while :attr:`unstable`.
        history: how many recent finds :attr:`unstable` looks at; unstable when at least two of
            them changed the layout and they all fell within ``recheck`` seconds.

    Attributes:
        current: the layout of the last frame, or None (no gallery, or a webcam source).
        unstable: the last finds disagreed (a scrolled recording): the layout could not be read.
        finds: how many times :func:`find_layout` ran.
        assign: the step after landmarks (:meth:`assign_tiles`); the finder itself is the step before
            detection (it updates ``current``; faces pass through).
    """

    name = "layout"
    feature = None

    def __init__(self, min_interval: float = 0.25, recheck: float = 3.0, idle_interval: float = 0.5,
                 unstable_interval: float = 1.0, history: int = 3) -> None:
        for name, value in (("min_interval", min_interval), ("idle_interval", idle_interval),
                            ("unstable_interval", unstable_interval)):
            if not 0 <= value <= recheck:
                raise ValueError(f"LayoutFinder {name} must be in 0..recheck ({recheck}) s, got {value!r}")
        if history < 2:
            raise ValueError(f"LayoutFinder history must be >= 2 finds, got {history!r}")
        self.min_interval, self.recheck = min_interval, recheck
        self.idle_interval, self.unstable_interval = idle_interval, unstable_interval
        self.current: Layout | None = None
        self.unstable = False
        self.finds = 0
        self._changes: deque[tuple[float, bool]] = deque(maxlen=history)
        self._last = -np.inf
        self._probe: _Probe | None = None
        self._glance: np.ndarray | None = None
        self.assign = Step("tiles", lambda frame, faces: self.assign_tiles(faces))

    @property
    def usable(self) -> Layout | None:
        """:attr:`current` when it can be trusted, None while :attr:`unstable` (detection then falls back to
        the whole-frame search, and the overlay and feed show no tiles)."""
        return None if self.unstable else self.current

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        """The step before detection: update :attr:`current` from ``frame``; ``faces`` pass through."""
        self.update(frame)
        return faces

    def update(self, frame: Frame) -> Layout | None:
        """:attr:`current` after ``frame``: found again if it may have changed (see the module docstring)."""
        if frame.source.startswith("webcam"):
            self._reset()
        elif self._due(frame):
            self._refind(frame)
        return self.current

    def _reset(self) -> None:
        if self.current is not None:
            log.info("layout dropped: webcam source")
        self.current, self._probe, self._glance, self._last, self.unstable = None, None, None, -np.inf, False
        self._changes.clear()

    def _due(self, frame: Frame) -> bool:
        """Whether ``frame`` needs a find: rate limits first, then the periodic recheck, then the probe."""
        since = frame.t - self._last
        if since < 0:
            return True  # time went back: another source or a seek
        floor = self.unstable_interval if self.unstable else self.min_interval
        if since < (max(floor, self.idle_interval) if self.current is None else floor):
            return False
        if since >= self.recheck:
            return True
        if self._probe is not None:
            return self._probe.changed(frame.image)
        return self._glance is None or float(np.abs(_glance(frame.image) - self._glance).mean()) > 4.0

    def _refind(self, frame: Frame) -> None:
        """Find the layout in ``frame``; keep the current one (and its names) when the tiles are the same."""
        found = find_layout(frame.image, found_at=frame.t)
        self.finds += 1
        self._last = frame.t
        changed = not same_tiles(self.current, found)
        self._changes.append((frame.t, changed))
        if changed:
            log.log(logging.DEBUG if self.unstable else logging.INFO, "layout: %s",
                    f"{found.kind} of {len(found)} tiles" if found is not None else "none")
            self.current = found
        elif found is not None and self.current is not None:
            self.current = self.current.replace(camera_off=found.camera_off)  # names stay
        self._probe = _Probe.of(self.current, frame.image) if self.current is not None else None
        self._glance = _glance(frame.image)
        unstable = sum(c for _, c in self._changes) >= 2 and frame.t - self._changes[0][0] < self.recheck
        if unstable != self.unstable:
            log.info("layout %s", "unstable: it changes at every look" if unstable else "stable again")
        self.unstable = unstable

    def assign_tiles(self, faces: Faces) -> Faces:
        """``faces`` with ``tile`` (of each box's centre) and ``shared`` (two or more faces in one tile) set
        from :attr:`usable`, -1 and False without one; ``participant`` None: the names stage sets it, so a
        face has no participant name while the "names" feature is off."""
        n, layout = len(faces), self.usable
        participant = np.full(n, None, object)
        if layout is None or n == 0:
            return faces.replace(tile=np.full(n, -1, np.int64), participant=participant, shared=np.zeros(n, bool))
        tile = layout.tile_of(faces.bbox[:, :2] + faces.bbox[:, 2:] / 2)
        counts = np.bincount(tile[tile >= 0], minlength=len(layout))
        inside = tile >= 0
        return faces.replace(tile=tile, participant=participant, shared=inside & (counts[np.maximum(tile, 0)] >= 2))

    def name_tiles(self, participant: np.ndarray) -> None:
        """Set :attr:`current`'s ``participant`` (``(T,)`` object: str or None per tile), e.g. from the OCR stage.

        Raises ValueError when there is no current layout or ``participant`` is not one per tile.
        """
        if self.current is None:
            raise ValueError("name_tiles needs a current layout; got None (check LayoutFinder.current first)")
        participant = np.asarray(participant, object)
        if participant.shape != (len(self.current),):
            raise ValueError(f"name_tiles expects ({len(self.current)},) names, one per tile; got {participant.shape}")
        self.current = self.current.replace(participant=participant)

    def forget(self, track_ids: set[int]) -> None:
        """Nothing: the layout is not per track."""

    def close(self) -> None:
        """Nothing to free."""
