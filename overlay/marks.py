"""Drawing primitives: each draws one mark in place on a BGR ``uint8`` image.

Coordinates are integer pixels of the image being drawn on. Callers clamp them
to a sane range first; OpenCV clips whatever falls outside the image.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from overlay.sprite import Sprite, blit, clip, render
from overlay.style import BGR, Metrics, Style

AA = cv2.LINE_AA
FONT = cv2.FONT_HERSHEY_DUPLEX
"""Labels and the badge: the double-stroke Hershey font reads as bold at stroke 1."""
SMALL_FONT = cv2.FONT_HERSHEY_SIMPLEX
"""The pose read-out."""
STROKE = 1
"""Text stroke, px. OpenCV's anti-aliased text costs ~10x more at stroke 2+ (~0.3 ms a label at 1080 p)."""
CAPTION_SHADE = 0.35
"""Caption backgrounds keep this fraction of the picture's brightness (0 = black, 1 = no band)."""
SPRITE_CACHE = 128
"""Pre-rendered chips and gaze tiles kept per kind (LRU); ~25 KB each at 1080 p, so ~3 MB at most per kind.

Labels differ per track id and state, tiles per state and bar length; a larger
cache misses less in long sessions with many tracks, at the cost of memory.
"""
Point = tuple[int, int]
WHITE = (255, 255, 255)


def round_rect(img: np.ndarray, p0: Point, p1: Point, r: int, color: BGR) -> None:
    """Fill the rectangle ``p0``..``p1`` (inclusive px) with corners of radius ``r`` px."""
    (x0, y0), (x1, y1) = p0, p1
    r = max(0, min(r, (x1 - x0) // 2, (y1 - y0) // 2))
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), color, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), color, -1)
    for c in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(img, c, r, color, -1, AA)


def bracket_box(img: np.ndarray, p0: Point, p1: Point, color: BGR, m: Metrics) -> None:
    """A hairline rectangle with thick corner brackets, ``p0`` top-left, ``p1`` bottom-right (px).

    Every edge is axis-aligned, so it is filled without anti-aliasing: the result
    is the same and several times cheaper than OpenCV's thick LINE_AA strokes.
    """
    cv2.rectangle(img, p0, p1, color, m.thin)
    k = max(4, min(p1[0] - p0[0], p1[1] - p0[1]) // 5)
    for q0, q1 in _bracket_rects(p0, p1, k, m.line + 2):
        cv2.rectangle(img, q0, q1, color, -1)


def _bracket_rects(p0: Point, p1: Point, k: int, t: int) -> list[tuple[Point, Point]]:
    """Eight inclusive rectangles ``(top-left, bottom-right)``: two arms ``k`` px long, ``t`` px thick, per corner."""
    (x0, y0), (x1, y1), a, b = p0, p1, t // 2, t - t // 2 - 1
    rects = [
        (x0 - a, y0 - a, x0 + k, y0 + b), (x0 - a, y0 - a, x0 + b, y0 + k),
        (x1 - k, y0 - a, x1 + a, y0 + b), (x1 - b, y0 - a, x1 + a, y0 + k),
        (x0 - a, y1 - b, x0 + k, y1 + a), (x0 - a, y1 - k, x0 + b, y1 + a),
        (x1 - k, y1 - b, x1 + a, y1 + a), (x1 - b, y1 - k, x1 + a, y1 + a),
    ]  # fmt: skip
    return [((xa, ya), (xb, yb)) for xa, ya, xb, yb in rects]


def text_size(text: str, scale: float, font: int = FONT) -> tuple[int, int, int]:
    """``(width, height above baseline, depth below baseline)`` of ``text`` in px."""
    (w, h), base = cv2.getTextSize(text, font, scale, STROKE)
    return w, h, base


def chip_size(text: str, m: Metrics) -> tuple[int, int]:
    """``(width, height)`` in px of the chip :func:`chip` draws for ``text``."""
    w, h, base = text_size(text, m.font)
    return w + 2 * m.pad, h + base + 2 * m.pad


def chip(img: np.ndarray, text: str, p0: Point, color: BGR, style: Style, m: Metrics) -> None:
    """A rounded chip of ``color`` with dark ``text``; ``p0`` is its top-left corner (px)."""
    blit(img, _chip_sprite(text, color, style, m), p0)


@lru_cache(maxsize=SPRITE_CACHE)
def _chip_sprite(text: str, color: BGR, style: Style, m: Metrics) -> Sprite:
    """The :func:`chip` for ``text``, rendered once."""
    w, h = chip_size(text, m)
    base = text_size(text, m.font)[2]

    def paint(c: np.ndarray) -> None:
        c[:] = color
        cv2.putText(c, text, (m.pad, h - m.pad - base), FONT, m.font, style.ink, STROKE, AA)

    return render(w + 1, h + 1, paint, lambda a: round_rect(a, (0, 0), (w, h), m.pad, WHITE))


def caption_strip(text: str, style: Style, m: Metrics) -> np.ndarray:
    """``(h, w, 3) uint8``: ``text`` in ``style.paper`` on black, put together from cached words.

    Pose read-outs change every frame, but their words ("yaw", "+12") repeat, so
    each word is drawn once; joining them is far cheaper than ``cv2.putText``.
    """
    gap = _gap(m.small)
    parts = [p for word in text.split(" ") for p in (_word(word, style.paper, m.small), gap)]
    return np.concatenate(parts[:-1], axis=1)


@lru_cache(maxsize=1024)
def _word(word: str, color: BGR, scale: float) -> np.ndarray:
    """``(h, w + 2, 3) uint8``: one word in ``color`` on black, 1 px spare at each side for the anti-aliasing."""
    w = text_size(word, scale, SMALL_FONT)[0] if word else 0
    _, h, base = text_size("Ag", scale, SMALL_FONT)
    canvas = np.zeros((h + base + 2, w + 2, 3), np.uint8)
    cv2.putText(canvas, word, (1, h + 1), SMALL_FONT, scale, color, STROKE, AA)
    return canvas


@lru_cache(maxsize=16)
def _gap(scale: float) -> np.ndarray:
    """Black ``(h, space - 2, 3) uint8``: a space between two :func:`_word` canvases (which carry 2 px already)."""
    _, h, base = text_size("Ag", scale, SMALL_FONT)
    return np.zeros((h + base + 2, max(1, text_size(" ", scale, SMALL_FONT)[0] - 2), 3), np.uint8)


def caption(img: np.ndarray, strip: np.ndarray, p0: Point, m: Metrics) -> None:
    """A darkened band at top-left ``p0``, :func:`caption_size` big, with light ``strip`` text in it.

    Only the band's ROI is touched. The text goes on with a per-pixel maximum,
    which for light text on the dark band is the alpha blend to within its
    anti-aliased fringe.
    """
    w, h = caption_size(strip, m)
    band = clip(img, p0, w, h)
    if band is not None:
        cv2.convertScaleAbs(band[0], dst=band[0], alpha=CAPTION_SHADE)
    text = clip(img, (p0[0] + m.pad, p0[1] + m.pad // 2), strip.shape[1], strip.shape[0])
    if text is not None:
        roi, rows, cols = text
        cv2.max(roi, strip[rows, cols], dst=roi)


def caption_size(strip: np.ndarray, m: Metrics) -> tuple[int, int]:
    """``(width, height)`` in px of the band :func:`caption` draws around ``strip``."""
    return strip.shape[1] + 2 * m.pad, strip.shape[0] + m.pad


def pose_tip(origin: tuple[float, float], yaw: float, pitch: float, length: float) -> tuple[float, float]:
    """End of the facing-direction line, px.

    The unit vector the face points along is projected onto the image:
    ``yaw`` > 0 (degrees) moves the tip right, ``pitch`` > 0 moves it up. A face
    looking straight into the camera gives a tip on ``origin``; ``length`` (px) is
    reached when the face is turned 90°. Roll turns about that axis and so does
    not move the tip.
    """
    y, p = math.radians(yaw), math.radians(pitch)
    return origin[0] + length * math.sin(y) * math.cos(p), origin[1] - length * math.sin(p)


def pose_line(img: np.ndarray, nose: Point, tip: Point, style: Style, m: Metrics) -> None:
    """An arrow from the nose tip ``nose`` to ``tip`` (px), with a dot on the nose."""
    if abs(tip[0] - nose[0]) + abs(tip[1] - nose[1]) >= 3:
        cv2.arrowedLine(img, nose, tip, style.accent, m.line, AA, 0, 0.25)
    cv2.circle(img, nose, m.line + 1, style.accent, -1, AA)


def iris(img: np.ndarray, c: Point, r: int, style: Style, m: Metrics) -> None:
    """A hairline circle of radius ``r`` px on an iris centre ``c``, dark-rimmed for contrast."""
    cv2.circle(img, c, r + 1, style.ink, 1, AA)
    cv2.circle(img, c, r, style.accent, 1, AA)


def eye(img: np.ndarray, c: Point, r: int, state: str, style: Style, m: Metrics) -> None:
    """An eye ``2r`` px wide centred on ``c``, in the colour of ``state``.

    "looking": outline with a filled pupil; "away": empty outline struck through;
    "unknown": empty outline.
    """
    color = state_colour(state, style)
    cv2.ellipse(img, c, (r, max(2, r // 2)), 0, 0, 360, color, m.thin, AA)
    if state == "looking":
        cv2.circle(img, c, max(2, r * 2 // 5), color, -1, AA)
    elif state == "away":
        d = r * 3 // 4
        cv2.line(img, (c[0] - d, c[1] + d * 2 // 3), (c[0] + d, c[1] - d * 2 // 3), color, m.thin, AA)


def conf_bar(img: np.ndarray, p0: Point, width: int, fill: int, color: BGR, style: Style, m: Metrics) -> None:
    """A bar ``width`` px wide from top-left ``p0``: a dim track with its first ``fill`` px in ``color``."""
    h = max(2, m.line)
    cv2.rectangle(img, p0, (p0[0] + width, p0[1] + h), style.track, -1)
    if fill > 0:
        cv2.rectangle(img, p0, (p0[0] + fill, p0[1] + h), color, -1)


def gaze_tile_size(r: int, m: Metrics) -> tuple[int, int]:
    """``(width, height)`` px of the :func:`gaze_tile` for an eye of half-width ``r`` px."""
    return 2 * r + 2 * m.pad, r + max(2, m.line) + 3 * m.pad


def gaze_tile(img: np.ndarray, p0: Point, r: int, state: str, conf: float, style: Style, m: Metrics) -> None:
    """A dark rounded tile at top-left ``p0``: the :func:`eye` for ``state`` over a bar filled to ``conf``.

    ``conf`` is 0..1; NaN leaves the bar empty.
    """
    fill = 0 if math.isnan(conf) else round(2 * r * min(1.0, max(0.0, conf)))
    blit(img, _gaze_sprite(r, state, fill, style, m), p0)


@lru_cache(maxsize=SPRITE_CACHE)
def _gaze_sprite(r: int, state: str, fill: int, style: Style, m: Metrics) -> Sprite:
    """The :func:`gaze_tile` with ``fill`` px of its bar coloured, rendered once."""
    w, h = gaze_tile_size(r, m)

    def paint(c: np.ndarray) -> None:
        c[:] = style.ink
        eye(c, (m.pad + r, m.pad + r // 2), r, state, style, m)
        conf_bar(c, (m.pad, 2 * m.pad + r), 2 * r, fill, state_colour(state, style), style, m)

    return render(w + 1, h + 1, paint, lambda a: round_rect(a, (0, 0), (w, h), m.pad, WHITE))


def dots(img: np.ndarray, xy: np.ndarray, size: int, color: BGR) -> None:
    """Square dots ``size`` px wide at the finite points of ``xy`` ``(K, 2)`` float px; set directly, no AA."""
    h, w = img.shape[:2]
    xy = xy[np.isfinite(xy).all(axis=1)].astype(np.int64)
    for dy in range(size):
        for dx in range(size):
            x, y = xy[:, 0] + dx, xy[:, 1] + dy
            ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
            img[y[ok], x[ok]] = color


def badge(img: np.ndarray, text: str, style: Style, m: Metrics) -> None:
    """A red pill with a white dot and white ``text``, with a thin white rim, in the top-left corner."""
    rim = max(1, m.thin)
    blit(img, _badge_sprite(text, style, m), (m.margin - rim, m.margin - rim))


def badge_rect(text: str, style: Style, m: Metrics) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` px, exclusive end, that :func:`badge` covers; other marks keep out of it."""
    rim = max(1, m.thin)
    h, w = _badge_sprite(text, style, m).mask.shape
    return m.margin - rim, m.margin - rim, m.margin - rim + w, m.margin - rim + h


@lru_cache(maxsize=64)
def _badge_sprite(text: str, style: Style, m: Metrics) -> Sprite:
    """The :func:`badge`, rendered once; its top-left is the outer edge of the rim."""
    tw, th, base = text_size(text, m.font)
    h, rim = th + base + 2 * m.pad, max(1, m.thin)
    dot = max(2, h // 5)
    x1, y1 = rim + h // 2 + 2 * dot + m.pad + tw + h // 2, rim + h

    def paint(c: np.ndarray) -> None:
        c[:] = style.paper
        round_rect(c, (rim, rim), (x1, y1), h // 2, style.badge_color)
        cv2.circle(c, (rim + h // 2 + dot, rim + h // 2), dot, style.paper, -1, AA)
        org = (rim + h // 2 + 2 * dot + m.pad, y1 - m.pad - base)
        cv2.putText(c, text, org, FONT, m.font, style.paper, STROKE, AA)

    shape = lambda a: round_rect(a, (0, 0), (x1 + rim, y1 + rim), h // 2 + rim, WHITE)  # noqa: E731
    return render(x1 + rim + 1, y1 + rim + 1, paint, shape)


def state_colour(state: str, style: Style) -> BGR:
    """The colour for a gaze state: "looking", "away" or anything else (unknown)."""
    return {"looking": style.looking, "away": style.away}.get(state, style.unknown)
