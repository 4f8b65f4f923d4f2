"""How the overlay looks: colours, sizes and which marks are on.

Sizes are given for a 720-pixel-high image and scale with the image height, so
the same :class:`Style` reads well on 640×360, 1280×720 and 1920×1080.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

BGR = tuple[int, int, int]
"""A colour in OpenCV's channel order, each 0..255."""

COLOURS = ("looking", "away", "unknown", "camera_off", "accent", "ink", "track", "paper", "badge_color", "emotion_chip")
"""The :class:`Style` fields that are colours."""
REFERENCE_HEIGHT = 720
"""Image height (px) at which ``line_width`` and ``font_scale`` apply unscaled."""


class Metrics(NamedTuple):
    """Pixel sizes for one image height, derived from a :class:`Style`.

    Attributes:
        line: box and bracket thickness, px (>= 1).
        thin: hairline thickness, px (>= 1).
        font: label font scale (OpenCV ``fontScale``).
        small: font scale of the pose read-out under the box.
        pad: padding inside chips and between marks, px (>= 2).
        margin: distance of the badge from the image corner, px.
    """

    line: int
    thin: int
    font: float
    small: float
    pad: int
    margin: int


@dataclass(frozen=True)
class Style:
    """Colours, sizes and switches for :func:`overlay.draw`.

    Colours are BGR; ``camera_off`` marks a meeting tile with the camera off (a
    darker grey than ``unknown``, so it never reads as "away" or "no gaze").
    ``line_width`` (px) and ``font_scale`` apply at a 720 px high image and
    grow or shrink in proportion to the image height; fonts never go below
    ``min_font_scale`` so small previews stay legible (at the cost of labels
    that are large relative to small faces).
    """

    looking: BGR = (80, 200, 40)
    away: BGR = (0, 176, 255)
    unknown: BGR = (170, 170, 170)
    camera_off: BGR = (112, 104, 100)
    accent: BGR = (255, 208, 64)
    ink: BGR = (28, 28, 28)
    track: BGR = (84, 84, 84)
    paper: BGR = (255, 255, 255)
    badge_color: BGR = (40, 30, 215)
    emotion_chip: BGR = (235, 225, 200)
    line_width: float = 2.0
    font_scale: float = 0.5
    min_font_scale: float = 0.35
    boxes: bool = True
    ids: bool = True
    pose: bool = True
    gaze: bool = True
    landmarks: bool = False
    names: bool = True
    emotion: bool = True
    badge: bool = True
    badge_text: str = "ANALYSIS ON"

    def __post_init__(self) -> None:
        for name in ("line_width", "font_scale", "min_font_scale"):
            value = getattr(self, name)
            if not 0 < value <= 20:
                raise ValueError(f"Style.{name} must be in (0, 20], got {value!r}")
        for name in COLOURS:
            _check_colour(name, getattr(self, name))

    def metrics(self, height: int) -> Metrics:
        """Pixel sizes for an image ``height`` px high."""
        k = height / REFERENCE_HEIGHT
        font = max(self.min_font_scale, self.font_scale * k)
        line = max(1, round(self.line_width * k))
        pad = max(2, round(font * 8))
        return Metrics(line, max(1, line // 2), font, font * 0.9, pad, max(4, round(12 * k)))


def _check_colour(name: str, value: object) -> None:
    """Raise ValueError unless ``value`` is three ints in 0..255."""
    ok = isinstance(value, tuple) and len(value) == 3
    if not ok or not all(isinstance(c, int) and 0 <= c <= 255 for c in value):
        raise ValueError(f"Style.{name} must be a (B, G, R) tuple of ints 0..255, got {value!r}")
