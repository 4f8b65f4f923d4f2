"""``draw(image, analysis, style) -> image``: the annotated picture the presenter sends out.

No I/O, no models: it only reads an :class:`~vcam.types.Analysis` and paints on a
copy of the image. The analysis may describe a frame of another size than the
image (the output can be scaled); every coordinate is scaled by
``image size / analysis.size``.

Two views: with no meeting layout (a webcam, one face, a screen without a
gallery) every face gets all its marks (:mod:`overlay.face`); with
``analysis.layout`` each person is drawn inside their own tile, in as much
detail as the tile's size allows, with a room summary (:mod:`overlay.gallery`).
"""

from __future__ import annotations

import numpy as np

from overlay import gallery, marks
from overlay.face import _draw_face, _Face, _label_text, _prepare
from overlay.style import Style
from vcam.types import Analysis

__all__ = ["DEFAULT_STYLE", "draw", "_Face", "_label_text", "_prepare"]

DEFAULT_STYLE = Style()


def draw(image: np.ndarray, analysis: Analysis | None, style: Style = DEFAULT_STYLE) -> np.ndarray:
    """Return a new ``(H, W, 3) uint8`` BGR image: ``image`` with ``analysis`` drawn on it.

    ``image`` is never modified. With ``analysis=None`` only the badge is drawn
    (when ``style.badge``). Faces with a NaN box are skipped; boxes partly off
    the image are clipped. With ``analysis.layout`` set, marks stay inside each
    person's tile (see :mod:`overlay.gallery`). Raises TypeError for a non-uint8
    image and ValueError for a shape other than ``(H, W, 3)``.
    """
    _check_image(image)
    out = image.copy()
    m = style.metrics(out.shape[0])
    if analysis is not None and analysis.layout is not None:
        gallery.draw_gallery(out, analysis, style, m)
    elif analysis is not None:
        for face in _prepare(analysis, out.shape[1], out.shape[0]):
            _draw_face(out, face, style, m)
    if style.badge:
        marks.badge(out, style.badge_text, style, m)
    return out


def _check_image(image: np.ndarray) -> None:
    """Raise TypeError / ValueError unless ``image`` is ``(H, W, 3) uint8``."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"draw() needs a uint8 numpy image, got {getattr(image, 'dtype', type(image).__name__)}")
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape[:2]:
        raise ValueError(f"draw() needs an (H, W, 3) BGR image with H, W > 0, got shape {image.shape}")
