"""detect: find faces in the whole frame and in overlapping tiles.

A meeting's gallery view holds many small faces: on a whole 1920×1080 frame
MediaPipe's detector finds 3 of 12, per tile 12 of 12 (measured with mediapipe 0.10.21). So the frame
is searched whole (for large faces) and in overlapping square tiles of
``tile`` pixels (for small ones), and the results are merged by non-maximum
suppression.

Detection is the most expensive stage, so its cost per analysed frame is
bounded: while every face is tracked, one region at a time is searched (the
whole frame or one tile, in turn), paced so that all regions are searched once
every ``sweep`` seconds; a newcomer anywhere is found within that. Only when no
face is tracked, or a tracked face was lost, is every region searched at once,
at most every ``min_interval`` seconds.
"""

from __future__ import annotations

import logging

import cv2
import mediapipe as mp
import numpy as np

from vcam.models import model_path
from vcam.types import Faces, Frame

log = logging.getLogger(__name__)


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
                 sweep: float = 1.0) -> None:
        self.tile, self.overlap, self.min_interval, self.sweep = tile, overlap, min_interval, sweep
        model_path("face-detector-full")  # MediaPipe opens the file itself; check it first
        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)
        self._last_full: float | None = None
        self._last_region = -np.inf
        self._cursor = 0
        self.passes = 0

    def regions(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """Every region searched in a frame: the whole frame, then the tiles."""
        return [(0, 0, width, height), *tile_grid(width, height, self.tile, self.overlap)]

    def full_due(self, t: float, faces: Faces) -> bool:
        """Whether frame time ``t`` (seconds) needs a search of every region, given the live tracks."""
        if self._last_full is None or t < self._last_full:
            return True
        wanting = len(faces) == 0 or bool(np.any(faces.score <= 0))
        return wanting and t - self._last_full >= self.min_interval

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
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

    def find(self, image: np.ndarray, regions: list[tuple[int, int, int, int]] | None = None) -> Faces:
        """Faces in ``regions`` (default: all) of a ``(H, W, 3)`` BGR image, as boxes with scores."""
        h, w = image.shape[:2]
        found = [self._detect(image, region) for region in (regions or self.regions(w, h))]
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        keep = nms(boxes, scores)
        return Faces.from_boxes(boxes[keep], scores[keep])

    def _detect(self, image: np.ndarray, region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        x, y, w, h = region
        if w < 16 or h < 16:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        self.passes += 1
        result = self._detector.process(cv2.cvtColor(image[y:y + h, x:x + w], cv2.COLOR_BGR2RGB))
        boxes, scores = [], []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            boxes.append([x + rb.xmin * w, y + rb.ymin * h, rb.width * w, rb.height * h])
            scores.append(det.score[0])
        return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)

    def forget(self, track_ids: set[int]) -> None:
        """Nothing per track: detection keeps no state about people."""

    def close(self) -> None:
        """Free the detector."""
        self._detector.close()
