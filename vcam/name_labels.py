"""Name labels drawn the way meeting apps draw them: the labelled set ``vcam eval names`` and the tests read.

Zoom, Teams, Meet and Webex print each participant's name in the bottom-left corner of their gallery
tile: white text 10-20 px tall on a dark translucent box, dark text on a light box, or white text
straight on the video with a soft shadow. A name wider than the app allows is cut and ends in "…".

:func:`labelled_set` makes the same labels every time (a pure function of the names, sizes and
portraits, no randomness): each is a tile of a real portrait (``vcam/assets/portraits``) with a name
drawn in DejaVu Sans (the font matplotlib ships) and cut to the tile's label band as
``Layout.of`` places it (the bottom fifth). :class:`Label` keeps what the app shows (``truth``).

DejaVu Sans has no CJK glyphs, so the non-Latin names are Cyrillic, Greek, Arabic and Hebrew.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vcam.sources.demo import load_portraits

log = logging.getLogger(__name__)

ELLIPSIS = "…"
STYLES = ("box", "light", "bare")
"""``box``: white on a dark translucent box (Zoom, Teams); ``light``: dark on a light box (Meet's light
theme); ``bare``: white straight on the video with a shadow (Webex, Meet)."""
SIZES = (10, 12, 14, 16, 18, 20)
"""Font sizes in pixels (DejaVu's em size)."""
TILES = ((274, 154), (384, 216), (480, 270), (640, 360))
"""Tile sizes ``(w, h)`` in pixels: a 7x7, 5x5, 4x4 and 3x3 gallery at 1920x1080."""

LATIN = ("José Álvarez", "Zoë Müller", "François Lefèvre", "Søren Ødegård", "Łukasz Wiśniewski",
         "Ana-María Núñez", "Grace Hopper", "Barack Obama", "Eileen Collins", "Joe Biden", "Priya Raman",
         "Chen Wei", "Siobhán O'Connor", "Björn Åkesson", "Nguyễn Văn An", "Dr. Amara Okafor", "Jean-Luc Picard",
         "İlkay Gündoğan", "Mateus Conceição", "Kai Tanaka")
LONG = ("Maximilian Alexander von Hohenberg-Schwarzenstein", "Bartholomew Fitzgerald-Worthington III",
        "Anna-Katharina Oberschleißheimer", "Christopher Montgomery (Conference Room B)")
NON_LATIN = ("Дмитрий Иванов", "Γιώργος Παπαδόπουλος", "محمد علي", "דוד כהן")


@dataclass(frozen=True)
class Label:
    """One rendered name label.

    Attributes:
        image: ``(h, w, 3) uint8`` BGR: the tile's label band (its bottom fifth), as vcam crops it.
        truth: what the app shows: the name, or its visible prefix ending in "…" when cut.
        name: the full name.
        size: font size in pixels.
        style: one of :data:`STYLES`.
        script: ``"latin"`` or ``"other"`` (a script the reader may not know: None is then right too).
    """

    image: np.ndarray
    truth: str
    name: str
    size: int
    style: str
    script: str


def font_path() -> Path:
    """DejaVuSans.ttf inside matplotlib's package data (matplotlib is a dependency of mediapipe)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def labelled_set(per_name: int = 3) -> list[Label]:
    """The labelled set: every name at ``per_name`` (size, style, tile, portrait) combinations, in a fixed order.

    Sizes and styles rotate through the names so each size and style is covered about equally.
    """
    portraits = [image for _, image in load_portraits()]
    names = [(n, "latin") for n in LATIN + LONG] + [(n, "other") for n in NON_LATIN]
    labels = []
    for i, (name, script) in enumerate(names):
        for k in range(per_name):
            j = i * per_name + k
            size, style = SIZES[(i + k * 2) % len(SIZES)], STYLES[(i + k) % len(STYLES)]
            labels.append(render(name, size, style, _tile_for(size, j), portraits[j % len(portraits)], script))
    return labels


def _tile_for(size: int, j: int) -> tuple[int, int]:
    """A tile whose label band (the bottom fifth) holds a label of font ``size``; rotates with ``j``."""
    fits = [t for t in TILES if t[1] // 5 >= size + 12]
    return fits[j % len(fits)]


def render(name: str, size: int, style: str, tile: tuple[int, int], portrait: np.ndarray,
           script: str = "latin", max_width: float = 0.6) -> Label:
    """One label: ``name`` in font ``size`` px and ``style`` on ``portrait`` fitted to a ``tile`` ``(w, h)``.

    A name wider than ``max_width`` of the tile is cut to the longest prefix that fits with "…".
    """
    w, h = tile
    image = Image.fromarray(cv2.cvtColor(_fit(portrait, w, h), cv2.COLOR_BGR2RGB))
    font = ImageFont.truetype(str(font_path()), size)
    shown = fit_text(name, font, max_width * w)
    _draw(image, shown, font, style)
    band = np.asarray(image)[h - h // 5:, :, ::-1].copy()
    return Label(band, shown, name, size, style, script)


def fit_text(name: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """``name``, or its longest prefix (trailing spaces dropped) + "…" that is at most ``width`` px wide."""
    if font.getlength(name) <= width:
        return name
    for end in range(len(name) - 1, 0, -1):
        shown = name[:end].rstrip() + ELLIPSIS
        if font.getlength(shown) <= width:
            return shown
    return ELLIPSIS


def _draw(image: Image.Image, text: str, font: ImageFont.FreeTypeFont, style: str) -> None:
    """Draw ``text`` in the bottom-left corner of ``image`` (RGB, in place) the way ``style`` says."""
    pad = max(4, font.size // 3)
    left, top, right, bottom = font.getbbox(text)
    box = (pad, image.height - pad - (bottom - top) - 2 * pad, pad + right + 2 * pad, image.height - pad)
    xy = (box[0] + pad, box[1] + pad - top)
    if style == "bare":
        ImageDraw.Draw(image).text((xy[0] + 1, xy[1] + 1), text, font=font, fill=(0, 0, 0))
        ImageDraw.Draw(image).text(xy, text, font=font, fill=(255, 255, 255))
        return
    fill, ink = ((20, 20, 20, 170), (255, 255, 255)) if style == "box" else ((235, 235, 235, 215), (32, 33, 36))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rounded_rectangle(box, radius=pad // 2, fill=fill)
    image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))
    ImageDraw.Draw(image).text(xy, text, font=font, fill=ink)


def _fit(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """``image`` scaled to cover ``(w, h)`` and centre-cropped: ``(h, w, 3) uint8``."""
    scale = max(w / image.shape[1], h / image.shape[0])
    big = cv2.resize(image, (max(w, round(image.shape[1] * scale)), max(h, round(image.shape[0] * scale))),
                     interpolation=cv2.INTER_AREA)
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y:y + h, x:x + w]
