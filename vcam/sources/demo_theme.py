"""How the demo meeting looks: the themes (colours, gaps, corners) and the cached drawings of names and avatars.

Names are drawn with PIL and DejaVu Sans (shipped inside matplotlib, a vcam dependency) so accents and
other scripts render; each label and each camera-off avatar is drawn once per name and tile size and
kept as a small sprite, which a frame then only blends in (a few µs per label).

Colours are BGR ``uint8`` triples, sizes in pixels of the frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vcam.sources.tiles import Rect

log = logging.getLogger(__name__)

ELLIPSIS = "…"
"""What a name too long for its tile ends with."""
LABEL_WIDTH = 0.8
"""A name label is at most this fraction of its tile's width; longer names are truncated with an ellipsis."""
AVATAR_DIAMETER = 0.30
"""A camera-off tile's disc, as a fraction of the tile's height. Larger discs (0.36-0.42, with initials 38 % of
the disc) were taken for a face by MediaPipe in 8-13 % of tiles tried; 0.30 with initials at 30 % in none of
60 names x 3 tile sizes."""
AVATAR_INITIALS = 0.30
"""Height of the initials' font as a fraction of the disc's diameter."""
BGR = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    """One meeting app's look.

    Attributes:
        name: ``classic``, ``zoom``, ``teams`` (``-light`` appended for a light variant).
        window: the window behind the tiles. tile: a tile's backdrop around the picture.
        camera_off: a camera-off tile's flat colour. label_box, label_alpha: the name label's box and
            its opacity (0..1). text: the name's colour.
        speaking: the active speaker's border colour; None: no border (the classic look: nobody speaks).
        gap: pixels between tiles per 1080 px of frame height (scaled, at least 2). margin: the same
            around the gallery. radius: tile corner radius per 1080 px (0: square).
        border: the speaker border's thickness per 1080 px. strip_on_top: a speaker view's filmstrip
            is above the speaker (Zoom) or below (Teams).
    """

    name: str
    window: BGR
    tile: BGR
    camera_off: BGR
    label_box: BGR
    label_alpha: float
    text: BGR
    speaking: BGR | None
    gap: float
    margin: float
    radius: float
    border: float
    strip_on_top: bool = True

    def px(self, value: float, height: int, least: int = 0) -> int:
        """``value`` (pixels at 1080p) scaled to a frame ``height`` pixels high, at least ``least``."""
        return max(least, round(value * height / 1080))


THEMES: dict[str, Theme] = {
    "classic": Theme("classic", (24, 22, 20), (48, 46, 44), (48, 46, 44), (22, 22, 22), 1.0, (240, 240, 240),
                     None, gap=8, margin=8, radius=0, border=4),
    "zoom": Theme("zoom", (26, 26, 26), (36, 36, 36), (46, 46, 46), (0, 0, 0), 0.55, (255, 255, 255),
                  (89, 217, 35), gap=3, margin=3, radius=0, border=4),
    "zoom-light": Theme("zoom-light", (242, 242, 242), (222, 222, 222), (214, 214, 214), (255, 255, 255), 0.8,
                        (36, 36, 36), (89, 190, 35), gap=3, margin=3, radius=0, border=4),
    "teams": Theme("teams", (58, 40, 41), (71, 51, 52), (84, 62, 64), (20, 14, 16), 0.6, (255, 255, 255),
                   (245, 133, 127), gap=12, margin=24, radius=10, border=4, strip_on_top=False),
    "teams-light": Theme("teams-light", (245, 243, 243), (230, 226, 226), (222, 216, 216), (255, 255, 255), 0.85,
                         (36, 36, 36), (167, 100, 98), gap=12, margin=24, radius=10, border=4,
                         strip_on_top=False),
}
"""The themes by name; ``DemoSource(theme=..., light=...)`` picks ``theme`` or ``theme-light``."""
AVATAR_COLOURS: tuple[BGR, ...] = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
                                   (75, 86, 140), (194, 119, 227), (34, 189, 188), (207, 190, 23))
"""Disc colours of camera-off avatars, picked by name."""


def theme(name: str, light: bool = False) -> Theme:
    """The theme called ``name`` (its light variant if ``light`` and there is one, else itself)."""
    return THEMES.get(f"{name}-light", THEMES[name]) if light else THEMES[name]


@lru_cache(maxsize=1)
def font_path() -> Path:
    """DejaVu Sans from matplotlib's data (it covers Latin, Greek, Cyrillic and Vietnamese accents)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at ``size`` pixels."""
    return ImageFont.truetype(str(font_path()), size)


def font_size(tile_h: int) -> int:
    """The label's font size in pixels for a tile ``tile_h`` pixels high: 10..20, ~7.5 % of the tile."""
    return int(min(20, max(10, round(tile_h * 0.075))))


def fit_name(name: str, size: int, max_width: int) -> str:
    """``name`` as it fits ``max_width`` pixels at font ``size``: whole, or cut at a character with "…"."""
    f = font(size)
    if f.getlength(name) <= max_width:
        return name
    lo, hi = 0, len(name)  # the longest prefix whose "prefix…" fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if f.getlength(name[:mid].rstrip() + ELLIPSIS) <= max_width else (lo, mid - 1)
    return name[:lo].rstrip() + ELLIPSIS


@dataclass(frozen=True)
class Sprite:
    """A small picture blended onto the frame: ``out = frame * keep + paint``.

    Attributes:
        paint: ``(h, w, 3) float32`` BGR colour times opacity. keep: ``(h, w, 1) float32`` 1 - opacity.
        text: the name as drawn (after truncation), or the initials of an avatar.
    """

    paint: np.ndarray
    keep: np.ndarray
    text: str

    @property
    def size(self) -> tuple[int, int]:
        """``(w, h)`` in pixels."""
        return self.paint.shape[1], self.paint.shape[0]

    def blend(self, frame: np.ndarray, x: int, y: int) -> None:
        """Blend onto ``frame`` (in place) with the sprite's top-left at ``(x, y)``; it must fit."""
        w, h = self.size
        patch = frame[y:y + h, x:x + w]
        patch[:] = (patch * self.keep + self.paint).astype(np.uint8)


def _sprite(rgba: Image.Image, text: str) -> Sprite:
    """A Sprite from a PIL RGBA image (colours in RGB)."""
    arr = np.asarray(rgba, np.float32)
    alpha = arr[:, :, 3:] / 255.0
    return Sprite(np.ascontiguousarray(arr[:, :, 2::-1] * alpha), 1.0 - alpha, text)


@lru_cache(maxsize=1024)
def label(name: str, tile_w: int, tile_h: int, look: Theme) -> Sprite:
    """The name label of a ``tile_w`` x ``tile_h`` tile: ``name`` (truncated to fit) on the theme's box."""
    size = font_size(tile_h)
    pad_x, pad_y = max(3, size // 2), max(2, size // 4)
    text = fit_name(name, size, int(tile_w * LABEL_WIDTH) - 2 * pad_x)
    f = font(size)
    box_w, box_h = round(f.getlength(text)) + 2 * pad_x, size + 2 * pad_y + 2
    image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    fill = (*look.label_box[::-1], round(255 * look.label_alpha))
    draw.rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=4 if look.radius else 0, fill=fill)
    text_layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(text_layer).text((pad_x, box_h / 2), text, font=f, fill=(*look.text[::-1], 255), anchor="lm")
    return _sprite(Image.alpha_composite(image, text_layer), text)


def label_rect(sprite: Sprite, rect: Rect) -> Rect:
    """Where ``sprite`` goes in the tile at ``rect``: its bottom-left corner, a small margin in."""
    x, y, w, h = rect
    margin = max(2, round(h * 0.04))
    sw, sh = sprite.size
    return x + margin, y + h - margin - sh, sw, sh


@lru_cache(maxsize=512)
def avatar(name: str, diameter: int) -> Sprite:
    """A camera-off avatar: a disc ``diameter`` pixels wide in a colour picked by ``name``, holding its initials.

    Drawn at 4x and scaled down, so the disc's edge is smooth.
    """
    from vcam.sources.demo_people import initials

    big = diameter * 4
    colour = AVATAR_COLOURS[sum(map(ord, name)) % len(AVATAR_COLOURS)]
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((0, 0, big - 1, big - 1), fill=(*colour[::-1], 255))
    letters = initials(name)
    draw.text((big / 2, big / 2), letters, font=font(max(8, int(big * AVATAR_INITIALS))), fill=(255, 255, 255, 255), anchor="mm")
    return _sprite(image.resize((diameter, diameter), Image.LANCZOS), letters)


@lru_cache(maxsize=64)
def corner_mask(radius: int) -> np.ndarray:
    """``(radius, radius) bool``: the top-left corner pixels outside a quarter circle of ``radius`` px."""
    yy, xx = np.mgrid[0:radius, 0:radius] + 0.5
    return (xx - radius) ** 2 + (yy - radius) ** 2 > radius ** 2


def round_corners(tile: np.ndarray, radius: int, colour: BGR) -> None:
    """Paint the four corners of ``tile`` (``(h, w, 3)``, in place) outside a ``radius`` px rounding with ``colour``."""
    if radius <= 0:
        return
    r = min(radius, tile.shape[0] // 2, tile.shape[1] // 2)
    mask = corner_mask(r)
    tile[:r, :r][mask] = colour
    tile[:r, -r:][mask[:, ::-1]] = colour
    tile[-r:, :r][mask[::-1]] = colour
    tile[-r:, -r:][mask[::-1, ::-1]] = colour


def speaker_border(tile: np.ndarray, thickness: int, radius: int, colour: BGR) -> None:
    """The active speaker's border along the inside of ``tile`` (``(h, w, 3)``, in place), rounded by ``radius``."""
    h, w = tile.shape[:2]
    t = thickness
    if radius <= 0:
        cv2.rectangle(tile, (t // 2, t // 2), (w - 1 - t // 2, h - 1 - t // 2), colour, t)
        return
    r = min(radius, h // 2, w // 2)
    c = r  # the arcs' centres: those of the corners' rounding
    for (cx, cy), start in (((c, c), 180), ((w - 1 - c, c), 270), ((w - 1 - c, h - 1 - c), 0), ((c, h - 1 - c), 90)):
        cv2.ellipse(tile, (cx, cy), (r - math.ceil(t / 2), r - math.ceil(t / 2)), 0, start, start + 90, colour, t,
                    cv2.LINE_AA)
    half = t // 2
    cv2.line(tile, (c, half), (w - 1 - c, half), colour, t)
    cv2.line(tile, (c, h - 1 - half), (w - 1 - c, h - 1 - half), colour, t)
    cv2.line(tile, (half, c), (half, h - 1 - c), colour, t)
    cv2.line(tile, (w - 1 - half, c), (w - 1 - half, h - 1 - c), colour, t)
