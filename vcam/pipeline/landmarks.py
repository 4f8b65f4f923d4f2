"""landmarks: 478 points with irises per tracked face, every face on one pair of models per worker.

MediaPipe's face mesh graph, rebuilt around two of its models: one instance of each
per worker thread serves every face, instead of one FaceMesh graph per track (on a
7×7 gallery that was ~800 MB more). Two runtimes run them, the same steps around
either (``runtime``; ``LiteRTModel`` and ``OnnxModel`` of :mod:`vcam.pipeline.landmarks_runtime`, one
``run(batch)`` each):
LiteRT (``ai-edge-litert``) on the ``.tflite`` files wherever it imports, else
onnxruntime on their ONNX conversions (``vcam/assets/models/landmarks/``): LiteRT
has no Windows wheel.

1. **Face ROI.** An upright square around each face: from the track's previous
   landmarks when it has them (the bounding box of the 468 mesh points, rotated
   so the outer eye corners 33 → 263 are level), else from the track's box,
   unrotated. Its side is ``scale`` × the box's longer side (MediaPipe: 1.5).
2. **Mesh.** Every ROI warped to 192×192 RGB in 0..1 and stacked;
   ``face_landmark.tflite`` gives 468 points and a face-presence logit per face,
   ``batch`` faces per call.
   A face whose presence (sigmoid) is below ``min_confidence`` is dropped. A
   face seen for the first time is fitted twice: the second time from the ROI
   of its first mesh, so a rolled head is straightened before its points count.
3. **Eyes.** For each eye a square of ``eye_scale`` × the corner distance
   (corners 33/133 and 362/263), rotated to the corner axis; the eye with
   corners 362/263 (the person's left) is flipped so both look like the model's
   training eye. ``iris_landmark.tflite`` gives 71 eye-contour and brow points
   and 5 iris points per eye, ``2 × batch`` eyes per call.
4. **Merge**: the iris model's 16 lid points (corners included) replace the
   mesh's (x, y; the mesh's depth is kept; ``eye_points``), and its 5 + 5 iris
   points become 468–472 (the eye with corners 33/133) and 473–477, in
   FaceMesh(refine_landmarks=True)'s order, with the mean depth of their eye's lids.
   MediaPipe's iris graph replaces all 71 points; measured against FaceMesh
   (``bench/landmarks_eval.py``) the lids alone agree as well on every value gaze
   uses and the rest of the mesh agrees better.

The only per-track state is the last landmarks (for the next ROI), dropped
when the face is not found or the track ends (:meth:`Landmarks.forget`), and moved
with its face when the tracker relabels it (:meth:`Landmarks.rename`).

The faces are split between ``workers`` threads, each with its own models.

Accuracy against FaceMesh(refine_landmarks=True) (``bench/landmarks_eval.py``; median/p95 over
faces, distances as a share of the inter-ocular distance): mesh points 0.022/0.035, iris points
0.013-0.015/0.031-0.067, head pose within 0.9-1.2°/2.2-3.2° per axis, iris h_ratio within
0.015-0.020/0.045-0.084; every face FaceMesh finds on the test photos and the 3×3 and 7×7 demo
galleries is found.

Speed (``bench/landmarks_speed.py``): the mesh model takes ~2 ms per face and the
iris model ~1.5-1.7 ms per eye under LiteRT's XNNPACK on one thread, about the
CPU time FaceMesh spent per face; the ONNX conversions
(``models/convert/face_landmarks_to_onnx.py``) under onnxruntime 1.32 took ~2× the
stage's CPU time per face (3×3 and 7×7 demo galleries), which is why LiteRT runs
them where it can. Under onnxruntime the points lie within 0.33 px (0.007 of the
inter-ocular distance) of LiteRT's on the test photos, the same faces found.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from vcam.models import model_path
from vcam.pipeline.landmarks_runtime import (BACKENDS, MODEL_NAMES, RUNTIME_LABELS, Model, as_input, choose_runtime,
                                             run_batched)
from vcam.types import N_LANDMARKS, Faces, Frame

log = logging.getLogger(__name__)

MESH_SIZE = 192
"""Side in pixels of the face crop the mesh model takes."""
EYE_SIZE = 64
"""Side in pixels of the eye crop the iris model takes."""
N_MESH = 468
"""Mesh points; the iris points follow them."""

#: The mesh indices of the iris model's 71 eye-contour points, for the eye with corners 33/133
#: (MediaPipe's update_face_landmarks_calculator.cc): contour, then 4 halos and the brow.
EYE_33 = np.array([
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
    130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190,
    226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
    35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245,
    156, 70, 63, 105, 66, 107, 55, 193])
#: The same for the eye with corners 362/263.
EYE_263 = np.array([
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
    359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414,
    446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413,
    265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465,
    383, 300, 293, 334, 296, 336, 285, 417])
#: ``(corner, corner, mesh indices of the 71 points, first iris index, flipped)`` per eye, in output order.
EYES = ((33, 133, EYE_33, 468, False), (362, 263, EYE_263, 473, True))
IRIS_FLIPPED = np.array([0, 3, 2, 1, 4])
"""The iris model's 5 points of a mirrored eye, in FaceMesh's order (its side points swap when unmirrored)."""
EYE_RING = 16
"""The first 16 of each eye's 71 points are its lid contour; the iris depth is their mean (as FaceMesh)."""
REFINED = {"mesh": 0, "lids": EYE_RING, "all": 71}
"""How many of each eye's 71 points the iris model refines, per ``eye_points`` choice."""
IRIS_EVERY_FRAME_MAX = 16
"""Faces up to which every face's eyes are refined at every analysis; above, each face's every other
analysis (see ``Landmarks.iris_stride``). The iris model is ~65 % of the stage's model time per face."""


def to_corners(points: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """``(K, 2)`` frame-pixel ``points`` in the eye's own frame: origin corner ``c0``, unit ``c1 - c0``."""
    d = c1 - c0
    across = np.array([-d[1], d[0]])
    offset = points - c0
    return (np.stack([offset @ d, offset @ across], axis=1) / max(float(d @ d), 1e-6)).astype(np.float32)


def from_corners(rel: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """:func:`to_corners`'s inverse: ``(K, 2)`` eye-frame points back to frame pixels for corners ``c0``, ``c1``."""
    d = c1 - c0
    return (c0 + rel[:, :1] * d + rel[:, 1:2] * np.array([-d[1], d[0]])).astype(np.float32)


# -- geometry: a rotated square ROI as an affine map -----------------------------------


def roi_from_box(box: np.ndarray, scale: float) -> np.ndarray:
    """``[cx, cy, side, angle]`` (pixels, radians): an upright square, ``scale`` × the longer side of ``box``.

    ``box`` is ``[x, y, w, h]`` in frame pixels.
    """
    x, y, w, h = (float(v) for v in box)
    return np.array([x + w / 2, y + h / 2, max(w, h) * scale, 0.0])


def roi_from_points(points: np.ndarray, scale: float) -> np.ndarray:
    """``[cx, cy, side, angle]`` around ``(478, 3)`` frame-pixel landmarks, rotated so 33 → 263 is level.

    As MediaPipe: the axis-aligned box of the 468 mesh points, scaled by ``scale``, square on its longer side.
    """
    lo, hi = points[:N_MESH, :2].min(axis=0), points[:N_MESH, :2].max(axis=0)
    d = points[263, :2] - points[33, :2]
    return np.array([*(lo + hi) / 2, float((hi - lo).max()) * scale, float(np.arctan2(d[1], d[0]))])


def roi_from_corners(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """``[cx, cy, side, angle]`` of an eye between corners ``a``, ``b`` (pixels); side ``scale`` × their distance."""
    d = b - a
    return np.array([*(a + b) / 2, float(np.hypot(*d)) * scale, float(np.arctan2(d[1], d[0]))])


def crop_matrix(roi: np.ndarray, size: int, flip: bool = False) -> np.ndarray:
    """The ``(2, 3)`` affine map from frame pixels to a ``size × size`` crop of ``roi`` (mirrored if ``flip``)."""
    cx, cy, side, angle = roi
    k = size / max(side, 1e-6)
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[k * c, k * s, 0.0], [-k * s, k * c, 0.0]])
    if flip:
        m[0] = -m[0]
    m[:, 2] = size / 2 - m[:, :2] @ np.array([cx, cy])
    return m


def to_frame(points: np.ndarray, roi: np.ndarray, size: int, flip: bool = False) -> np.ndarray:
    """``(..., K, 3)`` crop-pixel points back to frame pixels; z is scaled like x (pixels)."""
    m = crop_matrix(roi, size, flip)
    inv = cv2.invertAffineTransform(m)
    out = np.empty(points.shape, np.float32)
    out[..., :2] = points[..., :2] @ inv[:, :2].T + inv[:, 2]
    out[..., 2] = points[..., 2] * (roi[2] / size)
    return out


def cut(image: np.ndarray, roi: np.ndarray, size: int, flip: bool = False) -> np.ndarray:
    """``(size, size, 3) uint8`` BGR crop of ``roi`` from a BGR ``image``; outside the frame: edge pixels repeated.
    :func:`as_input` makes the crops RGB, all at once."""
    return cv2.warpAffine(image, crop_matrix(roi, size, flip), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def box_of(points: np.ndarray) -> np.ndarray:
    """``[x, y, w, h]`` around the ``(478, 3)`` points (first 468: the mesh)."""
    lo, hi = points[:N_MESH, :2].min(axis=0), points[:N_MESH, :2].max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float32)


# -- the models --------------------------------------------------------------------


class Landmarks:
    """The landmarks stage.

    Args:
        scale: face ROI side as a multiple of the face box (MediaPipe: 1.5). Larger tolerates
            faster motion between frames; smaller gives the model more pixels per face.
        eye_scale: eye ROI side as a multiple of the eye-corner distance (MediaPipe: 2.3).
        min_confidence: face-presence probability (0..1) below which a face is dropped. Higher
            drops more blurred or turned faces; lower keeps meshes fitted to non-faces.
        workers: threads fitting shares of the faces side by side, each with its own pair of
            models (both runtimes release the GIL while a model runs). 2 uses the second core of a
            2-core laptop; 1 fits every face on the analysis thread.
        threads: LiteRT (XNNPACK) or onnxruntime (intra-op) threads per model call. 2 uses the second core of a 2-core
            laptop while the video threads leave it idle; 1 leaves it to them.
        batch: faces (eyes: twice as many) per model call. One model instance serves every face
            whatever the batch; measured here with 1 thread, the mesh model costs ~15-30 % more
            per face in batches of 8-48 than one by one (its activations outgrow the cache), and
            the iris model the same at any batch. With 2 threads, small batches leave the second
            thread idle: use 16 or more.
        eye_points: which of the mesh's eye points the iris model's replace: ``"all"`` 71 (lids,
            4 halos, brow), as MediaPipe's iris graph does; ``"lids"`` the 16 lid points (corners
            included), so the iris and the lids gaze measures it against come from one model;
            ``"mesh"`` none (only the 10 iris points are added).
        runtime: what runs the models (``landmarks_runtime.RUNTIMES``): ``"auto"`` LiteRT when ``ai_edge_litert``
            imports, else onnxruntime; ``"litert"`` or ``"onnx"`` to force one (tests, benches).
            onnxruntime gives the same points within 0.33 px (``tests/pipeline/test_landmarks.py``)
            but took ~2x LiteRT's CPU time per face here (``bench/landmarks_speed.py``).
        mesh, iris: the model files; default: the runtime's manifest models (``face-mesh`` and
            ``iris-landmarks``, or ``face-mesh-onnx`` and ``iris-landmarks-onnx``), verified.

    Raises:
        ModelError: a model file is missing, corrupt or another model.
        ValueError: ``eye_points`` or ``runtime`` is not one of its choices.
        ImportError: ``runtime="litert"`` and ``ai_edge_litert`` does not import.
    """

    name = "landmarks"
    feature = None

    def __init__(self, scale: float = 1.5, eye_scale: float = 2.3, min_confidence: float = 0.5,
                 workers: int = 2, threads: int = 1, batch: int = 1, eye_points: str = "lids",
                 runtime: str = "auto", iris_stride: int | None = None, mesh: Path | None = None,
                 iris: Path | None = None) -> None:
        self.scale, self.eye_scale, self.min_confidence = scale, eye_scale, min_confidence
        if eye_points not in REFINED:
            raise ValueError(f"eye_points must be one of {', '.join(REFINED)}, got {eye_points!r}")
        self.eye_points, self.batch, self.workers = eye_points, max(1, batch), max(1, workers)
        self.iris_stride = iris_stride
        self.runtime = choose_runtime(runtime)
        names, backend = MODEL_NAMES[self.runtime], BACKENDS[self.runtime]
        mesh, iris = mesh or model_path(names[0]), iris or model_path(names[1])
        self._models = [(backend(mesh, names[0], MESH_SIZE, max(1, threads)),
                         backend(iris, names[1], EYE_SIZE, max(1, threads))) for _ in range(self.workers)]
        log.info("landmarks run on %s, %d worker(s)", RUNTIME_LABELS[self.runtime], self.workers)
        self._pool: ThreadPoolExecutor | None = None
        self._last: dict[int, np.ndarray] = {}
        self._eyes: dict[int, np.ndarray] = {}  # track id -> (2, K, 2) refined eye points in each eye's frame
        self._calls = 0

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        ids = [int(t) for t in faces.track_id]
        usable = np.array([np.all(np.isfinite(b)) and b[2] >= 4 and b[3] >= 4 for b in faces.bbox], bool)
        rows = np.flatnonzero(usable)
        carried = self._carried([ids[i] for i in rows])
        points, found, eyes = self.fit(frame.image, [self._roi(ids[i], faces.bbox[i]) for i in rows],
                                       [ids[i] not in self._last for i in rows], carried)
        keep = rows[found]
        self.forget({ids[i] for i in keep})  # every live track is a row: the others were not found
        for i, pts, eye in zip(keep, points[found], eyes[found]):
            self._last[ids[i]], self._eyes[ids[i]] = pts, eye
        if len(keep) == 0:
            return faces.select(np.zeros(len(faces), bool))
        pts = points[found]
        return faces.select(keep).replace(landmarks=pts, bbox=np.stack([box_of(p) for p in pts]),
                                          score=np.ones(len(keep), np.float32))

    def _carried(self, ids: list[int]) -> list[np.ndarray | None]:
        """Per face, the eyes to carry over instead of refining them now (None: refine them).

        With more than :data:`IRIS_EVERY_FRAME_MAX` faces (or ``iris_stride`` set), each face's eyes are
        refined every ``stride``-th analysis, staggered across tracks so each analysis refines an even
        share; in between its last refined lids and irises follow the new mesh's eye corners. A new
        track is always refined.
        """
        self._calls += 1
        stride = self.iris_stride or (1 if len(ids) <= IRIS_EVERY_FRAME_MAX else 2)
        return [None if (tid + self._calls) % stride == 0 else self._eyes.get(tid) for tid in ids]

    def _roi(self, tid: int, box: np.ndarray) -> np.ndarray:
        last = self._last.get(tid)
        return roi_from_points(last, self.scale) if last is not None else roi_from_box(box, self.scale)

    def fit(self, image: np.ndarray, rois: list[np.ndarray], fresh: list[bool],
            carried: list[np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(N, 478, 3)`` frame-pixel landmarks, ``(N,)`` found and ``(N, 2, K, 2)`` the refined eye points in
        each eye's frame (:func:`to_corners`), for ``N`` face ROIs of a BGR ``image``.

        ``fresh`` faces (no previous landmarks) are fitted a second time from their first mesh.
        ``carried``: per face, eyes to place on the new mesh instead of refining them (None: refine).
        The faces are split into one contiguous share per worker, each fitted on its own models.
        """
        k = REFINED[self.eye_points] + 5
        if not rois:
            return np.zeros((0, N_LANDMARKS, 3), np.float32), np.zeros(0, bool), np.zeros((0, 2, k, 2), np.float32)
        carried = carried if carried is not None else [None] * len(rois)
        shares = [s for s in np.array_split(np.arange(len(rois)), self.workers) if len(s)]
        jobs = [(self._models[n], image, [rois[i] for i in s], [fresh[i] for i in s], [carried[i] for i in s])
                for n, s in enumerate(shares)]
        if len(jobs) == 1:
            return self._fit_share(*jobs[0])
        if self._pool is None:  # created on the analysis thread, so its threads inherit its CPU priority
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vcam-landmarks")
        results = list(self._pool.map(lambda job: self._fit_share(*job), jobs))
        return tuple(np.concatenate([r[n] for r in results]) for n in range(3))  # type: ignore[return-value]

    def _fit_share(self, models: tuple[Model, Model], image: np.ndarray, rois: list[np.ndarray],
                   fresh: list[bool], carried: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`fit` of some faces on one worker's ``(mesh, iris)`` models."""
        mesh, found = self._fit_mesh(models[0], image, rois)
        again = [i for i in range(len(rois)) if fresh[i] and found[i]]
        if again:
            rois = list(rois)
            for i in again:
                rois[i] = roi_from_points(np.pad(mesh[i], ((0, 10), (0, 0))), self.scale)
            mesh[again], found[again] = self._fit_mesh(models[0], image, [rois[i] for i in again])
        points, eyes = self._add_eyes(models[1], image, mesh, carried)
        return points, found, eyes

    def _fit_mesh(self, model: Model, image: np.ndarray, rois: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 468, 3)`` mesh points in frame pixels and ``(N,)`` face found, ``batch`` faces per call."""
        coords, logit = run_batched(model, as_input([cut(image, r, MESH_SIZE) for r in rois]), self.batch)
        found = 1 / (1 + np.exp(-logit[:, 0])) >= self.min_confidence
        points = coords.reshape(len(rois), N_MESH, 3)
        return np.stack([to_frame(p, r, MESH_SIZE) for p, r in zip(points, rois)]), found

    def _add_eyes(self, model: Model, image: np.ndarray, mesh: np.ndarray,
                  carried: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 478, 3)``: ``(N, 468, 3)`` mesh with both eyes of every face refined (``2 × batch`` eyes per
        call) or, where ``carried`` has them, placed from a previous refinement; and ``(N, 2, K, 2)`` each
        face's refined eye points in its eyes' frames."""
        out = np.concatenate([mesh, np.zeros((len(mesh), N_LANDMARKS - N_MESH, 3), np.float32)], axis=1)
        eyes = np.zeros((len(mesh), 2, REFINED[self.eye_points] + 5, 2), np.float32)
        jobs = [(n, e, eye, roi_from_corners(m[eye[0], :2], m[eye[1], :2], self.eye_scale))
                for n, m in enumerate(mesh) if carried[n] is None for e, eye in enumerate(EYES)]
        contour, iris = run_batched(model, as_input([cut(image, roi, EYE_SIZE, eye[4]) for _, _, eye, roi in jobs]),
                                    2 * self.batch) if jobs else (np.zeros((0, 213)), np.zeros((0, 15)))
        for (n, e, eye, roi), c, i in zip(jobs, contour.reshape(-1, 71, 3), iris.reshape(-1, 5, 3)):
            both_frame = to_frame(np.concatenate([c, i]), roi, EYE_SIZE, eye[4])
            i, refined = both_frame[71:], both_frame[:REFINED[self.eye_points], :2]
            both = np.concatenate([refined, (i[IRIS_FLIPPED] if eye[4] else i)[:, :2]])
            eyes[n, e] = to_corners(both, out[n, eye[0], :2], out[n, eye[1], :2])
        for n in (n for n in range(len(mesh)) if carried[n] is not None):
            eyes[n] = carried[n]
        for n, e in ((n, e) for n in range(len(mesh)) for e in range(2)):
            eye = EYES[e]
            self._place_eye(out[n], eye, from_corners(eyes[n, e], out[n, eye[0], :2], out[n, eye[1], :2]))
        return out, eyes

    def _place_eye(self, points: np.ndarray, eye: tuple, refined: np.ndarray) -> None:
        """Write one eye's refined ``(K, 2)`` lid and ``5`` iris points (frame pixels, FaceMesh's order) into
        ``(478, 3)`` ``points``; the iris gets the mean depth of the eye's lids."""
        indices, first = eye[2], eye[3]
        lids = indices[:REFINED[self.eye_points]]
        points[lids, :2] = refined[:len(lids)]
        points[first:first + 5, :2] = refined[len(lids):]
        points[first:first + 5, 2] = points[indices[:EYE_RING], 2].mean()

    def rename(self, moves: dict[int, int]) -> None:
        """Keep each moved face's last landmarks under its new track id (``moves``: old id -> new id), so
        the next frame's ROI of a track is its own face's; the tracker calls this when it relabels faces."""
        for state in (self._last, self._eyes):
            moved = {moves[tid]: value for tid, value in state.items() if tid in moves}
            for tid in moves:
                state.pop(tid, None)
            state.update(moved)

    def forget(self, track_ids: set[int]) -> None:
        """Drop the last landmarks of every track not in ``track_ids``."""
        for tid in [t for t in self._last if t not in track_ids]:
            del self._last[tid]
            self._eyes.pop(tid, None)

    def close(self) -> None:
        """Stop the worker threads and forget every track (the models are freed with the stage)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._last.clear()
        self._eyes.clear()
