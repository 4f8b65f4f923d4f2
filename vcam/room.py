"""room: everyone present in one analysed frame, as every writer publishes it (see :mod:`vcam.records`).

The room's ``attention`` is the mean of the present people's attention (published in percent as
``attention_pct``); ``looking`` counts who looks at the screen at this instant (``attending``). In a
meeting gallery the room also says its layout, its tile count and how many cameras are off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vcam.types import EMOTIONS, Analysis, Faces, Layout


@dataclass(frozen=True)
class Room:
    """Everyone present in one analysed frame.

    Attributes:
        people: faces present.
        looking: how many look at their screen at this instant (``attending``); None while gaze is off.
        attention: the mean of the present people's attention, 0..1 (``attention_pct`` = 100 ×);
            None while gaze is off or nobody is present.
        engagement: the mean engagement, 0..1; None like attention.
        emotions: for each of :data:`~vcam.types.EMOTIONS`, the share of the people with an estimate
            whose most likely class it is; None while emotion is off or nobody has one.
        camera_off: meeting tiles whose camera is off (not counted in ``people``: nobody can be seen
            looking or away); None outside a meeting gallery.
        layout: the meeting layout's kind (``grid``, ``speaker``, ``strip``); None outside a gallery.
        tiles: the meeting's tiles, camera-off ones included; None outside a gallery.
    """

    people: int
    looking: int | None
    attention: float | None
    engagement: float | None
    emotions: dict[str, float] | None
    camera_off: int | None = None
    layout: str | None = None
    tiles: int | None = None

    @property
    def attention_pct(self) -> float | None:
        """``attention`` in percent, 0..100, rounded to 0.1."""
        return None if self.attention is None else round(100.0 * self.attention, 1)

    def published(self) -> dict[str, Any]:
        """The room as the feed's ``room``, the analyze JSON's frames and ``room.csv`` name it."""
        return {"people": self.people, "attending": self.looking, "attention_pct": self.attention_pct,
                "engagement": self.engagement, "emotions": self.emotions, "camera_off": self.camera_off,
                "layout": self.layout, "tiles": self.tiles}


def camera_off(analysis: Analysis, features: Iterable[str]) -> tuple[str | None, ...]:
    """The participant names (None: unread, or names not published) of ``analysis``'s camera-off tiles."""
    layout = analysis.layout
    if layout is None:
        return ()
    named = "names" in set(features)
    return tuple(layout.participant[i] if named and isinstance(layout.participant[i], str) else None
                 for i in np.flatnonzero(layout.camera_off))


def room_of(faces: Faces, features: Iterable[str], layout: Layout | None = None) -> Room:
    """The room of ``faces`` (tracked rows only) for the published ``features``, in the meeting ``layout``
    (None outside a gallery)."""
    on = set(features)
    faces = faces.select(faces.track_id >= 0)
    gaze = "gaze" in on
    meeting = {} if layout is None else {"camera_off": int(np.count_nonzero(layout.camera_off)),
                                         "layout": layout.kind, "tiles": len(layout)}
    return Room(people=len(faces),
                looking=int(np.count_nonzero(faces.on_screen)) if gaze else None,
                attention=_mean(faces.attention) if gaze else None,
                engagement=_mean(faces.engagement) if gaze else None,
                emotions=emotion_shares(faces.emotion) if "emotion" in on else None, **meeting)


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 4) if finite.size else None


def emotion_shares(emotion: np.ndarray) -> dict[str, float] | None:
    """Share of rows of ``(N, 7)`` probabilities whose top class is each emotion, rounded; None if no row is known."""
    known = emotion[np.isfinite(emotion).all(axis=1)]
    if len(known) == 0:
        return None
    counts = np.bincount(known.argmax(axis=1), minlength=len(EMOTIONS))
    return {label: round(float(c) / len(known), 3) for label, c in zip(EMOTIONS, counts)}
