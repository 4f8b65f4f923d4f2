"""The room summary of the gallery view: how many of the faces whose gaze was read look, and the cameras off.

A dark chip in the image's bottom-right corner (the badge is top-left), drawn by :func:`overlay.gallery.draw_gallery`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from overlay import text
from overlay.sprite import blit
from overlay.style import Metrics, Style
from vcam.types import Analysis

NAME_EM = 30.0
"""Name text size in px per em per unit of ``Metrics.font`` (15 px at 720 p): as tall as the Hershey labels;
the gallery's name chips and the summary use it."""


class RoomCounts(NamedTuple):
    """What the room summary says: faces whose gaze was read, how many of them look, tiles with the camera off."""

    looking: int
    read: int
    camera_off: int


def room_counts(analysis: Analysis) -> RoomCounts:
    """Counts over the faces not in a camera-off tile (their face is a picture, not a person)."""
    f, layout = analysis.faces, analysis.layout
    off = layout.camera_off if layout is not None else np.zeros(0, bool)
    in_off = np.array([0 <= t < len(off) and bool(off[t]) for t in f.tile.tolist()], bool)
    read = np.isfinite(f.on_screen_conf) & ~in_off
    return RoomCounts(int((read & f.on_screen).sum()), int(read.sum()), int(off.sum()))


def summary_text(counts: RoomCounts) -> str:
    """``"31 of 49 looking · 3 camera off"``; the camera-off part only when there is one.

    ``"no gaze read"`` when no face has a gaze (gaze off, or nobody found yet), not a bare "0 of 0".
    """
    out = f"{counts.looking} of {counts.read} looking" if counts.read else "no gaze read"
    return out + (f" · {counts.camera_off} camera off" if counts.camera_off else "")


def summary_rect(shape: tuple[int, ...], counts: RoomCounts, style: Style, m: Metrics) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` px, exclusive end, of the summary chip on an image of ``shape``: the bottom-right corner."""
    w, h = text.chip_size(summary_text(counts), round(NAME_EM * m.font), m.pad)
    x1, y1 = shape[1] - m.margin, shape[0] - m.margin
    return x1 - w, y1 - h, x1, y1


def summary(img: np.ndarray, counts: RoomCounts, style: Style, m: Metrics) -> None:
    """The room summary in a dark chip in the image's bottom-right corner (the badge is top-left)."""
    x0, y0, _, _ = summary_rect(img.shape, counts, style, m)
    blit(img, text.chip(summary_text(counts), round(NAME_EM * m.font), style.paper, style.ink, m.pad), (x0, y0))
