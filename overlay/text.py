"""Unicode text for the overlay: names such as José, Zoë or Łukasz, rendered once and pasted as sprites.

OpenCV's Hershey fonts only have ASCII, so participant names are drawn with
Pillow (already installed with matplotlib) in DejaVu Sans, the font matplotlib
ships. The font file is found without importing matplotlib (that import costs
a second and a lot of memory): :func:`importlib.util.find_spec` gives the
package's folder. Without the font, names are drawn with OpenCV after folding
them to ASCII ("Łukasz" -> "Lukasz"), and that is logged once.

Rendered text is kept in bounded LRU caches, so a 7×7 gallery costs one paste
per name and frame, not one text layout.
"""

from __future__ import annotations

import importlib.util
import logging
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from overlay.sprite import Sprite, render
from overlay.style import BGR

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

log = logging.getLogger(__name__)

FONT_FILE = Path("mpl-data") / "fonts" / "ttf" / "DejaVuSans.ttf"
"""Where DejaVu Sans sits inside the matplotlib package."""
ELLIPSIS = "…"
"""Ends a name cut to fit its tile."""
TEXT_CACHE = 512
"""Rendered texts (and coloured chips) kept per kind (LRU); a 7×7 gallery in three states needs ~150.

Each is a few KB at 720 p (a 160×20 px chip); a smaller cache re-renders names
(~0.1 ms each) whenever gaze states flip in a large meeting.
"""
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
                       "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i", "…": "...", "·": "-", "≠": "!="})
"""Letters NFKD does not split into an ASCII letter and a mark."""
_CV_FONT = cv2.FONT_HERSHEY_DUPLEX


@lru_cache(maxsize=1)
def font_path() -> Path | None:
    """DejaVuSans.ttf inside the installed matplotlib, or None (logged once) when it is not there."""
    spec = importlib.util.find_spec("matplotlib")
    path = Path(spec.origin).parent / FONT_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        log.warning("DejaVuSans.ttf not found (matplotlib missing?): names are drawn in ASCII")
        return None
    return path


@lru_cache(maxsize=16)
def _font(px: int) -> FreeTypeFont | None:
    """DejaVu Sans at ``px`` pixels per em, or None without the font file (Pillow is imported on first use)."""
    path = font_path()
    if path is None:
        return None
    from PIL import ImageFont

    return ImageFont.truetype(str(path), px)


def fold(text: str) -> str:
    """``text`` in ASCII for the OpenCV fallback: accents dropped, other letters replaced by "?"."""
    plain = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in plain if not unicodedata.combining(c)).encode("ascii", "replace").decode()


def _cv_scale(px: int) -> float:
    """The Hershey font scale whose capitals are about as tall as DejaVu's at ``px`` px per em."""
    return px / 30.0


@lru_cache(maxsize=TEXT_CACHE)
def width(text: str, px: int) -> int:
    """Width in px of ``text`` at ``px`` px per em (in the fallback font when DejaVu is missing)."""
    font = _font(px)
    if font is None:
        return cv2.getTextSize(fold(text), _CV_FONT, _cv_scale(px), 1)[0][0]
    return int(np.ceil(font.getlength(text)))


def line_height(px: int) -> int:
    """Height in px of one line of text at ``px`` px per em, ascent plus descent."""
    font = _font(px)
    if font is None:
        (_, h), base = cv2.getTextSize("Ag", _CV_FONT, _cv_scale(px), 1)
        return h + base
    ascent, descent = font.getmetrics()
    return ascent + descent


@lru_cache(maxsize=TEXT_CACHE)
def fit(text: str, px: int, max_w: int) -> str:
    """``text`` if it is at most ``max_w`` px wide at ``px``, else its longest prefix + "…" that is; "" if none."""
    if width(text, px) <= max_w:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if width(text[:mid].rstrip() + ELLIPSIS, px) <= max_w else (lo, mid - 1)
    return text[:lo].rstrip() + ELLIPSIS if lo > 0 else ""


@lru_cache(maxsize=TEXT_CACHE)
def coverage(text: str, px: int) -> np.ndarray:
    """``(line_height, width) uint8``: ``text`` as anti-aliased coverage, 255 = ink, at ``px`` px per em."""
    h, w = line_height(px), max(1, width(text, px))
    font = _font(px)
    if font is None:
        canvas = np.zeros((h, w), np.uint8)
        base = cv2.getTextSize("Ag", _CV_FONT, _cv_scale(px), 1)[1]
        cv2.putText(canvas, fold(text), (0, h - base), _CV_FONT, _cv_scale(px), 255, 1, cv2.LINE_AA)
        return canvas
    from PIL import Image, ImageDraw

    image = Image.new("L", (w, h), 0)
    ImageDraw.Draw(image).text((0, 0), text, font=font, fill=255)
    return np.asarray(image, np.uint8)


@lru_cache(maxsize=TEXT_CACHE)
def chip(text: str, px: int, ink: BGR, paper: BGR, pad: int) -> Sprite:
    """A rounded chip of colour ``paper`` with ``text`` in ``ink``, ``pad`` px around it; see :func:`chip_size`."""
    cov = coverage(text, px)
    h, w = cov.shape[0] + pad, cov.shape[1] + 2 * pad
    a = cov[:, :, None].astype(np.float32) / 255.0

    def paint(c: np.ndarray) -> None:
        c[:] = paper
        roi = c[pad // 2 : pad // 2 + cov.shape[0], pad : pad + cov.shape[1]]
        roi[:] = (np.float32(paper) * (1.0 - a) + np.float32(ink) * a + 0.5).astype(np.uint8)

    def shape(m: np.ndarray) -> None:
        r = min(pad, h // 2)
        cv2.rectangle(m, (r, 0), (w - 1 - r, h - 1), 255, -1)
        cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 255, -1)
        for c in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(m, c, r, 255, -1, cv2.LINE_AA)

    return render(w, h, paint, shape)


def chip_size(text: str, px: int, pad: int) -> tuple[int, int]:
    """``(width, height)`` in px of the :func:`chip` for ``text``."""
    return max(1, width(text, px)) + 2 * pad, line_height(px) + pad
