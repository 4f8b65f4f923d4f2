"""detect: find faces in the meeting's tiles, or in the whole frame and in overlapping squares.

A meeting's gallery view holds many small faces: on a whole 1920×1080 frame
MediaPipe's detector finds 3 of 12, per tile 12 of 12 (measured with mediapipe 0.10.21).

- **With a meeting layout** (:mod:`vcam.pipeline.layout` found the gallery's tiles), each tile is
  one region, searched at a scale that suits the detector: a tile whose long side is at most
  :data:`SHORT_MAX` px goes to BlazeFace short-range (128 px input, 2.6 ms), a larger one to both
  short-range (a face filling the tile: full-range missed a 230 px face in a 596×338 tile) and
  full-range (192 px input, 7 ms: small faces, a room on one camera), and a tile over 1.5 × ``tile``
  is also cut into squares. Measured on the 7×7 demo at 1080p: 49 of 49 faces (the square search
  below: 31 of 49).
- **Without one** (a webcam, slides, a screen with no gallery), the frame is searched whole (for
  large faces) and in overlapping square tiles of ``tile`` pixels (for small ones).

The results are merged by non-maximum suppression.

Detection is the most expensive stage, so its cost per analysed frame is
bounded: while every face is tracked, one region at a time is searched (the
whole frame or one tile, in turn), paced so that all regions are searched once
every ``sweep`` seconds; a newcomer anywhere is found within that. Without a layout,
only when no face is tracked, or a tracked face was lost, is every region searched at
once, at most every ``min_interval`` seconds. With a layout, every tile is searched when
the layout is new; after that, the tiles with no tracked face (camera-off tiles aside)
are searched, at most ``per_frame`` of them per frame, each at most every ``min_interval``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import mediapipe as mp
import numpy as np

from vcam.models import model_path
from vcam.types import Faces, Frame, Layout

log = logging.getLogger(__name__)

Region = tuple[int, int, int, int]
"""``(x, y, w, h)`` in frame pixels."""

SHORT_MAX = 280
"""Longest side, px, of a region searched with the short-range detector (128 px input). At 258×145
(a 7×7 gallery tile at 1080p) it found 11 of 11 portraits with 40 px faces; at 366×206 only 8 of 11,
where full-range found 11 (and at 621×349: 0 against 10). Larger regions use both detectors."""
TILE_PAD = 4
"""Pixels a meeting tile is widened by on each side, so a face at its edge is whole."""


def tile_grid(width: int, height: int, tile: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Square tiles ``(x, y, w, h)`` covering a ``width × height`` frame.

    Neighbouring tiles overlap by ``overlap × tile`` pixels, so any face smaller
    than that lies wholly inside some tile. A frame no larger than ``1.5 × tile``
    gets no tiles (the whole-frame pass finds its faces).
    """
    if max(width, height) <= 1.5 * tile:
        return []
    stride = max(1, int(tile * (1.0 - overlap)))
    xs = _starts(width, tile, stride)
    ys = _starts(height, tile, stride)
    return [(x, y, min(tile, width - x), min(tile, height - y)) for y in ys for x in xs]


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3, contain: float = 0.6) -> np.ndarray:
    """Indices of the boxes to keep, best score first.

    Args:
        boxes: ``(N, 4)`` ``[x, y, w, h]`` pixels.
        scores: ``(N,)`` confidences.
        iou: drop a box overlapping a kept one by more than this IoU.
        contain: also drop a box whose area lies more than this fraction inside
            a kept one (a face cut by a tile edge inside the same face found whole).
    """
    keep: list[int] = []
    for i in np.argsort(-scores):
        overlaps = [_overlap(boxes[i], boxes[k]) for k in keep]
        if all(o_iou <= iou and o_in <= contain for o_iou, o_in in overlaps):
            keep.append(int(i))
    return np.array(keep, dtype=np.int64)


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(IoU, intersection / smaller area) of two ``[x, y, w, h]`` boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    small = min(a[2] * a[3], b[2] * b[3])
    union = a[2] * a[3] + b[2] * b[3] - inter
    if inter <= 0 or small <= 0:
        return 0.0, 0.0
    return inter / union, inter / small


class Detect:
    """The detect stage: adds fresh detections (``track_id == -1``) to ``faces``.

    Args:
        tile: tile side in pixels. Smaller finds smaller faces and needs more passes.
        overlap: fraction of a tile shared with its neighbour (0..0.5).
        min_score: detector confidence to accept (0..1). Lower finds more faces and more false ones.
        min_interval: seconds between full searches while a face is missing or none is tracked.
            Shorter finds a returning face sooner and costs more while nobody is there.
        sweep: seconds to search every region once, one at a time, while all faces are
            tracked. Shorter finds newcomers sooner and costs more per frame.
    """

    name = "detect"
    feature = None

    def __init__(self, tile: int = 640, overlap: float = 0.25, min_score: float = 0.5, min_interval: float = 0.2,
                 sweep: float = 1.0, *, layout: Callable[[], Layout | None] | None = None, per_frame: int = 4) -> None:
        self.tile, self.overlap, self.min_interval, self.sweep = tile, overlap, min_interval, sweep
        self.layout, self.per_frame = layout or (lambda: None), per_frame
        model_path("face-detector-full")  # MediaPipe opens the file itself; check it first
        model_path("face-detector-short")
        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)
        self._short = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=min_score)
        self._last_full: float | None = None
        self._last_region = -np.inf
        self._cursor = 0
        self._layout_seen: float | None = None
        self._wanted_at: dict[int, float] = {}
        self.passes = 0

    def regions(self, width: int, height: int, layout: Layout | None = None) -> list[Region]:
        """Every region searched in a frame: the layout's tiles (see :func:`tile_regions`), or without a
        layout the whole frame, then the squares."""
        if layout is not None and len(layout):
            return [r for group in tile_regions(layout, width, height, self.tile, self.overlap) for r in group]
        return [(0, 0, width, height), *tile_grid(width, height, self.tile, self.overlap)]

    def full_due(self, t: float, faces: Faces) -> bool:
        """Whether frame time ``t`` (seconds) needs a search of every region, given the live tracks."""
        if self._last_full is None or t < self._last_full:
            return True
        wanting = len(faces) == 0 or bool(np.any(faces.score <= 0))
        return wanting and t - self._last_full >= self.min_interval

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        layout = self.layout()
        if layout is not None and len(layout):
            regions = self._tile_pass(frame, faces, layout)
            return Faces.concat([faces, self.find(frame.image, regions, tiles=True)]) if regions else faces
        regions = self.regions(*frame.size)
        if self.full_due(frame.t, faces):
            self._last_full = self._last_region = frame.t
        elif abs(frame.t - self._last_region) >= self.sweep / len(regions) - 1e-3:  # 1 ms: float slack
            self._last_region = frame.t
            regions = [regions[self._cursor % len(regions)]]
            self._cursor += 1
        else:
            return faces
        return Faces.concat([faces, self.find(frame.image, regions)])

    def _tile_pass(self, frame: Frame, faces: Faces, layout: Layout) -> list[Region]:
        """The regions to search in ``frame`` with ``layout``: every tile's when the layout is new; else
        the tiles with no tracked face (at most ``per_frame``, each every ``min_interval`` s) and the
        next region of the sweep."""
        groups = tile_regions(layout, *frame.size, self.tile, self.overlap)
        if self._layout_seen != layout.found_at:
            self._layout_seen, self._wanted_at = layout.found_at, {}
            self._last_region = frame.t
            return [r for group in groups for r in group]
        picks: list[Region] = []
        for i in self._wanting(frame.t, faces, layout):
            self._wanted_at[i] = frame.t
            picks.extend(groups[i])
        flat = [r for group in groups for r in group]
        if abs(frame.t - self._last_region) >= self.sweep / len(flat) - 1e-3:
            self._last_region = frame.t
            picks.append(flat[self._cursor % len(flat)])
            self._cursor += 1
        return picks

    def _wanting(self, t: float, faces: Faces, layout: Layout) -> list[int]:
        """Tiles with no tracked face and a camera on, not searched for ``min_interval`` s: at most ``per_frame``,
        the longest waiting first."""
        tracked = faces.select(faces.score > 0)
        centres = tracked.bbox[:, :2] + tracked.bbox[:, 2:] / 2
        occupied = set(layout.tile_of(centres).tolist())
        empty = [i for i in range(len(layout)) if i not in occupied and not layout.camera_off[i]
                 and t - self._wanted_at.get(i, -np.inf) >= self.min_interval - 1e-3]
        return sorted(empty, key=lambda i: self._wanted_at.get(i, -np.inf))[:self.per_frame]

    def find(self, image: np.ndarray, regions: list[Region] | None = None, tiles: bool = False) -> Faces:
        """Faces in ``regions`` (default: all) of a ``(H, W, 3)`` BGR image, as boxes with scores.

        ``tiles``: the regions are meeting tiles, where a face may fill its region: those larger than
        :data:`SHORT_MAX` are searched by both detectors (the whole-frame search keeps full-range only:
        short-range added false faces on the group photos).
        """
        h, w = image.shape[:2]
        found = [self._detect(image, region, tiles) for region in (regions or self.regions(w, h))]
        if not found:
            return Faces.empty()
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        keep = nms(boxes, scores)
        return Faces.from_boxes(boxes[keep], scores[keep])

    def _detect(self, image: np.ndarray, region: Region, tile: bool) -> tuple[np.ndarray, np.ndarray]:
        x, y, w, h = region
        if w < 16 or h < 16:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        self.passes += 1
        rgb = cv2.cvtColor(image[y:y + h, x:x + w], cv2.COLOR_BGR2RGB)
        if max(w, h) <= SHORT_MAX:
            detectors = (self._short,)
        else:
            detectors = (self._short, self._detector) if tile else (self._detector,)
        boxes, scores = [], []
        for detector in detectors:
            for det in detector.process(rgb).detections or []:
                rb = det.location_data.relative_bounding_box
                boxes.append([x + rb.xmin * w, y + rb.ymin * h, rb.width * w, rb.height * h])
                scores.append(det.score[0])
        return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)

    def forget(self, track_ids: set[int]) -> None:
        """Nothing per track: detection keeps no state about people."""

    def close(self) -> None:
        """Free the detectors."""
        self._detector.close()
        self._short.close()


def tile_regions(layout: Layout, width: int, height: int, tile: int = 640, overlap: float = 0.25) -> list[list[Region]]:
    """For each of ``layout``'s tiles, the regions that search it: the tile widened by :data:`TILE_PAD` and
    clipped to the ``width × height`` frame, and for a tile over ``1.5 × tile`` px also its squares
    (:func:`tile_grid`), so a small face in a large tile (a speaker view) is found."""
    groups = []
    for x, y, w, h in np.round(layout.tiles).astype(int).tolist():
        x0, y0 = max(0, x - TILE_PAD), max(0, y - TILE_PAD)
        x1, y1 = min(width, x + w + TILE_PAD), min(height, y + h + TILE_PAD)
        whole = (x0, y0, max(0, x1 - x0), max(0, y1 - y0))
        squares = [(x0 + sx, y0 + sy, sw, sh) for sx, sy, sw, sh in tile_grid(whole[2], whole[3], tile, overlap)]
        groups.append([whole, *squares])
    return groups
