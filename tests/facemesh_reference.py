"""The reference for vcam's landmarks stage: MediaPipe FaceMesh(refine_landmarks=True), one graph per track.

This was vcam's landmarks stage until the batched LiteRT stage (vcam/pipeline/landmarks.py) replaced
it (about the same time per frame, ~800 MB less memory on a 7x7 gallery: bench/landmarks_speed.py). It stays here, unchanged but for
its name, as the oracle: tests/pipeline/test_landmarks.py and bench/landmarks_eval.py compare the
new stage with it. It has the same contract (a stage with forget and close).

Each track gets its own FaceMesh in video mode, fed a square crop around the
track's box resized to ``crop`` pixels. Video mode lets FaceMesh follow the
face from its previous landmarks instead of re-detecting it, and a crop keeps
small gallery faces at the scale FaceMesh was trained for (measured with mediapipe 0.10.21: on a
whole 1080p grid of 12 tiles FaceMesh finds none of the 12 faces).

Faces whose mesh is not found this frame are dropped from the output; their
tracks live on in the tracker until ``max_age``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import cv2
import mediapipe as mp
import numpy as np

from vcam.models import model_path
from vcam.types import N_LANDMARKS, Faces, Frame

log = logging.getLogger(__name__)


def crop_transform(box: np.ndarray, scale: float, size: int) -> np.ndarray:
    """The ``(2, 3)`` affine map from frame pixels to a ``size × size`` crop.

    The crop is a square of side ``scale × max(w, h)`` centred on ``box``
    (``[x, y, w, h]`` pixels); parts outside the frame come out black.
    """
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * scale
    s = size / max(side, 1.0)
    cx, cy = x + w / 2, y + h / 2
    return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)


def points_to_frame(points: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """Map ``(478, 3)`` normalised crop points back to frame pixels.

    x, y go through the inverse of ``m``; z (normalised like x) is scaled to frame pixels.
    """
    s, tx, ty = m[0, 0], m[0, 2], m[1, 2]
    out = np.empty_like(points)
    out[:, 0] = (points[:, 0] * size - tx) / s
    out[:, 1] = (points[:, 1] * size - ty) / s
    out[:, 2] = points[:, 2] * size / s
    return out


def box_of(points: np.ndarray) -> np.ndarray:
    """``[x, y, w, h]`` around the ``(478, 3)`` points (first 468: the mesh)."""
    lo, hi = points[:468, :2].min(axis=0), points[:468, :2].max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float32)


class FaceMeshLandmarks:
    """The FaceMesh landmarks stage (vcam's until the batched one).

    Args:
        crop: side of the square crop FaceMesh sees, pixels. Larger is slower and
            no more accurate (FaceMesh runs at 192×192 inside).
        scale: crop side as a multiple of the face box. Larger tolerates faster
            motion between frames; smaller keeps small faces larger.
        min_confidence: FaceMesh's detection and tracking confidence (0..1).
        workers: threads fitting faces side by side (MediaPipe releases the GIL).
            2 uses the second core of a 2-core laptop for the part of each frame
            the video threads leave idle; 1 fits faces one after another.
    """

    name = "landmarks"
    feature = None

    def __init__(self, crop: int = 256, scale: float = 2.0, min_confidence: float = 0.5, workers: int = 2) -> None:
        self.crop, self.scale, self.min_confidence = crop, scale, min_confidence
        self.workers = max(1, workers)
        for name in ("face-landmarker", "face-detector-short"):  # MediaPipe opens them itself; check them first
            model_path(name)
        self._meshes: dict[int, mp.solutions.face_mesh.FaceMesh] = {}
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        self.forget(set(faces.track_id.tolist()))
        jobs = [(frame.image, int(tid), box) for tid, box in zip(faces.track_id, faces.bbox)]
        found = list(self._map(jobs))
        keep = [i for i, pts in enumerate(found) if pts is not None]
        if not keep:
            return faces.select(np.zeros(len(faces), bool))
        pts = np.stack([found[i] for i in keep])
        boxes = np.stack([box_of(p) for p in pts])
        return faces.select(keep).replace(landmarks=pts, bbox=boxes, score=np.ones(len(keep), np.float32))

    def _map(self, jobs: list[tuple[np.ndarray, int, np.ndarray]]) -> Iterator[np.ndarray | None]:
        """``_fit`` over ``jobs``, in order; each track's FaceMesh is used by one thread at a time."""
        if self.workers == 1 or len(jobs) < 2:
            return (self._fit(*job) for job in jobs)
        for _, tid, _ in jobs:
            self._mesh(tid)  # create on this thread: MediaPipe graphs start here, not in the pool
        if self._pool is None:  # created on the analysis thread, so its threads inherit its CPU priority
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vcam-landmarks")
        return self._pool.map(lambda job: self._fit(*job), jobs)

    def _fit(self, image: np.ndarray, tid: int, box: np.ndarray) -> np.ndarray | None:
        """``(478, 3)`` frame-pixel landmarks of track ``tid`` near ``box``, or None."""
        if not np.all(np.isfinite(box)) or box[2] < 4 or box[3] < 4:
            return None
        m = crop_transform(box, self.scale, self.crop)
        crop = cv2.cvtColor(cv2.warpAffine(image, m, (self.crop, self.crop), flags=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
        result = self._mesh(tid).process(crop)
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        pts = np.array([(p.x, p.y, p.z) for p in lm], np.float32)
        if len(pts) != N_LANDMARKS:
            return None
        return points_to_frame(pts, m, self.crop)

    def _mesh(self, tid: int) -> mp.solutions.face_mesh.FaceMesh:
        if tid not in self._meshes:
            self._meshes[tid] = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=self.min_confidence, min_tracking_confidence=self.min_confidence)
        return self._meshes[tid]

    def forget(self, track_ids: set[int]) -> None:
        """Close the FaceMesh of every track not in ``track_ids`` (also done each frame for the faces present)."""
        for tid in [t for t in self._meshes if t not in track_ids]:
            self._meshes.pop(tid).close()

    def close(self) -> None:
        """Free every FaceMesh and the worker threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.forget(set())
