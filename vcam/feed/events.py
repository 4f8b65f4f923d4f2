"""The feed's events, defined once: pure functions and a builder, no I/O.

Every event is a JSON object with ``type`` and ``schema_version``; the committed
JSON Schema ``vcam/feed/schema.json`` validates all of them, and the dashboard
and the tests read that same file. A change to an event's shape changes the
schema (and its version) in the same commit; the people's fields come from
:class:`vcam.records.Person` and reach the schema through ``python -m vcam.schemas``.

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

Privacy is applied once, by :class:`vcam.records.Records`, before an event is
made: names appear only while identity is on; emotion, valence and arousal only
while emotion is on (never in EU mode), and always flagged ``estimated``. In
aggregate-only mode ``people`` is always ``[]``, ``room`` is ``null`` while
fewer than 3 people are present, person alerts carry no track id and are held
back while the room is hidden.

Without gaze there is no attention: ``attention``, ``looking``, ``engagement``,
``attending``, ``attention_pct`` and the room's ``engagement`` are ``null``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

from vcam.features import ANALYSIS, ANNOUNCED
from vcam.records import LOW_ATTENTION_PCT, LOW_FOR_S, Person, Presence, Privacy, Room, Snapshot, published

SCHEMA_PATH = Path(__file__).with_name("schema.json")
"""The committed JSON Schema (draft 2020-12) of every feed event."""
SCHEMA_VERSION: str = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]["version"]["const"]
"""Version of every event's shape, as the schema file states it. 1.1 added the ``status`` event;
1.2 the people's head pose, iris ratios, identity distance, looking confidence and expression; 1.3 their
participant name (read from the meeting tile), shared-tile mark and tile."""

ALERT_KINDS = ("attention_low", "person_left", "person_arrived")
STATES = ("running", "paused", "source_lost", "ended")
"""``status`` states: analysing; analysis paused (video still sent); source lost, retrying with
backoff; source finished (a file) while the daemon stays up."""
_STATUS_KEYS = ("state", "source", "source_lost", "stage_errors", "message")


# -- the events --------------------------------------------------------------------
def hello(session_id: str, started_at: float, source: str, features: Mapping[str, bool]) -> dict:
    """The ``hello`` event. ``features``: each of :data:`vcam.features.ANNOUNCED` (the analysis and privacy
    switches) that is on; missing ones are off."""
    return {"type": "hello", "schema_version": SCHEMA_VERSION, "session_id": session_id,
            "started_at": float(started_at), "source": source,
            "features": {k: bool(features.get(k, False)) for k in ANNOUNCED}}


def audience(t: float, frame_index: int, captured_at: float, room: dict | None, people: list[dict],
             camera_off: tuple[str | None, ...] = ()) -> dict:
    """The ``audience`` snapshot; ``room`` as :meth:`vcam.records.Room.published` (None when hidden);
    ``camera_off``: the participant names of camera-off tiles (the key only when there are some)."""
    event = {"type": "audience", "schema_version": SCHEMA_VERSION, "t": round(float(t), 3),
             "frame_index": int(frame_index), "captured_at": float(captured_at), "room": room, "people": people}
    if camera_off:
        event["camera_off"] = list(camera_off)
    return event


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


PERSON_FORMATTED = ("track_id", "name", "attention", "looking", "emotion", "emotion_confidence", "valence",
                    "arousal", "engagement", "expression")
"""Person fields a ``people`` entry carries in its own (1.0) shape; every other published field follows flat."""
PERSON_EXTRA = tuple(published(exclude=PERSON_FORMATTED))
"""The Person fields a ``people`` entry carries under their own names (since 1.2)."""


def person_event(p: Person, weights: tuple[float, float]) -> dict:
    """A ``people`` entry; ``weights`` are the effective (attention, expression) weights of its engagement."""
    return {
        "track_id": p.track_id, "name": p.name, "attention": p.attention, "looking": p.looking,
        "emotion": {"label": p.emotion, "confidence": p.emotion_confidence} if p.emotion is not None else None,
        "valence": p.valence, "arousal": p.arousal, "estimated": True, "engagement": p.engagement,
        "components": {"attention": p.attention, "expression": p.expression,
                       "weights": {"attention": weights[0], "expression": weights[1]}},
        **{key: p.value(key) for key in PERSON_EXTRA},
    }


# -- the builder -------------------------------------------------------------------
class FeedBuilder:
    """Turns each :class:`~vcam.records.Snapshot` into feed events. Runs on the analysis thread; no I/O.

    Args:
        features: the analysis features published at start (names). Later, each snapshot's own
            ``features`` rule, and a change emits a new ``hello``.
        privacy: the privacy switches ``hello`` reports (the snapshots are already built under
            them); replace it when they change, then send :meth:`hello`.
        source: the source spec, for ``hello``.
        session_id: defaults to a random hex id.
        interval: seconds between ``audience`` snapshots. Shorter is livelier and costs
            every client more messages; 0.25 s gives 4 Hz, above the 2 Hz target.
        low_attention: room ``attention_pct`` below which attention counts as low.
        low_for: seconds it must stay low before one ``attention_low`` alert (per episode;
            the episode ends when it is back at or above ``low_attention``). Shorter warns
            sooner and more often, about glances at notes too. The session report marks the
            same moments (:data:`vcam.records.LOW_ATTENTION_PCT`, :data:`~vcam.records.LOW_FOR_S`).
        status_interval: seconds between ``status`` events that differ only in ``stage_errors``.
            While a stage fails on every frame the count rises at the frame rate; shorter shows
            it sooner and sends every client more messages. Any other change goes out at once.
        started, started_at: the session's start as ``time.monotonic()`` and unix seconds.
    """

    def __init__(self, features: tuple[str, ...] = ("gaze",), privacy: Privacy | None = None, *,
                 source: str = "", session_id: str | None = None, interval: float = 0.25,
                 low_attention: float = LOW_ATTENTION_PCT, low_for: float = LOW_FOR_S,
                 started: float | None = None, started_at: float | None = None,
                 status_interval: float = 1.0) -> None:
        self.privacy, self.source = privacy or Privacy(), source
        self.session_id = session_id or secrets.token_hex(8)
        self.interval, self.low_attention, self.low_for = interval, low_attention, low_for
        self.started = time.monotonic() if started is None else started
        self.started_at = time.time() if started_at is None else started_at
        self.features = tuple(features)
        self._hello_features: tuple[str, ...] | None = None
        self._last_snapshot: float | None = None
        self._low_since: float | None = None
        self._low_fired = False
        self.status_interval = status_interval
        self._status: dict | None = None  # the last status event returned

    def hello(self) -> dict:
        """The ``hello`` event for the features published now."""
        self._hello_features = self.features
        on = {name: name in self.features and not (name == "emotion" and self.privacy.eu_mode) for name in ANALYSIS}
        switches = {name: bool(getattr(self.privacy, name)) for name in ANNOUNCED if name not in ANALYSIS}
        return hello(self.session_id, self.started_at, self.source, {**on, **switches})

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

    def on_snapshot(self, snapshot: Snapshot) -> list[dict]:
        """Events for one snapshot, in order: a ``hello`` if features changed, alerts, an ``audience`` when due."""
        t = snapshot.captured - self.started
        self.features = snapshot.features
        events = [self.hello()] if self.features != self._hello_features else []
        events += [self._presence_alert(t, change) for change in snapshot.presence]
        events += self._attention_alert(t, snapshot.room)
        if self._last_snapshot is None or t - self._last_snapshot >= self.interval:
            self._last_snapshot = t
            events.append(self._audience(t, snapshot))
        return events

    def _audience(self, t: float, snapshot: Snapshot) -> dict:
        captured_at = self.started_at + (snapshot.captured - self.started)
        room = snapshot.room.published() if snapshot.room is not None else None
        people = [person_event(p, snapshot.weights_of(p)) for p in snapshot.people]
        return audience(t, snapshot.frame_index, captured_at, room, people, snapshot.camera_off)

    @staticmethod
    def _presence_alert(t: float, change: Presence) -> dict:
        kind = "person_arrived" if change.kind == "arrived" else "person_left"
        if change.track_id is None:
            return alert(t, kind, f"someone {change.kind}")
        who = change.name or f"person {change.track_id}"
        return alert(t, kind, f"{who} {change.kind}", change.track_id)

    def _attention_alert(self, t: float, room: Room | None) -> list[dict]:
        """One ``attention_low`` alert per episode of the room below ``low_attention`` for ``low_for`` s."""
        pct = room.attention_pct if room is not None else None
        if pct is None or pct >= self.low_attention:
            self._low_since, self._low_fired = None, False
            return []
        if self._low_since is None:
            self._low_since = t
        if self._low_fired or t - self._low_since < self.low_for:
            return []
        self._low_fired = True
        return [alert(t, "attention_low", f"attention has been below {self.low_attention:.0f}% for "
                                          f"{self.low_for:.0f} s ({pct:.0f}% now)")]
