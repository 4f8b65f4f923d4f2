"""Aligned face chips and dlib's face descriptor, for the identity stage and enrollment.

- :func:`face_chip` (~1 ms): a similarity transform (rotation, uniform scale,
  shift) takes five FaceMesh points onto the places dlib's own aligner puts
  them in a 150×150 chip, so the chip looks like the ones the descriptor was
  trained on. No dlib detector and no dlib 68-point shape predictor (its iBUG
  300-W training data forbids commercial use): the points are our landmarks.
- :class:`Descriptor`: a ``(128,)`` vector per chip; two photos of one person
  lie close together. It is dlib's ResNet (``dlib_face_recognition_resnet_model_v1``)
  converted to ONNX by ``models/convert/dlib_descriptor_to_onnx.py`` and run by
  onnxruntime on the calling thread: ~10× faster than dlib-bin on the same
  core with the same numbers (max difference 3e-7); ``bench/descriptor.py``
  measures both. onnxruntime releases the GIL while it runs, so a
  worker thread computes descriptors while the analysis thread goes on; dlib
  held it for the whole call, which is why this used to run in a child process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vcam.errors import ModelError

log = logging.getLogger(__name__)

CHIP_SIZE = 150
"""Side of the aligned face chip in pixels; dlib's descriptor takes 150×150."""
CHIP_PADDING = 0.25
"""Border around dlib's mean face, as a fraction of its size (dlib's default for the descriptor)."""
DESCRIPTOR_SIZE = 128


# --- alignment ----------------------------------------------------------------

# dlib's mean face (dlib/image_transforms/interpolation.h, get_face_chip_details,
# "Average positions of face points 17-67", x and y in 0..1 of the face box),
# the rows for the 68-point landmarks we align on:
_DLIB_RIGHT_EYE = [(0.121737, 0.216423), (0.187122, 0.178758), (0.265825, 0.179852),
                   (0.334606, 0.231733), (0.260918, 0.245099), (0.182743, 0.244077)]  # points 36-41
_DLIB_LEFT_EYE = [(0.645647, 0.231733), (0.714428, 0.179852), (0.793132, 0.178758),
                  (0.858516, 0.216423), (0.79751, 0.244077), (0.719335, 0.245099)]  # points 42-47
_DLIB_NOSE_TIP = (0.490127, 0.515625)  # point 30
_DLIB_MOUTH_RIGHT, _DLIB_MOUTH_LEFT = (0.254149, 0.780233), (0.726104, 0.780233)  # points 48, 54

MEAN_FACE_5 = np.array([np.mean(_DLIB_RIGHT_EYE, axis=0), np.mean(_DLIB_LEFT_EYE, axis=0), _DLIB_NOSE_TIP,
                        _DLIB_MOUTH_RIGHT, _DLIB_MOUTH_LEFT], np.float64)
"""``(5, 2)`` dlib's mean face in 0..1 units: the person's right eye centre (image left),
left eye centre, nose tip, right and left mouth corner. Eye centres are the means
of dlib's six eye points: (0.2255, 0.2160) and (0.7548, 0.2160); nose tip (0.4901,
0.5156); mouth corners (0.2541, 0.7802), (0.7261, 0.7802)."""

# The matching FaceMesh points: eye centres are the means of each eye's 16-point
# contour (not the irises, which move with the gaze), 1 is the nose tip, 61 and
# 291 the mouth corners (the person's right one first, as in dlib's order).
FACEMESH_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
FACEMESH_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
FACEMESH_NOSE_TIP, FACEMESH_MOUTH_RIGHT, FACEMESH_MOUTH_LEFT = 1, 61, 291


def chip_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """``(5, 2) float64`` chip pixels where the five points go, as dlib computes them:
    ``(padding + mean) / (2 × padding + 1) × size``.

    For 150 px and padding 0.25: eyes at (50.3, 47.9) and (103.2, 47.9), nose tip
    (74.0, 76.6), mouth corners (50.4, 103.0) and (97.6, 103.0).
    """
    return (padding + MEAN_FACE_5) / (2 * padding + 1) * size


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """``(5, 2) float64`` eye centres, nose tip and mouth corners from ``(478, 3)`` FaceMesh landmarks (pixels)."""
    pts = np.asarray(landmarks, np.float64)[:, :2]
    return np.stack([pts[list(FACEMESH_RIGHT_EYE)].mean(axis=0), pts[list(FACEMESH_LEFT_EYE)].mean(axis=0),
                     pts[FACEMESH_NOSE_TIP], pts[FACEMESH_MOUTH_RIGHT], pts[FACEMESH_MOUTH_LEFT]])


def chip_transform(landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """The ``(2, 3)`` similarity from frame pixels to chip pixels, least squares over all five points.

    The RANSAC threshold is larger than any face, so every point is an inlier and
    OpenCV's final refinement is the least-squares fit dlib's ``find_similarity_transform`` makes.
    """
    import cv2

    src = five_points(landmarks)
    if not np.isfinite(src).all():
        raise ValueError("landmarks must be finite (478, 3) frame pixels; got NaN in the eye, nose or mouth points")
    m, _ = cv2.estimateAffinePartial2D(src, chip_template(size, padding), ransacReprojThreshold=1e9)
    if m is None:
        raise ValueError("landmarks are degenerate (all five alignment points coincide)")
    return m


def face_chip(image_bgr: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE,
              padding: float = CHIP_PADDING) -> np.ndarray:
    """The aligned ``(size, size, 3) uint8`` **RGB** chip of one face, laid out as ``dlib.get_face_chip``.

    Args:
        image_bgr: ``(H, W, 3) uint8`` BGR frame.
        landmarks: ``(478, 3)`` FaceMesh points in frame pixels.

    Like dlib, a face much larger than the chip is first halved with a Gaussian
    pyramid (only a crop around the face), so the chip is not aliased. Parts
    outside the frame come out black.
    """
    import cv2

    m = chip_transform(landmarks, size, padding)
    region, m = _crop_around(image_bgr, m, size)
    while np.sqrt(abs(np.linalg.det(m[:, :2]))) < 0.5 and min(region.shape[:2]) >= 4:
        region, m = cv2.pyrDown(region), np.hstack([m[:, :2] * 2.0, m[:, 2:]])
    chip = cv2.warpAffine(region, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return cv2.cvtColor(chip, cv2.COLOR_BGR2RGB)


def _crop_around(image: np.ndarray, m: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` the chip samples (with a margin for the pyramid), and ``m`` for that crop."""
    import cv2

    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    margin = 4.0 / max(np.sqrt(abs(np.linalg.det(m[:, :2]))), 1e-6) + 4.0  # pyramid taps, in frame pixels
    h, w = image.shape[:2]
    x0, y0 = (int(max(0, np.floor(corners[:, i].min() - margin))) for i in (0, 1))
    x1, y1 = int(min(w, np.ceil(corners[:, 0].max() + margin))), int(min(h, np.ceil(corners[:, 1].max() + margin)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((2, 2, 3), np.uint8), m
    shifted = m.copy()
    shifted[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    return image[y0:y1, x0:x1], shifted


# --- the descriptor ---------------------------------------------------------------------

_FIX = ("reinstall vcam (run the installer again), or rebuild it with models/convert/dlib_descriptor_to_onnx.py "
        "(see vcam/assets/models/identity/README.md)")


def descriptor_model_path() -> Path:
    """The face descriptor model (dlib's ResNet as ONNX, CC0), checked against the manifest."""
    from vcam.models import model_path

    return model_path("face-descriptor")


def load_session(path: Path):
    """An onnxruntime CPU session on the calling thread for the descriptor at ``path``; ModelError if unusable."""
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"the face descriptor model {path} is missing; {_FIX}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the caller's thread: its priority is the work's priority
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for bad files
        raise ModelError(f"the face descriptor model {path} cannot be loaded ({' '.join(str(err).split())[:200]}); "
                         f"it is corrupt or not the descriptor; {_FIX}") from err
    shape_in, shape_out = session.get_inputs()[0].shape, session.get_outputs()[0].shape
    if list(shape_in[1:]) != [CHIP_SIZE, CHIP_SIZE, 3] or shape_out[-1] != DESCRIPTOR_SIZE:
        raise ModelError(f"the face descriptor model {path} has input {shape_in} and output {shape_out}; expected "
                         f"(N, {CHIP_SIZE}, {CHIP_SIZE}, 3) and (N, {DESCRIPTOR_SIZE}); {_FIX}")
    return session


def as_chips(chips: np.ndarray | Sequence[np.ndarray]) -> tuple[np.ndarray, bool]:
    """``(B, 150, 150, 3) uint8`` from one chip or a batch, and whether a single chip was given."""
    batch = np.asarray(chips)
    single = batch.ndim == 3
    batch = batch[None] if single else batch
    if batch.dtype != np.uint8:
        raise TypeError(f"face chips must be uint8 RGB, got {batch.dtype}")
    if batch.ndim != 4 or batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"face chips must be (150, 150, 3) or (B, 150, 150, 3), got {np.shape(chips)}; use face_chip()")
    return np.ascontiguousarray(batch), single


class Descriptor:
    """dlib's face descriptor (as ONNX), run on the calling thread with the GIL released.

    ``descriptor(chip)`` maps a ``(150, 150, 3) uint8`` RGB chip from :func:`face_chip`
    to a ``(128,) float32`` vector (unit-free; Euclidean distances between two
    photos of one person are mostly under 0.6); a batch ``(B, 150, 150, 3)`` or a
    list of chips gives ``(B, 128)``. The graph does dlib's input scaling itself.
    Raises ModelError for a missing or broken file. One instance may be called
    from one thread at a time.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else descriptor_model_path()
        self._session = load_session(self.path)

    def __call__(self, chips: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        batch, single = as_chips(chips)
        if len(batch) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        out = self._session.run(None, {"chips": batch})[0].astype(np.float32, copy=False)
        return out[0] if single else out
