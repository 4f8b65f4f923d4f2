"""The emotion models' input: each face's square crop, cut and scaled as the model's manifest entry says.

A :class:`CropSpec` is read from a model's manifest entry (``input_size``, ``input_colour``,
``input_scaling``, ``labels``) by :meth:`vcam.pipeline.emotion.Emotion.from_manifest`; :func:`face_crop`
cuts a face's square box (the face box squared, with :data:`OFFSET` on each side, padded with the
crop's border colour where it leaves the frame) and :func:`model_batch` stacks crops into the model's
NHWC float32 input. The stage is :mod:`vcam.pipeline.emotion`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vcam.errors import ModelError
from vcam.manifest import ModelInfo
from vcam.types import EMOTIONS

OFFSET = 0.05
"""Margin added on each side of the squared face box, as a fraction of its side."""


def _fer_scaling(crop: np.ndarray) -> np.ndarray:
    return (crop.astype(np.float32) / 255.0 - 0.5) * 2.0


def _no_scaling(crop: np.ndarray) -> np.ndarray:
    return crop.astype(np.float32)


#: The pixel scalings a manifest's ``input_scaling`` may name: uint8 crop -> float32 model input.
SCALINGS = {"(x/255-0.5)*2": _fer_scaling, "x": _no_scaling}
COLOURS = {"grey": 1, "rgb": 3}
"""Crop colours and their channel counts."""


@dataclass(frozen=True)
class CropSpec:
    """What one emotion model takes and gives.

    Attributes:
        size: side of the square crop, pixels.
        colour: ``"grey"`` (``(size, size)`` crops, one channel) or ``"rgb"`` (``(size, size, 3)``, RGB order).
        scaling: a key of :data:`SCALINGS`, how uint8 pixels become the model's float32 input.
        labels: the model's output classes in its order, in vcam's names (a permutation of EMOTIONS).
    """

    size: int = 64
    colour: str = "grey"
    scaling: str = "(x/255-0.5)*2"
    labels: tuple[str, ...] = EMOTIONS

    def __post_init__(self) -> None:
        if self.colour not in COLOURS or self.scaling not in SCALINGS or self.size < 1:
            raise ModelError(f"emotion crop: expected a size >= 1, colour in {sorted(COLOURS)} and scaling in "
                             f"{sorted(SCALINGS)}, got {self.size!r}, {self.colour!r}, {self.scaling!r}; "
                             f"fix the model's entry in vcam/assets/models/manifest.toml")
        if sorted(self.labels) != sorted(EMOTIONS):
            raise ModelError(f"emotion model labels {list(self.labels)} are not an order of {list(EMOTIONS)}; "
                             f"fix the model's labels in vcam/assets/models/manifest.toml")

    @classmethod
    def from_model(cls, info: ModelInfo) -> CropSpec:
        """The spec of a manifest entry (``input_size``, ``input_colour``, ``input_scaling``, ``labels``)."""
        if info.input_size is None:
            raise ModelError(f"model {info.name} has no input_size, input_colour and input_scaling in the "
                             f"manifest, so it cannot be an emotion model")
        return cls(info.input_size, info.input_colour, info.input_scaling, info.labels)

    @property
    def channels(self) -> int:
        """Channels of the model input: 1 or 3."""
        return COLOURS[self.colour]

    @property
    def order(self) -> list[int]:
        """Output columns to take, in EMOTIONS order: ``probs[:, order]`` is in vcam's order."""
        return [self.labels.index(name) for name in EMOTIONS]


FER = CropSpec()
"""fer's mini-XCEPTION: 64×64 grey, ``(x / 255 − 0.5) × 2``, FER2013's class order (vcam's)."""


def square_box(bbox: np.ndarray, offset: float = OFFSET) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` integer pixels of the square fer would crop around ``bbox`` ``[x, y, w, h]``."""
    x, y, w, h = (int(round(float(v))) for v in bbox)
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    off = int(round(offset * w))
    return x - off, y - off, x + w + off, y + h + off


def border_fill(image: np.ndarray, colour: str = "grey") -> tuple[float, ...]:
    """fer's fill value: the mean grey level (1 value) or BGR colour (3) of the frame's bottom two rows (0..255)."""
    rows = image[-2:] if colour == "rgb" else cv2.cvtColor(image[-2:], cv2.COLOR_BGR2GRAY)
    return tuple(float(v) for v in cv2.mean(rows)[:COLOURS[colour]])


def face_crop(image: np.ndarray, bbox: np.ndarray, spec: CropSpec = FER,
              fill: tuple[float, ...] | None = None) -> np.ndarray:
    """The uint8 crop of the face at ``bbox`` in a ``(H, W, 3)`` BGR image, as ``spec`` wants it.

    ``(size, size)`` grey or ``(size, size, 3)`` RGB: steps 1–4 of the module docstring
    without the scaling. Parts of the square outside the frame are filled with ``fill``
    (default :func:`border_fill`).
    """
    fill = border_fill(image, spec.colour) if fill is None else fill
    x1, y1, x2, y2 = square_box(bbox)
    h, w = image.shape[:2]
    inner = image[np.clip(y1, 0, h):np.clip(y2, 0, h), np.clip(x1, 0, w):np.clip(x2, 0, w)]
    if inner.size == 0:
        flat = np.array([int(round(v)) for v in fill], np.uint8)
        return np.broadcast_to(flat[::-1] if spec.colour == "rgb" else flat[0], _crop_shape(spec)).copy()
    if spec.colour == "grey":
        inner = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    padded = cv2.copyMakeBorder(inner, max(0, -y1), max(0, y2 - h), max(0, -x1), max(0, x2 - w),
                                cv2.BORDER_CONSTANT, value=fill)
    crop = cv2.resize(padded, (spec.size, spec.size))
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB) if spec.colour == "rgb" else crop


def _crop_shape(spec: CropSpec) -> tuple[int, ...]:
    return (spec.size, spec.size) if spec.colour == "grey" else (spec.size, spec.size, 3)


def scale_pixels(crop: np.ndarray, spec: CropSpec = FER) -> np.ndarray:
    """The float32 model input of a uint8 crop: fer's ``(x / 255 − 0.5) × 2`` (-1..1), or what ``spec`` says."""
    return SCALINGS[spec.scaling](crop)


def face_input(image: np.ndarray, bbox: np.ndarray, spec: CropSpec = FER) -> np.ndarray:
    """One model input ``(size, size[, 3]) float32`` for the face at ``bbox`` ``[x, y, w, h]`` of a BGR image."""
    return scale_pixels(face_crop(image, bbox, spec), spec)


def model_batch(crops: list[np.ndarray], spec: CropSpec) -> np.ndarray:
    """``(N, size, size, channels) float32`` model input from N uint8 crops."""
    if not crops:
        return np.zeros((0, spec.size, spec.size, spec.channels), np.float32)
    return scale_pixels(np.stack(crops), spec).reshape(len(crops), spec.size, spec.size, spec.channels)
