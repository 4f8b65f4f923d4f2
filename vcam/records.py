"""records: one person and one room, as every writer publishes them, built once per analysis.

::

    Analysis ──Records.build──▶ Snapshot(people: Person..., room: Room, presence: Presence...)
                                   ├─▶ feed events        (vcam.feed.events)
                                   ├─▶ session timeline   (vcam.session.recorder)
                                   └─▶ analyze JSON       (vcam.analyze)

The feed, the timeline and the analyze JSON only *format* these records, so a value has one
name and one number everywhere. Privacy is applied here and only here:

- a field whose feature was off (or, for emotion, EU mode) is None;
- identity's names only while identity was on;
- aggregate-only mode: no :class:`Person` at all, the :class:`Room` only with at least
  ``min_group`` (3) people present, and presence changes without a track id or a name,
  held back while the room is hidden.

**Attention**, defined once (the analyzer's engagement stage computes it):

- a person's ``attention``: the share of their last 10 s spent looking at the screen, 0..1;
- the room's ``attention``: the mean of the present people's attention (published in percent
  as ``attention_pct``), and separately ``looking``: how many look at the screen at this instant
  (published as ``attending``).

The room's attention under :data:`LOW_ATTENTION_PCT` for :data:`LOW_FOR_S` seconds is the
dashboard's ``attention_low`` alert and the report's "moment the room's attention fell".

**Adding a field** (say a blink rate): give :class:`Person` one line with its :func:`spec`
(where it comes from, its feature, unit and the version it arrives in), then run
``python -m vcam.schemas`` to add it to the committed JSON Schemas. The feed, the timeline
(CSV and JSONL) and the analyze JSON carry it under its name from then on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from vcam.room import Room, camera_off, room_of
from vcam.types import EMOTIONS, Analysis, Faces

MIN_GROUP = 3
"""Fewest people present for which aggregate-only mode shows the room."""
LOW_ATTENTION_PCT = 50.0
"""Room attention (percent) below which the room counts as not attending."""
LOW_FOR_S = 10.0
"""Seconds the room's attention must stay below :data:`LOW_ATTENTION_PCT` to be a moment worth telling."""


def number(value: object, digits: int = 3) -> float | None:
    """``value`` as a float rounded to ``digits``, or None for None and NaN (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


# -- how a field is computed and published ---------------------------------------------------------------------
Getter = Callable[[Faces, int], Any]


@dataclass(frozen=True)
class Spec:
    """How one :class:`Person` field is computed from :class:`~vcam.types.Faces` and published.

    Attributes:
        doc: what it is, with its unit and range (the JSON Schemas' description).
        get: ``(faces, row) -> value``; NaN becomes None.
        feature: the feature that must be on for it to be published (None: always).
        kind: its JSON type: ``number``, ``integer``, ``boolean`` or ``string``.
        digits: decimals a number is rounded to, once, here (every writer shows the same number).
        low, high: the range of a number, for the schemas.
        since: the schema version in which it first appeared; a new field raises the version of
            every schema that carries it (``python -m vcam.schemas``).
        published: False for the analyze JSON's structural fields (the box, the class probabilities),
            which the feed and the timeline do not carry.
    """

    doc: str
    get: Getter
    feature: str | None = None
    kind: str = "number"
    digits: int = 3
    low: float | None = None
    high: float | None = None
    since: str = "1.0"
    published: bool = True


def spec(doc: str, get: Getter, **options: Any) -> Any:
    """A dataclass field of :class:`Person` (default None) described by a :class:`Spec`."""
    return field(default=None, metadata={"spec": Spec(doc, get, **options)})


def column(name: str, index: int | None = None) -> Getter:
    """A getter of the ``name`` column of :class:`~vcam.types.Faces` (element ``index`` of a vector column)."""
    if index is None:
        return lambda faces, i: getattr(faces, name)[i]
    return lambda faces, i: getattr(faces, name)[i, index]


def _name(faces: Faces, i: int) -> str | None:
    name = faces.name[i]
    return " ".join(name.split()) if isinstance(name, str) and name.strip() else None


def _participant(faces: Faces, i: int) -> str | None:
    name = faces.participant[i]
    return name if isinstance(name, str) and name.strip() else None


def _away_reason(faces: Faces, i: int) -> str | None:
    reason = faces.away_reason[i]
    return reason if isinstance(reason, str) and not faces.on_screen[i] else None


def _tile(faces: Faces, i: int) -> int | None:
    return int(faces.tile[i]) if faces.tile[i] >= 0 else None


def _emotion_known(faces: Faces, i: int) -> bool:
    return bool(np.isfinite(faces.emotion[i]).all())


def _emotion(faces: Faces, i: int) -> str | None:
    return EMOTIONS[int(np.argmax(faces.emotion[i]))] if _emotion_known(faces, i) else None


def _emotion_confidence(faces: Faces, i: int) -> float:
    return float(np.max(faces.emotion[i])) if _emotion_known(faces, i) else math.nan


def _affect(name: str) -> Getter:
    """Valence or arousal: only for a face whose expression was classified (they are derived from it)."""
    return lambda faces, i: getattr(faces, name)[i] if _emotion_known(faces, i) else math.nan


def _probs(faces: Faces, i: int) -> tuple[float, ...] | None:
    return tuple(round(float(p), 4) for p in faces.emotion[i]) if _emotion_known(faces, i) else None


def _bbox(faces: Faces, i: int) -> tuple[float | None, ...]:
    return tuple(number(v, 1) for v in faces.bbox[i])


@dataclass(frozen=True)
class Person:
    """One person in one analysed frame, as the feed, the timeline and the analyze JSON publish them.

    None means not computed (yet), or its feature was off. Numbers are already rounded.
    """

    track_id: int = spec("the track's id, stable while vcam follows the face", column("track_id"), kind="integer")
    name: str | None = spec("the enrolled person's name; null when unknown or identity is off", _name,
                            feature="identity", kind="string")
    participant: str | None = spec("the name on the person's meeting tile, as read from the screen (not a face "
                                   "match); null when none was read", _participant,
                                   feature="names", kind="string", since="1.3")
    shared: bool | None = spec("another face shares the person's meeting tile (a room camera), so the tile's "
                               "name is not theirs alone", column("shared"), feature="names", kind="boolean",
                               since="1.3")
    tile: int | None = spec("the index of the person's meeting tile in the layout (reading order); null "
                            "outside a meeting gallery", _tile, kind="integer", since="1.3")
    identity_distance: float | None = spec(
        "face descriptor distance to the named person (to the nearest enrolled one when unknown); lower is "
        "more alike, under 0.6 is the same person", column("identity_distance"), feature="identity", low=0,
        since="1.2")
    looking: bool | None = spec("looking at their screen at this instant", column("on_screen"), feature="gaze",
                                kind="boolean")
    looking_confidence: float | None = spec("confidence of looking, 0..1", column("on_screen_conf"),
                                            feature="gaze", low=0, high=1, since="1.2")
    attention: float | None = spec("share of the last 10 s spent looking at the screen, 0..1",
                                   column("attention"), feature="gaze", low=0, high=1)
    expression: float | None = spec("the expression part of engagement: 1 - p(neutral), 0..1 (an estimate)",
                                    column("expression"), feature="emotion", low=0, high=1, since="1.2")
    engagement: float | None = spec("engagement, 0..1: the weighted mean of attention and expression",
                                    column("engagement"), feature="gaze", low=0, high=1)
    emotion: str | None = spec("the most likely of the 7 expression classes (an estimate)", _emotion,
                               feature="emotion", kind="string")
    emotion_confidence: float | None = spec("the probability of that class, 0..1", _emotion_confidence,
                                            feature="emotion", low=0, high=1)
    valence: float | None = spec("valence, -1..1, estimated from the class probabilities (not measured)",
                                 _affect("valence"), feature="emotion", low=-1, high=1)
    arousal: float | None = spec("arousal, -1..1, estimated from the class probabilities (not measured)",
                                 _affect("arousal"), feature="emotion", low=-1, high=1)
    yaw: float | None = spec("head yaw in degrees; > 0 faces the image's right", column("pose", 0), digits=1,
                             since="1.2")
    pitch: float | None = spec("head pitch in degrees; > 0 faces up", column("pose", 1), digits=1, since="1.2")
    roll: float | None = spec("head roll in degrees; > 0 tilts counter-clockwise as displayed", column("pose", 2),
                              digits=1, since="1.2")
    h_ratio: float | None = spec("iris along the eye, 0 = the person's right corner, 1 = their left",
                                 column("gaze", 0), feature="gaze", since="1.2")
    v_ratio: float | None = spec("iris between the lids, 0 = upper, 1 = lower", column("gaze", 1), feature="gaze",
                                 since="1.2")
    eye_openness: float | None = spec("lid gap / eye width, both eyes averaged: about 0.3 open, under 0.14 shut",
                                      column("eye_openness"), feature="gaze", low=0, since="1.2")
    eye_openness_right: float | None = spec("the person's right eye's lid gap / width (the image's left eye "
                                            "unmirrored)", column("eye_open", 0), feature="gaze", low=0,
                                            since="1.4")
    eye_openness_left: float | None = spec("the person's left eye's lid gap / width", column("eye_open", 1),
                                           feature="gaze", low=0, since="1.4")
    eyes_closed: bool | None = spec("both eyes shut for longer than a blink (0.4 s)", column("eyes_closed"),
                                    feature="gaze", kind="boolean", since="1.4")
    gaze_yaw: float | None = spec("gaze direction yaw in degrees, as head yaw: > 0 towards the image's right, 0 "
                                  "into the lens; null with eyes shut", column("gaze_angles", 0), feature="gaze",
                                  digits=1, since="1.4")
    gaze_pitch: float | None = spec("gaze direction pitch in degrees, as head pitch: > 0 up, 0 into the lens; "
                                    "null with eyes shut", column("gaze_angles", 1), feature="gaze", digits=1,
                                    since="1.4")
    away_reason: str | None = spec("why not looking: eyes closed, looking up, looking down, looking aside, head "
                                   "turned (or no gaze); null when looking", _away_reason, feature="gaze",
                                   kind="string", since="1.4")
    gaze_calibrated: bool | None = spec("the person's screen region was calibrated on request ('everyone is "
                                        "looking at their screen now'), not only learnt from their gaze",
                                        column("gaze_calibrated"), feature="gaze", kind="boolean", since="1.5")
    bbox: tuple[float | None, ...] | None = spec("[x, y, w, h] of the face in frame pixels", _bbox,
                                                 published=False)
    emotion_probs: tuple[float, ...] | None = spec("the 7 class probabilities in EMOTIONS order", _probs,
                                                   feature="emotion", published=False)

    def value(self, key: str) -> Any:
        """The field ``key``; KeyError for an unknown one."""
        if key not in SPECS:
            raise KeyError(f"Person has no field {key!r}; fields: {', '.join(SPECS)}")
        return getattr(self, key)


SPECS: dict[str, Spec] = {f.name: f.metadata["spec"] for f in fields(Person)}
"""Every :class:`Person` field's :class:`Spec`, in declaration order."""


def published(exclude: Iterable[str] = ()) -> list[str]:
    """The published Person fields, in order, except ``exclude`` (those a writer formats its own way)."""
    skip = set(exclude)
    return [key for key, s in SPECS.items() if s.published and key not in skip]


def version(base: str, keys: Iterable[str]) -> str:
    """The schema version of a document that carries ``keys``: ``base``, or a later ``since`` of one of them."""
    return max([base, *(SPECS[k].since for k in keys)], key=lambda v: tuple(int(p) for p in v.split(".")))


# -- the room, presence and the snapshot ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Presence:
    """Someone arrived (present ``arrive_after`` s) or left (gone ``left_after`` s).

    ``track_id`` and ``name`` are None in aggregate-only mode. ``name`` is the enrolled name, else the
    participant name read from the meeting tile; None when neither was known or published.
    """

    kind: str  # "arrived" or "left"
    track_id: int | None
    name: str | None


@dataclass(frozen=True)
class Snapshot:
    """What may be published about one analysed frame.

    Attributes:
        frame_index: the frame's index in its source.
        t: session seconds: the frame's time, kept increasing when the source's clock restarts
            (a looping file, a new source).
        media_t: the frame's own time in its source, seconds (``Analysis.t``).
        captured: ``time.monotonic()`` at capture.
        features: the features whose results are published (the analysis's, less emotion in EU mode).
        people: one Person per tracked face; empty in aggregate-only mode.
        room: the room; None in aggregate-only mode with fewer than ``min_group`` people present.
        presence: arrivals and departures at this frame.
        weights: the effective engagement weights ``(attention, expression)`` with an expression.
        camera_off: one entry per meeting tile whose camera is off: its participant name, or None
            (unread, or name reading off); empty in aggregate-only mode and outside a gallery.
    """

    frame_index: int
    t: float
    media_t: float
    captured: float
    features: tuple[str, ...]
    people: tuple[Person, ...]
    room: Room | None
    presence: tuple[Presence, ...] = ()
    weights: tuple[float, float] = (1.0, 0.0)
    camera_off: tuple[str | None, ...] = ()

    def weights_of(self, person: Person) -> tuple[float, float]:
        """The weights ``person``'s engagement was made with: ``(1, 0)`` without an expression."""
        return self.weights if person.expression is not None else (1.0, 0.0)


@dataclass
class Privacy:
    """What may be published.

    Attributes:
        aggregate_only: the room only, never a person (and no room under ``min_group`` people).
        eu_mode: never emotion, whatever the analysis carries.
        min_group: fewest people for which aggregate-only mode shows the room.
    """

    aggregate_only: bool = False
    eu_mode: bool = False
    min_group: int = MIN_GROUP


@dataclass
class _Seen:
    first: float
    last: float
    arrived: bool = False
    name: str | None = None


class Records:
    """Builds one :class:`Snapshot` per Analysis; keeps the session clock and who is present.

    Used by one thread (the analysis thread). ``privacy`` may be replaced between analyses.

    Args:
        privacy: what may be published.
        arrive_after: seconds a track must be present to have arrived. Longer ignores more false
            detections and reports real arrivals later.
        left_after: seconds a track must be gone to have left. Shorter reports people who only
            turned away or were briefly lost as leaving.
    """

    def __init__(self, privacy: Privacy | None = None, *, arrive_after: float = 1.0, left_after: float = 3.0) -> None:
        self.privacy = privacy or Privacy()
        self.arrive_after, self.left_after = arrive_after, left_after
        self._offset, self._last_t = 0.0, -math.inf
        self._seen: dict[int, _Seen] = {}

    def build(self, analysis: Analysis) -> Snapshot:
        """The snapshot of ``analysis``, with privacy applied."""
        t = self._session_time(analysis.t)
        features = self._published(analysis.features)
        faces = self._hide_expression(analysis.faces, features)
        everyone = tuple(person(faces, i, features) for i in range(len(faces)) if faces.track_id[i] >= 0)
        off = camera_off(analysis, features)
        room = room_of(faces, features, analysis.layout)
        presence = self._presence(t, everyone)
        if self.privacy.aggregate_only:
            shown = room.people >= self.privacy.min_group
            everyone, room, off = (), room if shown else None, ()
            presence = tuple(Presence(p.kind, None, None) for p in presence) if shown else ()
        return Snapshot(analysis.frame_index, t, analysis.t, analysis.captured, features, everyone, room, presence,
                        (number(analysis.engagement_weights[0]), number(analysis.engagement_weights[1])), off)

    def _published(self, features: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f for f in features if not (f == "emotion" and self.privacy.eu_mode))

    @staticmethod
    def _hide_expression(faces: Faces, features: tuple[str, ...]) -> Faces:
        """Without emotion published, engagement is attention alone (the formula renormalised)."""
        if "emotion" in features or not np.isfinite(faces.expression).any():
            return faces
        return faces.replace(expression=np.full(len(faces), np.nan, np.float32), engagement=faces.attention)

    def _session_time(self, t: float) -> float:
        """``t`` moved on so that it never runs backwards (a looping file, a new source)."""
        if t + self._offset < self._last_t:
            self._offset = self._last_t - t
        self._last_t = t + self._offset
        return self._last_t

    def _presence(self, t: float, people: tuple[Person, ...]) -> tuple[Presence, ...]:
        changes = []
        for p in people:
            seen = self._seen.setdefault(p.track_id, _Seen(first=t, last=t))
            seen.last, seen.name = t, p.name or p.participant or seen.name
            if not seen.arrived and t - seen.first >= self.arrive_after - 1e-9:
                seen.arrived = True
                changes.append(Presence("arrived", p.track_id, seen.name))
        for tid in [tid for tid, s in self._seen.items() if t - s.last > self.left_after + 1e-9]:
            seen = self._seen.pop(tid)
            if seen.arrived:
                changes.append(Presence("left", tid, seen.name))
        return tuple(changes)


def person(faces: Faces, i: int, features: Iterable[str]) -> Person:
    """Row ``i`` of ``faces`` as a Person; fields of features not in ``features`` are None."""
    on = set(features)
    values = {}
    for key, s in SPECS.items():
        if s.feature is not None and s.feature not in on:
            values[key] = None
            continue
        values[key] = _typed(s, s.get(faces, i))
    return Person(**values)


def _typed(s: Spec, value: Any) -> Any:
    if value is None or s.kind == "string" or isinstance(value, tuple):
        return value
    if s.kind == "boolean":
        return bool(value)
    if s.kind == "integer":
        return int(value)
    return number(value, s.digits)
