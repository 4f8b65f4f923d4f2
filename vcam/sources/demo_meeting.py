"""The demo meeting's ground truth: which tile shows whom, where, named how, at any frame.

:class:`Meeting` answers, for a time in seconds, the layout the demo draws: every visible tile's rect,
its participant and the name as drawn (after truncation), whether their camera is off and whether they
speak. :class:`DemoTruth` is that answer; ``DemoTruth.layout()`` gives it in vcam's own vocabulary
(:class:`vcam.types.Layout`) so evaluations compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vcam.sources import demo_people, demo_theme, tiles
from vcam.sources.tiles import Rect
from vcam.types import Layout


@dataclass(frozen=True)
class DemoTile:
    """One visible tile of a demo frame.

    Attributes:
        rect: ``(x, y, w, h)`` of the tile, frame pixels.
        label: ``(x, y, w, h)`` of its name label (box and text), frame pixels, inside ``rect``.
        participant: the participant's number (stable while they stay; a re-joiner is a new number).
        name: their name as drawn, truncated with "…" when it does not fit.
        full_name: their whole display name.
        portrait: the display name of the portrait they show (what identity on the demo names them).
        mirrored: the portrait is shown mirrored left-right (a repeat of a face).
        camera_off: the tile shows initials on a disc, no face.
        speaking: they are the active speaker (a highlighted border in grid view, the large tile in speaker view).
    """

    rect: Rect
    label: Rect
    participant: int
    name: str
    full_name: str
    portrait: str
    mirrored: bool
    camera_off: bool
    speaking: bool


@dataclass(frozen=True)
class DemoTruth:
    """What demo frame ``index`` shows: ``kind`` (``grid`` or ``speaker``) and its tiles in reading order."""

    index: int
    t: float
    kind: str
    tiles: tuple[DemoTile, ...]

    def layout(self) -> Layout:
        """The same as a :class:`vcam.types.Layout` (tiles, labels, drawn names, camera_off); ``found_at`` = ``t``."""
        n = len(self.tiles)
        return Layout(self.kind, np.array([t.rect for t in self.tiles], np.float32).reshape(n, 4),
                      np.array([t.label for t in self.tiles], np.float32).reshape(n, 4),
                      np.array([t.name for t in self.tiles], object),
                      np.array([t.camera_off for t in self.tiles], bool), self.t)


class Meeting:
    """Who shows where and when in a demo meeting; pure: the same time gives the same answer.

    Args:
        size: the frame ``(width, height)`` in pixels.
        rows, cols: the gallery grid while the meeting has its first ``people``.
        people: participants at the start.
        look: the theme (gaps, corners, fonts).
        portrait_names: the display names of the portraits, in order.
        off: how many of the first ``people`` have their camera off.
        churn, speaker_view, seed: see :class:`~vcam.sources.demo.DemoSource`.
        classic: name every repeat of a portrait after it (the plain look), not with an invented name.
    """

    def __init__(self, size: tuple[int, int], rows: int, cols: int, people: int, look: demo_theme.Theme,
                 portrait_names: list[str], off: int = 0, churn: bool = False, speaker_view: bool = False,
                 seed: int = 0, classic: bool = False) -> None:
        self.size, self.rows, self.cols, self.people = size, rows, cols, people
        self.look, self.portrait_names, self.classic = look, portrait_names, classic
        self.speaker_view, self.seed = speaker_view, seed
        self.off = demo_people.camera_off_set(people, off, seed)
        self.roster = demo_people.Roster(people, churn, seed, most=tiles.MAX_PEOPLE)
        self.gap = look.px(look.gap, min(size), least=2)
        self.margin = look.px(look.margin, min(size), least=2)

    def at(self, index: int, t: float) -> DemoTruth:
        """The truth of frame ``index`` at ``t`` seconds."""
        present = self.roster.at(t)
        speaker = demo_people.speaker_at(t, present, self.seed)
        if self.speaker_view:
            return DemoTruth(index, t, "speaker", self._speaker_tiles(present, speaker))
        rects = self.rects(len(present), "grid")
        shown = speaker if self.look.speaking is not None else -1
        return DemoTruth(index, t, "grid", tuple(self._tile(p, r, p == shown) for p, r in zip(present, rects)))

    def _speaker_tiles(self, present: tuple[int, ...], speaker: int) -> tuple[DemoTile, ...]:
        others = [p for p in present if p != speaker][:tiles.FILMSTRIP_MAX]
        rects = self.rects(len(present), "speaker")
        order = others + [speaker] if self.look.strip_on_top else [speaker] + others
        return tuple(self._tile(p, r, p == speaker) for p, r in zip(order, rects))

    def rects(self, count: int, kind: str) -> list[Rect]:
        """The tile rects, reading order, of a ``kind`` layout (``grid`` or ``speaker``) of ``count`` people."""
        return _rects(self.size, count, kind, self.rows, self.cols, self.people, self.gap, self.margin,
                      self.look.strip_on_top)

    def _tile(self, p: int, rect: Rect, speaking: bool) -> DemoTile:
        full = self.name_of(p)
        sprite = demo_theme.label(full, rect[2], rect[3], self.look)
        index, mirrored = demo_people.portrait_of(p, len(self.portrait_names))
        return DemoTile(rect, demo_theme.label_rect(sprite, rect), p, sprite.text, full,
                        self.portrait_names[index], mirrored, p in self.off, speaking)

    def name_of(self, p: int) -> str:
        """Participant ``p``'s full display name."""
        if self.classic:
            return self.portrait_names[p % len(self.portrait_names)]
        return demo_people.participant_name(p, self.portrait_names)


@lru_cache(maxsize=64)
def _rects(size: tuple[int, int], count: int, kind: str, rows: int, cols: int, people: int, gap: int, margin: int,
           strip_on_top: bool) -> list[Rect]:
    """See :meth:`Meeting.rects`; the starting count keeps the given grid, other counts the app's grid."""
    width, height = size
    if kind == "speaker":
        return tiles.speaker_view(count - 1, width, height, gap, strip_on_top)
    r, c = (rows, cols) if count == people else tiles.app_grid(count)
    return tiles.gallery(count, r, c, width, height, gap, margin)
