"""Pre-rendered marks (chips, the badge, gaze tiles) pasted with their anti-aliased edges.

Text and small rounded shapes are costly to draw with OpenCV's anti-aliasing
(tens of µs each), and most of them look the same frame after frame: the
label "#3 looking" or the badge. They are rendered once into a :class:`Sprite`,
kept in a bounded LRU cache by the callers, and pasted by copying the sprite
and blending back only its few see-through pixels (the rounded corners).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np


class Sprite(NamedTuple):
    """A small picture with coverage, and its see-through pixels listed for a fast paste.

    Attributes:
        bgr: ``(h, w, 3) uint8`` colours.
        mask: ``(h, w) uint8`` coverage, 0..255.
        ys, xs: ``(K,) intp`` rows and columns of the K pixels with coverage below 1.
        fg: ``(K, 3) float32`` colour times coverage at those pixels, plus 0.5 to round.
        keep: ``(K, 1) float32`` ``1 - coverage`` at those pixels.
    """

    bgr: np.ndarray
    mask: np.ndarray
    ys: np.ndarray
    xs: np.ndarray
    fg: np.ndarray
    keep: np.ndarray


def render(w: int, h: int, paint: Callable[[np.ndarray], None], shape: Callable[[np.ndarray], None]) -> Sprite:
    """A ``w`` × ``h`` px sprite.

    ``paint`` draws the colours on a black ``(h, w, 3)`` canvas; ``shape`` draws
    the coverage, 255 = opaque, on a black ``(h, w)`` one.
    """
    bgr = np.zeros((h, w, 3), np.uint8)
    paint(bgr)
    mask = np.zeros((h, w), np.uint8)
    shape(mask)
    ys, xs = np.nonzero(mask < 255)
    a = mask[ys, xs][:, None].astype(np.float32) / 255.0
    return Sprite(bgr, mask, ys, xs, bgr[ys, xs] * a + 0.5, 1.0 - a)


def blit(img: np.ndarray, sprite: Sprite, p0: tuple[int, int]) -> None:
    """Paste ``sprite`` onto ``img`` in place with its top-left at ``p0`` px; the part off the image is dropped."""
    h, w = sprite.mask.shape
    x, y = p0
    if x >= 0 and y >= 0 and x + w <= img.shape[1] and y + h <= img.shape[0]:
        _paste(img[y : y + h, x : x + w], sprite)
    else:
        _paste_clipped(img, sprite, p0)


def _paste(roi: np.ndarray, s: Sprite) -> None:
    """Copy the sprite over all of ``roi``, then blend back only its see-through pixels (a few % of them)."""
    bg = roi[s.ys, s.xs]
    roi[:] = s.bgr
    roi[s.ys, s.xs] = bg * s.keep + s.fg


def clip(img: np.ndarray, p0: tuple[int, int], w: int, h: int) -> tuple[np.ndarray, slice, slice] | None:
    """The part of a ``w`` × ``h`` px rectangle at ``p0`` that is on ``img``.

    Returns ``(roi, rows, cols)``: the view of ``img`` it covers, and the rows and
    columns of the rectangle that view corresponds to; None when none of it is on.
    """
    x0, y0 = max(p0[0], 0), max(p0[1], 0)
    x1, y1 = min(p0[0] + w, img.shape[1]), min(p0[1] + h, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return None
    return img[y0:y1, x0:x1], slice(y0 - p0[1], y1 - p0[1]), slice(x0 - p0[0], x1 - p0[0])


def _paste_clipped(img: np.ndarray, s: Sprite, p0: tuple[int, int]) -> None:
    """Blend the on-image part of a sprite that sticks out of ``img``."""
    part = clip(img, p0, s.mask.shape[1], s.mask.shape[0])
    if part is None:
        return
    roi, rows, cols = part
    alpha = s.mask[rows, cols].astype(np.float32) / 255.0
    roi[:] = cv2.blendLinear(roi, s.bgr[rows, cols], 1.0 - alpha, alpha)
