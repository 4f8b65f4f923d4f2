"""The feed's events, defined once: pure functions and a builder, no I/O.

Every event is a JSON object with ``type`` and ``schema_version``; the committed
JSON Schema ``vcam/feed/schema.json`` validates all of them, and the dashboard
and the tests read that same file. A change to an event's shape changes
:data:`SCHEMA_VERSION` and the schema in the same commit.

- ``hello``: the session and which features are on; sent first to every client,
  and again whenever a feature is switched.
- ``audience``: a snapshot of the room and (unless aggregate-only) each person,
  at most every ``interval`` seconds.
- ``alert``: attention fell (``attention_low``), or a person arrived or left.
- ``status`` (since 1.1): the daemon's health: running, paused, source lost (and
  retrying) or ended, with how often the source was lost and how many analysed
  frames failed a stage (they went out unannotated). Sent when it changes; a new
  client gets the latest one right after ``hello``.

Times: ``t`` is seconds since the session started (from the frame's capture
time, monotonic); ``started_at`` and ``captured_at`` are unix seconds.

Privacy: names appear only while identity is on; emotion, valence and arousal
only while emotion is on (never in EU mode), and always flagged ``estimated``.
In aggregate-only mode ``people`` is always ``[]``, ``room`` is ``null`` while
fewer than ``min_group`` (3) people are present, person alerts carry no track
id and are held back while the room is hidden.

Without gaze there is no attention: ``attention``, ``looking``, ``engagement``,
``attending``, ``attention_pct`` and the room's ``engagement`` are ``null``.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from vcam.pipeline.engagement import Engagement, expression_of
from vcam.pipeline.engagement import room as room_of
from vcam.types import EMOTIONS, Analysis, Faces

SCHEMA_VERSION = "1.1"
"""Version of every event's shape; bumped with any change to ``schema.json``.
1.1 added the ``status`` event; the other events are unchanged since 1.0."""

ALERT_KINDS = ("attention_low", "person_left", "person_arrived")
STATES = ("running", "paused", "source_lost", "ended")
"""``status`` states: analysing; analysis paused (video still sent); source lost, retrying with
backoff; source finished (a file) while the daemon stays up."""
_STATUS_KEYS = ("state", "source", "source_lost", "stage_errors", "message")
FEATURES = ("gaze", "identity", "emotion")


# -- the events --------------------------------------------------------------------
def hello(session_id: str, started_at: float, source: str, features: Mapping[str, bool]) -> dict:
    """The ``hello`` event. ``features`` holds gaze, identity, emotion, aggregate_only, eu_mode."""
    return {"type": "hello", "schema_version": SCHEMA_VERSION, "session_id": session_id,
            "started_at": float(started_at), "source": source,
            "features": {k: bool(features.get(k, False)) for k in (*FEATURES, "aggregate_only", "eu_mode")}}


def audience(t: float, frame_index: int, captured_at: float, room: dict | None, people: list[dict]) -> dict:
    """The ``audience`` snapshot; ``room`` as from :func:`room_totals` (None when hidden)."""
    return {"type": "audience", "schema_version": SCHEMA_VERSION, "t": round(float(t), 3),
            "frame_index": int(frame_index), "captured_at": float(captured_at), "room": room, "people": people}


def alert(t: float, kind: str, message: str, track_id: int | None = None) -> dict:
    """An ``alert`` of one of :data:`ALERT_KINDS`."""
    if kind not in ALERT_KINDS:
        raise ValueError(f"alert kind must be one of {', '.join(ALERT_KINDS)}, got {kind!r}")
    return {"type": "alert", "schema_version": SCHEMA_VERSION, "t": round(float(t), 3), "kind": kind,
            "message": message, "track_id": None if track_id is None else int(track_id)}


def status(t: float, state: str, source: str, *, source_lost: int, stage_errors: int,
           message: str | None) -> dict:
    """A ``status`` event: the daemon's health at ``t`` (seconds since the session started).

    Args:
        state: one of :data:`STATES`.
        source: the source spec, e.g. ``"webcam:0"``.
        source_lost: times the source was lost this session (>= 0).
        stage_errors: analysed frames this session in which a stage raised (>= 0); each
            went out unannotated.
        message: one line for a person, e.g. ``"camera 0 stopped sending frames; retrying in 4 s"``,
            or None. Runs of whitespace (newlines of an exception's text too) become one space.

    Raises:
        ValueError: an unknown ``state`` or a negative count (a bug in the caller, not user input).
    """
    if state not in STATES:
        raise ValueError(f"status state must be one of {', '.join(STATES)}, got {state!r}")
    if source_lost < 0 or stage_errors < 0:
        raise ValueError(f"status counts must be >= 0, got source_lost={source_lost!r}, stage_errors={stage_errors!r}")
    line = None if message is None else " ".join(str(message).split()) or None
    return {"type": "status", "schema_version": SCHEMA_VERSION, "t": round(float(t), 3), "state": state,
            "source": source, "source_lost": int(source_lost), "stage_errors": int(stage_errors), "message": line}


def _num(x: float, digits: int = 3) -> float | None:
    """``x`` rounded, or None when it is NaN or None (JSON has no NaN)."""
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def room_totals(faces: Faces, on: Mapping[str, bool]) -> dict:
    """The ``room`` object (see :func:`vcam.pipeline.engagement.room`) for the features ``on``, rounded."""
    totals, gaze = room_of(faces), on.get("gaze", False)
    shares = totals["emotions"] if on.get("emotion", False) else None
    return {
        "people": totals["people"],
        "attending": totals["attending"] if gaze else None,
        "attention_pct": _num(totals["attention_pct"], 1) if gaze else None,
        "engagement": _num(totals["engagement"]) if gaze else None,
        "emotions": None if shares is None else {k: round(v, 3) for k, v in shares.items()},
    }


def person(faces: Faces, i: int, on: Mapping[str, bool], weights: tuple[float, float]) -> dict:
    """Row ``i`` of ``faces`` as a ``people`` entry; ``weights`` are the effective (attention, expression) weights."""
    gaze, emotion = on.get("gaze", False), on.get("emotion", False)
    probs = faces.emotion[i]
    has_emotion = emotion and bool(np.isfinite(probs).all())
    top = int(np.argmax(probs)) if has_emotion else 0
    return {
        "track_id": int(faces.track_id[i]),
        "name": faces.name[i] if on.get("identity", False) and isinstance(faces.name[i], str) else None,
        "attention": _num(faces.attention[i]) if gaze else None,
        "looking": bool(faces.on_screen[i]) if gaze else None,
        "emotion": {"label": EMOTIONS[top], "confidence": _num(probs[top])} if has_emotion else None,
        "valence": _num(faces.valence[i]) if emotion else None,
        "arousal": _num(faces.arousal[i]) if emotion else None,
        "estimated": True,
        "engagement": _num(faces.engagement[i]) if gaze else None,
        "components": {"attention": _num(faces.attention[i]) if gaze else None,
                       "expression": _num(faces.expression[i]) if emotion else None,
                       "weights": {"attention": round(weights[0], 3), "expression": round(weights[1], 3)}},
    }


# -- the builder -------------------------------------------------------------------
@dataclass
class _Seen:
    first: float
    last: float
    arrived: bool = False
    name: str | None = None


def _feature_names(features: object) -> tuple[str, ...]:
    """Names of the features on, from a pipeline ``Features``, a name → bool mapping, or names."""
    if hasattr(features, "names"):
        return tuple(features.names())
    if isinstance(features, Mapping):
        return tuple(k for k, v in features.items() if v)
    return tuple(features)


class FeedBuilder:
    """Turns each :class:`~vcam.types.Analysis` into feed events. Runs on the analysis thread; no I/O.

    Args:
        features: the features on at start (a pipeline ``Features``, a mapping, or names).
            Later, each Analysis's own ``features`` rule, and a change emits a new ``hello``.
        aggregate_only: publish the room only, never a person (see the module docstring).
        eu_mode: emotion is never published, whatever the analysis carries.
        source: the source spec, for ``hello``.
        session_id: defaults to a random hex id.
        interval: seconds between ``audience`` snapshots. Shorter is livelier and costs
            every client more messages; 0.25 s gives 4 Hz, above the 2 Hz target.
        low_attention: room ``attention_pct`` below which attention counts as low.
        low_for: seconds it must stay low before one ``attention_low`` alert (per episode;
            the episode ends when it is back at or above ``low_attention``). Shorter warns
            sooner and more often, about glances at notes too.
        left_after: seconds a track must be gone to have left. Shorter reports people
            who only turned away or were briefly lost as leaving.
        arrive_after: seconds a track must be present to have arrived. Longer ignores
            more false detections and reports real arrivals later.
        min_group: fewest people for which aggregate-only mode shows the room.
        engagement: the stage whose weights the published formula uses (share it with
            the analyzer's); it also fills attention when the analyzer has no engagement stage.
        status_interval: seconds between ``status`` events that differ only in ``stage_errors``.
            While a stage fails on every frame the count rises at the frame rate; shorter shows
            it sooner and sends every client more messages. Any other change goes out at once.
        started, started_at: the session's start as ``time.monotonic()`` and unix seconds.
    """

    def __init__(self, features: object = ("gaze",), aggregate_only: bool = False, *, eu_mode: bool = False,
                 source: str = "", session_id: str | None = None, interval: float = 0.25,
                 low_attention: float = 50.0, low_for: float = 10.0, left_after: float = 3.0,
                 arrive_after: float = 1.0, min_group: int = 3, engagement: Engagement | None = None,
                 started: float | None = None, started_at: float | None = None,
                 status_interval: float = 1.0) -> None:
        self.aggregate_only, self.eu_mode, self.source = aggregate_only, eu_mode, source
        self.session_id = session_id or secrets.token_hex(8)
        self.interval, self.low_attention, self.low_for = interval, low_attention, low_for
        self.left_after, self.arrive_after, self.min_group = left_after, arrive_after, min_group
        self.engagement = engagement or Engagement()
        self.started = time.monotonic() if started is None else started
        self.started_at = time.time() if started_at is None else started_at
        self.on = self._flags(_feature_names(features))
        self._hello_on: dict[str, bool] | None = None
        self._last_snapshot: float | None = None
        self._seen: dict[int, _Seen] = {}
        self._low_since: float | None = None
        self._low_fired = False
        self.status_interval = status_interval
        self._status: dict | None = None  # the last status event returned

    def _flags(self, names: Iterable[str]) -> dict[str, bool]:
        names = set(names)
        return {"gaze": "gaze" in names, "identity": "identity" in names,
                "emotion": "emotion" in names and not self.eu_mode}

    def hello(self) -> dict:
        """The ``hello`` event for the features on now."""
        self._hello_on = dict(self.on)
        return hello(self.session_id, self.started_at, self.source,
                     {**self.on, "aggregate_only": self.aggregate_only, "eu_mode": self.eu_mode})

    def status(self, t: float, state: str, source: str, source_lost: int, stage_errors: int,
               message: str | None) -> dict | None:
        """A ``status`` event (see :func:`status`) if it differs from the last one returned, else None.

        ``t`` is ignored in the comparison, so callers may call this on every analysed
        frame and every lost-source tick. A change in ``stage_errors`` alone is held back
        until ``status_interval`` has passed since the last event; the next call after
        that returns it, with the count as it is then.
        """
        event = status(t, state, source, source_lost=source_lost, stage_errors=stage_errors, message=message)
        last = self._status
        if last is not None:
            changed = [k for k in _STATUS_KEYS if event[k] != last[k]]
            if not changed or (changed == ["stage_errors"] and 0 <= event["t"] - last["t"] < self.status_interval):
                return None
        self._status = event
        return event

    def on_analysis(self, analysis: Analysis) -> list[dict]:
        """Events for one Analysis, in order: a ``hello`` if features changed, alerts, a snapshot when due."""
        t = analysis.captured - self.started
        self.on = self._flags(analysis.features)
        events = [self.hello()] if self.on != self._hello_on else []
        faces = self._scored(analysis)
        events += self._presence(t, faces)
        room = room_totals(faces, self.on)
        events += self._attention_alert(t, room)
        if self._last_snapshot is None or t - self._last_snapshot >= self.interval:
            self._last_snapshot = t
            events.append(self._snapshot(t, analysis, faces, room))
        return events

    def _scored(self, analysis: Analysis) -> Faces:
        """Faces with attention, expression and engagement as published (by the one formula)."""
        faces = analysis.faces
        if not self.on["gaze"] or len(faces) == 0:
            return faces
        if not np.isfinite(faces.attention).any():
            faces = self.engagement.update(analysis.t, faces)
            self.engagement.forget(set(self._seen) | set(faces.track_id.tolist()))
        expression = expression_of(faces.emotion) if self.on["emotion"] else np.full(len(faces), np.nan, np.float32)
        return faces.replace(expression=expression, engagement=self.engagement.combine(faces.attention, expression))

    def _snapshot(self, t: float, analysis: Analysis, faces: Faces, room: dict) -> dict:
        captured_at = self.started_at + (analysis.captured - self.started)
        if self.aggregate_only:
            return audience(t, analysis.frame_index, captured_at, room if len(faces) >= self.min_group else None, [])
        people = [person(faces, i, self.on, self.engagement.weights(bool(np.isfinite(faces.expression[i]))))
                  for i in range(len(faces))]
        return audience(t, analysis.frame_index, captured_at, room, people)

    def _presence(self, t: float, faces: Faces) -> list[dict]:
        """``person_arrived`` / ``person_left`` alerts from track ids appearing and disappearing."""
        events: list[tuple[str, _Seen, int]] = []
        for tid, name in zip(faces.track_id.tolist(), faces.name):
            if tid < 0:
                continue
            seen = self._seen.setdefault(tid, _Seen(first=t, last=t))
            seen.last, seen.name = t, name if isinstance(name, str) else seen.name
            if not seen.arrived and t - seen.first >= self.arrive_after:
                seen.arrived = True
                events.append(("person_arrived", seen, tid))
        for tid in [tid for tid, s in self._seen.items() if t - s.last > self.left_after]:
            seen = self._seen.pop(tid)
            if seen.arrived:
                events.append(("person_left", seen, tid))
        if self.aggregate_only and len(faces) < self.min_group:
            return []
        return [self._person_alert(t, kind, seen, tid) for kind, seen, tid in events]

    def _person_alert(self, t: float, kind: str, seen: _Seen, tid: int) -> dict:
        verb = "arrived" if kind == "person_arrived" else "left"
        if self.aggregate_only:
            return alert(t, kind, f"someone {verb}")
        who = seen.name if self.on["identity"] and seen.name else f"person {tid}"
        return alert(t, kind, f"{who} {verb}", tid)

    def _attention_alert(self, t: float, room: dict) -> list[dict]:
        """One ``attention_low`` alert per episode of the room below ``low_attention`` for ``low_for`` s."""
        pct = room["attention_pct"]
        hidden = self.aggregate_only and room["people"] < self.min_group
        if pct is None or hidden or pct >= self.low_attention:
            self._low_since, self._low_fired = None, False
            return []
        if self._low_since is None:
            self._low_since = t
        if self._low_fired or t - self._low_since < self.low_for:
            return []
        self._low_fired = True
        return [alert(t, "attention_low", f"attention has been below {self.low_attention:.0f}% for "
                                          f"{self.low_for:.0f} s ({pct:.0f}% now)")]
