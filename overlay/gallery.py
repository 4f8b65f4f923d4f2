"""The meeting-gallery view: each person's marks inside their own tile, as detailed as the tile allows.

Used by :func:`overlay.draw` when ``analysis.layout`` is set. Every tile is drawn
on a numpy view of the image cut to that tile, so OpenCV clips every mark at the
tile's edge and chips that are pushed back "on the image" stay in the tile.

How much is drawn depends on the tile's *span* in output pixels: its width, or
16/9 of its height if that is smaller (a tile is judged by its short side).
See :class:`Detail` and the ``*_MIN_SPAN`` constants. Whatever the detail, a
tile's corners carry its state colour (looking / away / no gaze / camera off),
and a chip in the bottom-right corner of the image sums the room up.

Names: the participant's (read from the tile by the "names" feature) comes
first, in the tile's chip; an enrolled name (the "identity" feature) that
differs follows in a smaller dark "≠ name" chip, so a wrong face match is
visible instead of silently replacing the meeting's label. A camera-off tile
shows its mark even with no face; a face found in one (an avatar photo) is
neither drawn nor counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from enum import IntEnum
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

from overlay import face as fm
from overlay import marks, text
from overlay.face import _Face
from overlay.sprite import Sprite, blit, render
from overlay.style import BGR, Metrics, Style
from overlay.room import NAME_EM, RoomCounts, room_counts, summary, summary_rect, summary_text
from vcam.types import Analysis, Layout

__all__ = ["NAME_EM", "Detail", "RoomCounts", "detail_for", "draw_gallery", "room_counts", "summary", "summary_rect",
           "summary_text", "tile_state"]

TILE_ASPECT = 16 / 9
"""Width / height of a meeting tile; a tile's span is ``min(width, height × TILE_ASPECT)``."""
NAME_MIN_SPAN = 130
"""Output px (at the 720 p text size, see :func:`detail_for`) from which a tile gets its name chip.

Below it (a 10×10 gallery at 1280×720, 119 px; a 7×7 one at 640×360, 86 px
whose text cannot shrink below ``Style.min_font_scale``, so 123) a name has
room for 5-8 letters, covers the top of the face and crowds the camera-off
mark; raising it drops names from more tiles (9×9 at 720 p is 132), lowering it
leaves names cut to a few letters.
"""
FACE_MIN_SPAN = 200
"""Output px from which faces get their box and eye tile, and a differing enrolled name its chip.

At 7×7 in 1280×720 (172 px) the face is ~50 px wide: a box and an eye tile
would cover most of it and crowd the name. 5×5 (245 px) leaves room. Raising it
keeps mid-size galleries cleaner at the cost of per-face state in shared tiles.
"""
FULL_MIN_SPAN = 400
"""Output px from which a tile gets every mark of the single-face view (pose line and read-out, irises, emotion).

3×3 at 1280×720 is ~414 px; below ~400 the pose read-out and the emotion chip
no longer fit beside the eye tile inside a face of ~120 px and overlap.
"""
REFERENCE_FONT = 0.5
"""``Metrics.font`` of the default :class:`Style` at 720 p: the text size the ``*_MIN_SPAN`` thresholds are for."""
SECONDARY_EM = 24.0
"""The enrolled name's chip, px per em per unit of ``Metrics.font`` (12 px at 720 p): a second, smaller voice."""
CAMERA_OFF_TEXT = "camera off"
CORNER_EM = 96.0
"""Longest arm of a tile's corner mark, px per unit of ``Metrics.font`` (48 px at 720 p); otherwise 1/5 of the
tile's short side. Longer arms read as a frame round a speaker view's large tile."""


class Detail(IntEnum):
    """How much a tile shows; each level adds to the one before."""

    MARK = 0  # state-coloured tile corners; the camera-off icon
    NAME = 1  # + the name chip (participant, or enrolled name), cut with "…" to fit
    FACE = 2  # + each face's box and eye tile, the enrolled name when it differs, "camera off" in words
    FULL = 3  # + pose line and read-out, irises, emotion chip: the single-face view


class _Tile(NamedTuple):
    """One tile ready to draw: its rectangle in image px, what it shows and its faces (tile-relative)."""

    x0: int
    y0: int
    x1: int
    y1: int
    detail: Detail  # of the tile: its name and camera-off marks
    face_detail: Detail  # of each face: the tile's detail for a tile cut in as many parts as it has faces
    name: str | None  # the primary name: participant, else the single face's enrolled name
    camera_off: bool
    faces: list[_Face]
    identities: list[str | None]  # per face: the enrolled name when it differs from the participant
    avoid: tuple[int, int, int, int] | None  # tile px (x0, y0, x1, y1) of the badge where it covers the tile


def detail_for(width: float, height: float, text_scale: float = 1.0, *, name_min: float = NAME_MIN_SPAN,
               face_min: float = FACE_MIN_SPAN, full_min: float = FULL_MIN_SPAN) -> Detail:
    """The :class:`Detail` for a tile ``width`` × ``height`` output px whose text is ``text_scale`` × the 720 p size.

    The thresholds are for the default text size at 720 p; text grows with the
    output's height (and ``Style.font_scale``), so a tile needs as many times
    more pixels for the same marks: a 7×7 gallery shows names only whether it
    is sent at 720 p or 1080 p.
    """
    span = min(width, height * TILE_ASPECT) / text_scale
    if span >= full_min:
        return Detail.FULL
    if span >= face_min:
        return Detail.FACE
    return Detail.NAME if span >= name_min else Detail.MARK


def draw_gallery(img: np.ndarray, analysis: Analysis, style: Style, m: Metrics) -> None:
    """Draw every tile of ``analysis.layout``, the faces in no tile, and the room summary on ``img`` in place."""
    layout = analysis.layout
    assert layout is not None
    faces = fm._prepare(analysis, img.shape[1], img.shape[0])
    scale = fm._scale(analysis.size, img.shape[1], img.shape[0])
    by_tile = _group(faces, analysis.faces.tile, len(layout))
    badge = marks.badge_rect(style.badge_text, style, m) if style.badge else None
    for tile in _tiles(analysis, layout, by_tile, scale, img.shape, badge, m.font / REFERENCE_FONT):
        _draw_tile(img[tile.y0 : tile.y1, tile.x0 : tile.x1], tile, style, m)
    for f in by_tile.get(-1, []):
        _face_marks(img, f, Detail.FACE, style, m)
    summary(img, room_counts(analysis), style, m)


def _group(faces: list[_Face], tile_of: np.ndarray, n_tiles: int) -> dict[int, list[_Face]]:
    """Faces by tile index; -1 holds those in no tile (or an index out of range)."""
    out: dict[int, list[_Face]] = defaultdict(list)
    for f in faces:
        t = int(tile_of[f.row])
        out[t if 0 <= t < n_tiles else -1].append(f)
    return out


def _tiles(analysis: Analysis, layout: Layout, by_tile: dict[int, list[_Face]], scale: tuple[float, float],
           shape: tuple[int, ...], badge: tuple[int, int, int, int] | None, text_scale: float = 1.0) -> list[_Tile]:
    """Every tile with a part on the ``shape`` image, in image px, with its detail, names and tile-relative faces.

    ``badge`` is the image px rectangle the badge covers, or None; ``text_scale`` as for :func:`detail_for`.
    """
    out = []
    for t, (x, y, w, h) in enumerate(layout.tiles.tolist()):
        w, h = w * scale[0], h * scale[1]
        rect = _rect(x * scale[0], y * scale[1], w, h, shape[1], shape[0])
        if rect is not None:
            faces = [_local(f, rect) for f in by_tile.get(t, [])]
            names = _names(analysis, layout.participant[t], faces)
            details = detail_for(w, h, text_scale), detail_for(w / max(1, len(faces)), h, text_scale)
            out.append(_Tile(*rect, *details, names[0], bool(layout.camera_off[t]), faces, names[1],
                             _overlap(badge, rect)))
    return out


def _local(f: _Face, rect: tuple[int, int, int, int]) -> _Face:
    """``f`` relative to the tile ``rect`` ``(x0, y0, x1, y1)`` image px: box moved, origin at the tile's corner."""
    x0, y0 = rect[:2]
    return f._replace(p0=(f.p0[0] - x0, f.p0[1] - y0), p1=(f.p1[0] - x0, f.p1[1] - y0), origin=(x0, y0))


def _names(analysis: Analysis, participant: str | None, faces: list[_Face]) -> tuple[str | None, list[str | None]]:
    """A tile's primary name and, per face, the enrolled name worth a second chip (see :func:`_identity`).

    The primary name is the tile's participant (from the layout, else from its
    faces' rows; only when the "names" feature ran), else the enrolled name of
    the tile's only face (only when "identity" ran).
    """
    participant = _clean(participant) or _first(analysis.faces.participant[[f.row for f in faces]])
    participant = participant if "names" in analysis.features else None
    if "identity" not in analysis.features:
        return participant, [None] * len(faces)
    single = faces[0].name if len(faces) == 1 and faces[0].name != "unknown" else None
    return participant or single, [_identity(f.name, participant) for f in faces]


def _overlap(a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """The part of rectangle ``a`` inside ``b`` (both ``(x0, y0, x1, y1)`` px), relative to ``b``'s corner, or None."""
    if a is None:
        return None
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (x0 - b[0], y0 - b[1], x1 - b[0], y1 - b[1]) if x1 > x0 and y1 > y0 else None


def _rect(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of a box in px, clipped to the image; None when nothing of it is on it."""
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + w)), min(height, round(y + h))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _first(names: np.ndarray) -> str | None:
    """The first non-blank name of ``(K,) object`` names, or None."""
    return next((c for c in map(_clean, names.tolist()) if c), None)


def _clean(name: object) -> str | None:
    """``name`` with its runs of white space made single, or None when it is not a non-blank str."""
    return (" ".join(name.split()) or None) if isinstance(name, str) else None


def _identity(name: str | None, participant: str | None) -> str | None:
    """The enrolled ``name`` when it is worth a second mark: known, and not the ``participant`` name.

    Names compare case-, space- and accent-insensitively ("ada  LOVELACE" is "Ada Lovelace", and the
    tile's "Zoe Muller" is the enrolled "Zoë Müller": the label reader often drops accents).
    """
    if not name or name == "unknown" or not participant:
        return None
    return None if _norm(name) == _norm(participant) else name


def _norm(name: str) -> str:
    return " ".join(text.fold(name).casefold().split())


def tile_state(faces: list[_Face], camera_off: bool) -> str:
    """``"camera off"``, ``"looking"`` (at least half the faces with a gaze look), ``"away"`` or ``"unknown"``."""
    if camera_off:
        return "camera off"
    known = [f.state for f in faces if f.state != "unknown"]
    if not known:
        return "unknown"
    return "looking" if 2 * known.count("looking") >= len(known) else "away"


def colour(state: str, style: Style) -> BGR:
    """The colour of a tile or face state, camera off included."""
    return style.camera_off if state == "camera off" else marks.state_colour(state, style)


def _draw_tile(view: np.ndarray, tile: _Tile, style: Style, m: Metrics) -> None:
    """One tile on ``view``, the image cut to the tile: corners, then faces, then chips on top."""
    state = tile_state(tile.faces, tile.camera_off)
    corners(view, colour(state, style), m)
    if tile.camera_off:
        below = _top(tile, m.line + 1 + m.pad, m) + _chip_h(m) if tile.detail >= Detail.NAME and style.names else 0
        camera_off_mark(view, tile.detail >= Detail.FACE, below, style, m)
    else:
        for f in tile.faces:
            _face_marks(view, f, tile.face_detail, style, m)
    if tile.detail >= Detail.NAME:
        header(view, tile, state, style, m)


def corners(view: np.ndarray, color: BGR, m: Metrics) -> None:
    """L-shaped marks in ``color`` in the four corners of ``view``, inside it.

    Corners, not a frame: meeting apps draw a full coloured border round the
    active speaker, which a state border would be mistaken for.
    """
    h, w = view.shape[:2]
    k, t = max(6, min(min(w, h) // 5, round(CORNER_EM * m.font))), max(2, m.line + 1)
    for xa, ya, xb, yb in ((0, 0, k, t), (0, 0, t, k), (w - k, 0, w, t), (w - t, 0, w, k),
                           (0, h - t, k, h), (0, h - k, t, h), (w - k, h - t, w, h), (w - t, h - k, w, h)):
        cv2.rectangle(view, (xa, ya), (xb - 1, yb - 1), color, -1)


def _face_marks(img: np.ndarray, f: _Face, detail: Detail, style: Style, m: Metrics) -> None:
    """A face's marks at ``detail``: none below FACE; box and eye tile at FACE; the single-face marks at FULL."""
    if detail < Detail.FACE:
        return
    if detail >= Detail.FULL:
        fm._draw_marks(img, f, style, m)
    else:
        if style.boxes:
            marks.bracket_box(img, f.p0, f.p1, marks.state_colour(f.state, style), m)
        if style.gaze:
            _eye_tile(img, f, style, m)


def _eye_tile(img: np.ndarray, f: _Face, style: Style, m: Metrics) -> None:
    """The eye tile (state and confidence) inside the box's top-right corner, without the iris circles."""
    r = min(max(5, round(10 * m.font)), max(5, (f.p1[0] - f.p0[0]) // 6))
    w = marks.gaze_tile_size(r, m)[0]
    x = min(f.p1[0], img.shape[1]) - m.line - m.pad - w
    marks.gaze_tile(img, (x, max(f.p0[1], 0) + m.line + m.pad), r, f.state, f.conf, style, m)


def header(view: np.ndarray, tile: _Tile, state: str, style: Style, m: Metrics) -> None:
    """The tile's chips, left to right from its top-left corner, wrapping to a second row when full.

    First the name (participant, else the enrolled name) in a chip of the
    tile's state colour, cut with "…" to fit, with "×2" for a tile two faces
    share. From :attr:`Detail.FACE` on, each enrolled name that differs from the
    participant follows as ``"≠ Ada"`` in a smaller dark chip: the face
    matcher's guess beside the meeting's label, never in place of it. Below
    the badge where the badge covers the tile. A tile judged away then says why, in a small chip of the away
    colour per reason its faces gave (``"eyes closed"``, ``"looking down"``, ``"head turned"``...), from
    :attr:`Detail.NAME` on and with ``style.gaze``: the presenter sees why, not only that.
    """
    edge = m.line + 1 + m.pad
    x, y, room = edge, _top(tile, edge, m), view.shape[1] - 2 * edge
    for sprite in _header_chips(tile, state, room, style, m):
        h, w = sprite.mask.shape
        if x > edge and x + w > view.shape[1] - edge:
            x, y = edge, y + h + m.pad // 2
        blit(view, sprite, (x, y))
        x += w + m.pad


def _top(tile: _Tile, edge: int, m: Metrics) -> int:
    """Tile px of the header's top: ``edge``, or just below the badge where it covers the tile's top-left."""
    a = tile.avoid
    return edge if a is None or a[1] >= edge + _chip_h(m) else max(edge, a[3] + m.pad // 2)


def _header_chips(tile: _Tile, state: str, room: int, style: Style, m: Metrics) -> list[Sprite]:
    """The sprites of :func:`header`, each at most ``room`` px wide (names that do not fit at all are left out)."""
    px, small, pad = round(NAME_EM * m.font), round(SECONDARY_EM * m.font), m.pad
    out = []
    if tile.name and style.names:
        suffix = f" ×{len(tile.faces)}" if len(tile.faces) > 1 and not tile.camera_off else ""
        label = text.fit(tile.name, px, max(0, room - 2 * pad - text.width(suffix, px)))
        ink = style.paper if state == "camera off" else style.ink
        if label:
            out.append(text.chip(label + suffix, px, ink, colour(state, style), pad))
    if tile.detail >= Detail.FACE and not tile.camera_off and style.names:
        for ident in dict.fromkeys(i for i in tile.identities if i):
            label = text.fit("≠ " + ident, small, max(0, room - 2 * pad))
            if label:
                out.append(text.chip(label, small, style.paper, style.ink, pad))
    return out + (_reason_chips(tile, small, room, style, m) if state == "away" and style.gaze else [])


def _reason_chips(tile: _Tile, px: int, room: int, style: Style, m: Metrics) -> list[Sprite]:
    """One small away-coloured chip per distinct reason the tile's away faces gave, at most ``room`` px wide."""
    labels = (text.fit(r, px, max(0, room - 2 * m.pad)) for r in dict.fromkeys(f.reason for f in tile.faces if f.reason))
    return [text.chip(label, px, style.ink, style.away, m.pad) for label in labels if label]


def camera_off_mark(view: np.ndarray, words: bool, below: int, style: Style, m: Metrics) -> None:
    """A struck-through camera (with "camera off" in words when ``words``) on camera-off grey, centred in ``view``.

    Moved down to start at ``below`` px (the header's bottom) when the centre is higher; words are dropped when
    they do not fit the tile's width.
    """
    s = _camera_off_sprite(round(NAME_EM * m.font), words, style, m.pad)
    h, w = s.mask.shape
    if w > view.shape[1] and words:
        s = _camera_off_sprite(round(NAME_EM * m.font), False, style, m.pad)
        h, w = s.mask.shape
    y = min(max((view.shape[0] - h) // 2, below + m.pad // 2), view.shape[0] - h - m.line - 1)
    blit(view, s, ((view.shape[1] - w) // 2, y))


def _chip_h(m: Metrics) -> int:
    """Height in px of a name chip."""
    return text.line_height(round(NAME_EM * m.font)) + m.pad


@lru_cache(maxsize=16)
def _camera_off_sprite(px: int, words: bool, style: Style, pad: int) -> Sprite:
    """The :func:`camera_off_mark` chip for text ``px`` px per em, rendered once."""
    cov = text.coverage(CAMERA_OFF_TEXT, px) if words else np.zeros((text.line_height(px), 0), np.uint8)
    ih = cov.shape[0]
    iw = round(ih * 1.4)
    w, h = pad + iw + (pad + cov.shape[1] if words else 0) + pad, ih + pad
    a = cov[:, :, None].astype(np.float32) / 255.0

    def paint(c: np.ndarray) -> None:
        c[:] = style.camera_off
        _camera_icon(c[pad // 2 : pad // 2 + ih, pad : pad + iw], style.paper)
        if words:
            roi = c[pad // 2 : pad // 2 + ih, 2 * pad + iw : 2 * pad + iw + cov.shape[1]]
            roi[:] = (roi * (1.0 - a) + np.float32(style.paper) * a + 0.5).astype(np.uint8)

    return render(w, h, paint, lambda mk: marks.round_rect(mk, (0, 0), (w - 1, h - 1), pad, (255, 255, 255)))


def _camera_icon(c: np.ndarray, color: BGR) -> None:
    """A video camera struck through, filling the ``(h, w, 3)`` canvas ``c`` (in place)."""
    h, w = c.shape[:2]
    t = max(1, h // 10)
    body = (t, h // 4, round(w * 0.62), h - 1 - h // 4)
    cv2.rectangle(c, body[:2], body[2:], color, t, marks.AA)
    lens = np.array([[body[2] + t, h // 2], [w - 1 - t, h // 4], [w - 1 - t, h - 1 - h // 4]], np.int32)
    cv2.fillConvexPoly(c, lens, color, marks.AA)
    cv2.line(c, (t, t), (w - 1 - t, h - 1 - t), color, t + 1, marks.AA)
