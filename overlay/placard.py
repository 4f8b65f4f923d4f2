"""``placard(width, height, title, detail)``: the frame sent while there is no picture to send.

When the source is lost (a camera unplugged, a screen region gone) or a file
has ended, the virtual camera keeps sending at its rate: a meeting app shows a
frozen last frame as "the presenter's video froze", and a camera that stops
sending may be dropped altogether. The placard says what happened instead.
No I/O: pure drawing, like the rest of the overlay.
"""

from __future__ import annotations

import textwrap

import cv2
import numpy as np

from overlay import marks
from overlay.style import Style

BACKGROUND = (38, 32, 28)
"""BGR of the placard: a dark slate that reads as "no picture", not as a black (broken) camera."""


def placard(width: int, height: int, title: str, detail: str = "", style: Style | None = None) -> np.ndarray:
    """A new ``(height, width, 3) uint8`` BGR frame with ``title`` and ``detail`` centred.

    ``detail`` is wrapped to lines of at most ~60 characters; the badge is not
    drawn here (the caller's ``overlay.draw`` adds it, so the two never differ).
    """
    style = style or Style()
    m = style.metrics(height)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = BACKGROUND
    title_scale, detail_scale = m.font * 2.0, m.font * 1.1
    lines = [(title, title_scale)] + [(line, detail_scale) for line in textwrap.wrap(detail, 60)]
    heights = [marks.text_size(text, scale)[1] * 2 for text, scale in lines]
    y = (height - sum(heights)) // 2
    for (text, scale), line_h in zip(lines, heights):
        tw, th, _ = marks.text_size(text, scale)
        y += line_h
        cv2.putText(out, text, ((width - tw) // 2, y - line_h // 2 + th // 2), marks.FONT, scale, style.paper,
                    2 if scale is title_scale else marks.STROKE, marks.AA)
    return out
