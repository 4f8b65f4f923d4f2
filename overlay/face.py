"""One face's marks, as :func:`overlay.draw` paints them: box, label, gaze tile, pose line, emotion chip.

:func:`_prepare` turns an :class:`~vcam.types.Analysis` into :class:`_Face` rows in
image pixels; :func:`_draw_face` paints one. The gallery view (:mod:`overlay.gallery`)
paints the same marks into a tile's view of the image, with ``origin`` set to the
tile's top-left corner.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from overlay import marks
from overlay.marks import Point
from overlay.style import Metrics, Style
from vcam.types import EMOTIONS, Analysis

NOSE_TIP = 1
"""FaceMesh landmark at the tip of the nose; the pose line starts here."""
IRISES = (468, 473)
"""FaceMesh landmarks at the centres of the two irises."""


class _Face(NamedTuple):
    """One face ready to draw, in image pixels."""

    p0: Point  # box top-left
    p1: Point  # box bottom-right
    track_id: int  # -1 when unknown
    state: str  # "looking", "away" or "unknown"
    conf: float  # confidence of the state, 0..1, NaN when unknown
    pose: tuple[float, float, float]  # yaw, pitch, roll in degrees; NaN when not computed
    landmarks: np.ndarray  # (478, 3) float32 in *analysis* px (unscaled); NaN when not computed
    scale: tuple[float, float]  # (sx, sy) from analysis px to image px
    name: str | None  # enrolled name; "unknown" when identity ran and found nobody; None when identity is off
    emotion: tuple[str, float] | None  # (top class, its probability 0..1), None when not computed
    affect: tuple[float, float] | None  # (valence, arousal) estimates in -1..1, None when not computed
    row: int = -1  # its row in Analysis.faces
    origin: tuple[float, float] = (0.0, 0.0)  # image px of the (tile) view it is drawn on; p0, p1 are relative to it
    reason: str | None = None  # why a face judged away is away ("eyes closed", "looking down"...); None otherwise


def _scale(size: tuple[int, int], width: int, height: int) -> tuple[float, float]:
    """``(sx, sy)`` from analysis pixels to image pixels; ValueError for a non-positive ``size``."""
    aw, ah = size
    if not (aw > 0 and ah > 0):
        raise ValueError(f"Analysis.size must be (width, height) > 0, got {size!r}")
    return width / aw, height / ah


def _prepare(analysis: Analysis, width: int, height: int) -> list[_Face]:
    """The faces of ``analysis`` that have a finite box touching the image, scaled to it.

    Plain Python per face: for the handful of faces in a frame it is several
    times faster than numpy's per-call overhead.
    """
    scale = _scale(analysis.size, width, height)
    f = analysis.faces
    identity_on = "identity" in analysis.features
    cols = zip(f.bbox.tolist(), f.track_id.tolist(), f.on_screen.tolist(), f.on_screen_conf.tolist(), f.pose.tolist())
    out = []
    for i, (box, track_id, on_screen, conf, pose) in enumerate(cols):
        corners = _corners(box, scale, width, height)
        if corners is not None:
            state = "unknown" if math.isnan(conf) else ("looking" if on_screen else "away")
            name = (f.name[i] or "unknown") if identity_on else None
            out.append(_Face(*corners, track_id, state, conf, tuple(pose), f.landmarks[i], scale, name,
                             _emotion(f.emotion[i]), _affect(float(f.valence[i]), float(f.arousal[i])), i,
                             reason=_reason(state, f.away_reason[i])))
    return out


def _reason(state: str, reason: object) -> str | None:
    """The gaze stage's ``away_reason`` of a face judged away, when it gave one (a str); None otherwise."""
    return reason if state == "away" and isinstance(reason, str) and reason else None


def _emotion(probs: np.ndarray) -> tuple[str, float] | None:
    """``(label, probability)`` of the top class of ``(7,)`` probabilities, or None if not computed."""
    if not np.isfinite(probs).all():
        return None
    top = int(np.argmax(probs))
    return EMOTIONS[top], float(probs[top])


def _affect(valence: float, arousal: float) -> tuple[float, float] | None:
    return None if math.isnan(valence) or math.isnan(arousal) else (valence, arousal)


def _corners(box: list[float], scale: tuple[float, float], width: int, height: int) -> tuple[Point, Point] | None:
    """Top-left and bottom-right px of ``box`` ``[x, y, w, h]`` (analysis px) in the image; None if not drawable.

    None for a non-finite or empty box, or one wholly off the image. Corners are
    clamped to a few image sizes around it; OpenCV clips the rest.
    """
    x0, y0, w, h = box[0] * scale[0], box[1] * scale[1], box[2] * scale[0], box[3] * scale[1]
    if not all(math.isfinite(v) for v in (x0, y0, w, h)) or w <= 0 or h <= 0:
        return None
    if x0 + w < 0 or x0 >= width or y0 + h < 0 or y0 >= height:
        return None
    lim = 4 * max(width, height)
    x0, y0, x1, y1 = (round(min(max(v, -lim), lim)) for v in (x0, y0, x0 + w, y0 + h))
    return (x0, y0), (x1, y1)


def _point(f: _Face, index: int) -> tuple[float, float] | None:
    """Landmark ``index`` of ``f`` in image px, or None when it is NaN."""
    x, y = float(f.landmarks[index, 0]), float(f.landmarks[index, 1])
    if math.isnan(x) or math.isnan(y):
        return None
    return x * f.scale[0] - f.origin[0], y * f.scale[1] - f.origin[1]


def _draw_face(img: np.ndarray, f: _Face, style: Style, m: Metrics) -> None:
    """Every mark ``style`` switches on, for one face, back to front."""
    _draw_marks(img, f, style, m)
    _label(img, f, style, m)


def _draw_marks(img: np.ndarray, f: _Face, style: Style, m: Metrics) -> None:
    """The marks of :func:`_draw_face` but the label: landmarks, box, pose, gaze, emotion chip."""
    if style.landmarks:
        xy = f.landmarks[:, :2] * np.float32(f.scale) - np.float32(f.origin)
        marks.dots(img, xy, max(1, m.line // 2), style.accent)
    if style.boxes:
        marks.bracket_box(img, f.p0, f.p1, marks.state_colour(f.state, style), m)
    if style.pose and all(math.isfinite(v) for v in f.pose):
        _pose(img, f, style, m)
    if style.gaze:
        _gaze(img, f, style, m)
    if style.emotion and f.emotion is not None:
        _emotion_chip(img, f, style, m)


def _label_text(f: _Face, style: Style) -> str:
    """``"#<id> <state word>"``, with the parts ``style`` switches off or that are unknown left out.

    A face judged away says why when the gaze stage said: ``"#2 away: eyes closed"`` (the chip's
    Hershey font is ASCII only).
    """
    parts = []
    if style.ids and f.track_id >= 0:
        parts.append(f"#{f.track_id}")
    if style.names and f.name is not None:
        parts.append(f.name)
    if style.boxes and f.state != "unknown":
        parts.append("looking" if f.state == "looking" else f"away: {f.reason}" if f.reason else "away")
    return " ".join(parts)


def _label(img: np.ndarray, f: _Face, style: Style, m: Metrics) -> None:
    """The id/state chip above the box, or just inside its top when there is no room above."""
    text = _label_text(f, style)
    if not text:
        return
    w, h = marks.chip_size(text, m)
    top = f.p0[1] - m.line - h if f.p0[1] - m.line - h >= 0 else max(0, f.p0[1]) + m.line
    x = min(max(0, f.p0[0]), img.shape[1] - w - 1)
    marks.chip(img, text, (x, top), marks.state_colour(f.state, style), style, m)


def _emotion_chip(img: np.ndarray, f: _Face, style: Style, m: Metrics) -> None:
    """``"happy 72%"`` in a chip inside the box's bottom-left corner, with the valence/arousal
    estimate (labelled "est.") beside it when known."""
    label, p = f.emotion
    text = f"{label} {round(100 * p)}%"
    if f.affect is not None:
        text += f"  est. V{f.affect[0]:+.1f} A{f.affect[1]:+.1f}"
    w, h = marks.chip_size(text, m)
    x = min(max(0, f.p0[0] + m.line + m.pad), img.shape[1] - w - 1)
    y = min(f.p1[1], img.shape[0]) - m.line - m.pad - h
    marks.chip(img, text, (x, max(0, y)), style.emotion_chip, style, m)


def _nose(f: _Face) -> tuple[float, float]:
    """The nose tip in px, or the box centre when landmarks are missing."""
    nose = _point(f, NOSE_TIP)
    if nose is not None:
        return nose
    return (f.p0[0] + f.p1[0]) / 2, (f.p0[1] + f.p1[1]) / 2


def _pose(img: np.ndarray, f: _Face, style: Style, m: Metrics) -> None:
    """The facing-direction arrow from the nose and the ``yaw/pitch/roll`` read-out (degrees) under the box.

    The arrow is the projection of a line 0.5 × box width long along the face's
    direction: a dot for a face looking into the camera, full length at 90°.
    """
    yaw, pitch, roll = f.pose
    nose = _nose(f)
    tip = marks.pose_tip(nose, yaw, pitch, 0.5 * (f.p1[0] - f.p0[0]))
    marks.pose_line(img, _clamp(nose, img), _clamp(tip, img), style, m)
    strip = marks.caption_strip(f"yaw {round(yaw):+d}  pitch {round(pitch):+d}  roll {round(roll):+d}", style, m)
    w, h = marks.caption_size(strip, m)
    gap = m.line + 2  # clear of the corner brackets
    y = f.p1[1] + gap if f.p1[1] + gap + h <= img.shape[0] else f.p1[1] - gap - h
    x = min(max(0, (f.p0[0] + f.p1[0] - w) // 2), img.shape[1] - w)
    marks.caption(img, strip, (x, y), m)


def _gaze(img: np.ndarray, f: _Face, style: Style, m: Metrics) -> None:
    """Circles on the irises, and the eye tile with its confidence bar inside the box's top-right corner."""
    r_iris = max(2, round(0.025 * (f.p1[0] - f.p0[0])))
    for c in (_point(f, i) for i in IRISES):
        if c is not None:
            marks.iris(img, _clamp(c, img), r_iris, style, m)
    r = min(max(7, round(16 * m.font)), max(7, (f.p1[0] - f.p0[0]) // 8))
    w = marks.gaze_tile_size(r, m)[0]
    x = min(f.p1[0], img.shape[1]) - m.line - m.pad - w
    y = max(f.p0[1], 0) + m.line + m.pad
    marks.gaze_tile(img, (x, y), r, f.state, f.conf, style, m)


def _clamp(xy: tuple[float, float], img: np.ndarray) -> Point:
    """``xy`` px rounded to ints and clamped to a few image sizes around the image (OpenCV clips the rest)."""
    lim = 4 * max(img.shape[:2])
    return int(round(min(max(float(xy[0]), -lim), lim))), int(round(min(max(float(xy[1]), -lim), lim)))
