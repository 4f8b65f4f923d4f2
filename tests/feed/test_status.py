"""The ``status`` event: the daemon's health, validated by the committed schema, sent only when it changes."""

from __future__ import annotations

import json

import jsonschema
import pytest

from vcam.feed import FeedBuilder, validate
from vcam.feed.events import SCHEMA_VERSION, STATES, status

LOST = "camera 0 stopped sending frames; retrying in 4 s"


def builder(**kwargs) -> FeedBuilder:
    return FeedBuilder(source="webcam:0", session_id="s1", started=1000.0, started_at=1_764_300_000.0, **kwargs)


def through_json(event: dict | None) -> dict | None:
    """``event`` after a JSON round trip, checked against the schema (None passes through)."""
    if event is None:
        return None
    event = json.loads(json.dumps(event, allow_nan=False))
    validate(event)
    return event


@pytest.mark.parametrize("state", STATES)
def test_every_state_round_trips_through_json_and_the_schema(state):
    event = through_json(status(12.3456, state, "clip.mp4", source_lost=2, stage_errors=5,
                                message=None if state == "running" else "something happened"))
    assert event == {"type": "status", "schema_version": SCHEMA_VERSION, "t": 12.346, "state": state,
                     "source": "clip.mp4", "source_lost": 2, "stage_errors": 5,
                     "message": None if state == "running" else "something happened"}


def test_a_multi_line_message_becomes_one_line():
    event = status(1.0, "source_lost", "webcam:0", source_lost=1, stage_errors=0,
                   message="camera 0 stopped sending frames:\n  read failed\r\n retrying in 1 s")
    assert through_json(event)["message"] == "camera 0 stopped sending frames: read failed retrying in 1 s"
    assert status(1.0, "paused", "demo", source_lost=0, stage_errors=0, message=" \n")["message"] is None


def test_an_unknown_state_or_a_negative_count_is_refused_by_the_function_and_the_schema():
    with pytest.raises(ValueError, match="one of running, paused, source_lost, ended, got 'crashed'"):
        status(1.0, "crashed", "demo", source_lost=0, stage_errors=0, message=None)
    with pytest.raises(ValueError, match="stage_errors=-1"):
        status(1.0, "running", "demo", source_lost=0, stage_errors=-1, message=None)
    good = status(1.0, "running", "demo", source_lost=0, stage_errors=0, message=None)
    for broken in ({**good, "state": "crashed"}, {**good, "source_lost": -1}, {**good, "stage_errors": 1.5},
                   {**good, "message": "two\nlines"}, {**good, "extra": 1}, {**good, "schema_version": "1.0"}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)
    missing = dict(good)
    del missing["message"]
    with pytest.raises(jsonschema.ValidationError):
        validate(missing)


def test_the_builder_returns_a_status_only_when_something_but_t_changed():
    b = builder()
    first = through_json(b.status(0.0, "running", "webcam:0", 0, 0, None))
    assert first["state"] == "running" and first["t"] == 0.0
    assert [b.status(t, "running", "webcam:0", 0, 0, None) for t in (0.1, 0.2, 5.0)] == [None] * 3
    lost = through_json(b.status(5.1, "source_lost", "webcam:0", 1, 0, LOST))
    assert lost["state"] == "source_lost" and lost["source_lost"] == 1 and lost["message"] == LOST
    assert b.status(5.6, "source_lost", "webcam:0", 1, 0, LOST) is None, "the same lost-source tick again"
    retry = b.status(6.0, "source_lost", "webcam:0", 1, 0, LOST.replace("4 s", "8 s"))
    assert retry is not None and retry["message"].endswith("retrying in 8 s")
    back = through_json(b.status(9.0, "running", "webcam:0", 1, 0, None))
    assert back["state"] == "running" and back["message"] is None and back["source_lost"] == 1
    assert through_json(b.status(9.1, "running", "demo", 1, 0, None))["source"] == "demo"
    assert through_json(b.status(9.2, "paused", "demo", 1, 0, None))["state"] == "paused"


def test_a_rising_stage_error_count_is_sent_at_most_every_status_interval_and_never_lost():
    b = builder(status_interval=1.0)
    assert b.status(0.0, "running", "demo", 0, 0, None) is not None
    sent = [e for i in range(1, 61) if (e := b.status(i / 30, "running", "demo", 0, i, None)) is not None]
    assert [e["stage_errors"] for e in sent] == [30, 60], "a stage failing on every frame: one event a second"
    assert b.status(2.5, "running", "demo", 0, 60, None) is None
    assert b.status(3.5, "running", "demo", 0, 61, None)["stage_errors"] == 61, "a lone error goes out once due"
    assert b.status(3.6, "running", "demo", 0, 62, None) is None
    held = b.status(3.7, "paused", "demo", 0, 62, None)
    assert held["state"] == "paused" and held["stage_errors"] == 62, "any other change goes out at once, with the count"
