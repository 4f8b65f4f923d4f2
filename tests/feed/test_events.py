"""Feed events: built from real-looking analyses (scored and made private by vcam.records as in the daemon),
validated by the committed schema."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import numpy as np
import pytest

from vcam.feed import SCHEMA_PATH, SCHEMA_VERSION, FeedBuilder, schema, validate
from vcam.feed.events import alert, hello
from vcam.pipeline.engagement import Engagement
from vcam.records import Privacy, Records
from vcam.types import EMOTIONS, Analysis, Faces, Frame

NAMES = ["Grace Hopper", None, "Barack Obama", None, "Joe Biden"]


def probs(top: str, p: float) -> np.ndarray:
    row = np.full(len(EMOTIONS), (1 - p) / (len(EMOTIONS) - 1), np.float32)
    row[EMOTIONS.index(top)] = p
    return row


def people(n: int, on: list[bool] | None = None, ids: list[int] | None = None, emotion: bool = True) -> Faces:
    """``n`` faces as the analyzer leaves them: tracked, gaze judged, named, emotions estimated."""
    ids = ids if ids is not None else list(range(1, n + 1))
    boxes = np.array([[40 + 150 * i, 60, 120, 140] for i in range(n)], np.float32).reshape(-1, 4)
    out = Faces.from_boxes(boxes, np.full(n, 0.93, np.float32)).replace(
        track_id=np.array(ids, np.int64).reshape(-1),
        pose=np.tile(np.array([[4.0, -3.0, 1.0]], np.float32), (n, 1)),
        on_screen=np.array(on if on is not None else [i % 3 != 2 for i in range(n)], bool).reshape(-1),
        on_screen_conf=np.full(n, 0.8, np.float32),
        name=np.array([NAMES[i % len(NAMES)] for i in range(n)], object).reshape(-1))
    if emotion:
        labels = ["happy", "neutral", "surprise", "sad", "neutral"]
        out = out.replace(emotion=np.stack([probs(labels[i % 5], 0.7) for i in range(n)]).reshape(-1, 7),
                          valence=np.linspace(-0.3, 0.6, n, dtype=np.float32),
                          arousal=np.linspace(0.1, 0.4, n, dtype=np.float32))
    return out


def analysis(t: float, faces: Faces, features: tuple[str, ...] = ("gaze", "identity", "emotion")) -> Analysis:
    return Analysis(int(t * 30), t, (1280, 720), faces, captured=1000.0 + t, finished=1000.0 + t + 0.03,
                    timings={"detect": 5.0}, features=features)


def builder(**kwargs) -> FeedBuilder:
    kwargs.setdefault("features", ("gaze", "identity", "emotion"))
    return FeedBuilder(source="demo", session_id="s1", started=1000.0, started_at=1_764_300_000.0, **kwargs)


def feed(b: FeedBuilder, frames: list[Analysis], *, engagement: Engagement | None = None,
         arrive_after: float = 1.0) -> list[dict]:
    """Every event for ``frames`` as the daemon makes them: each analysis scored by the analyzer's engagement
    stage (while gaze is on), then made a snapshot under the builder's privacy; each event is checked against
    the schema and through JSON."""
    engagement = engagement or Engagement()
    records = Records(b.privacy, arrive_after=arrive_after)
    events = []
    for a in frames:
        if "gaze" in a.features:
            a = dataclasses.replace(a, faces=engagement(Frame(FRAME, a.frame_index, a.t), a.faces),
                                    engagement_weights=engagement.weights(True))
        events += b.on_snapshot(records.build(a))
    for event in events:
        validate(json.loads(json.dumps(event, allow_nan=False)))
    return events


FRAME = np.zeros((8, 8, 3), np.uint8)


def of(events: list[dict], type_: str, kind: str | None = None) -> list[dict]:
    return [e for e in events if e["type"] == type_ and (kind is None or e["kind"] == kind)]


def test_the_schema_file_is_a_valid_draft_2020_12_schema_of_the_current_version():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert SCHEMA_PATH.name == "schema.json" and SCHEMA_VERSION == "1.5"
    assert schema()["$defs"]["version"] == {"const": SCHEMA_VERSION} and schema()["$id"].endswith("/" + SCHEMA_VERSION)
    assert [ref["$ref"] for ref in schema()["oneOf"]] == ["#/$defs/hello", "#/$defs/audience", "#/$defs/alert",
                                                          "#/$defs/status"]


def test_hello_names_the_session_and_the_features_on():
    event = builder(privacy=Privacy(eu_mode=True)).hello()
    validate(event)
    assert event["session_id"] == "s1" and event["started_at"] == 1_764_300_000.0 and event["source"] == "demo"
    assert event["features"] == {"gaze": True, "names": False, "identity": True, "emotion": False, "aggregate_only": False,
                                 "eu_mode": True}


def test_every_event_type_from_a_real_looking_session_validates():
    frames = [analysis(i / 10, people(5)) for i in range(60)] + [analysis(6 + i / 10, people(3)) for i in range(40)]
    events = feed(builder(low_for=2.0, low_attention=90.0), frames)
    assert {e["type"] for e in events} == {"hello", "audience", "alert"}
    assert {e["kind"] for e in of(events, "alert")} == {"attention_low", "person_arrived", "person_left"}


def test_a_snapshot_carries_each_person_and_the_room():
    events = feed(builder(), [analysis(0.0, people(5))])
    assert [e["type"] for e in events] == ["hello", "audience"]
    snap = events[1]
    assert snap["t"] == 0.0 and snap["frame_index"] == 0 and snap["captured_at"] == pytest.approx(1_764_300_000.0)
    assert [p["name"] for p in snap["people"]] == NAMES
    first = snap["people"][0]
    assert first["emotion"] == {"label": "happy", "confidence": 0.7} and first["estimated"] is True
    assert first["looking"] is True and first["attention"] == 1.0 and first["valence"] == pytest.approx(-0.3)
    assert snap["room"]["people"] == 5 and snap["room"]["attending"] == 4
    assert snap["room"]["emotions"]["neutral"] == pytest.approx(0.4)


def test_captured_at_is_the_wall_time_of_capture():
    events = feed(builder(), [analysis(0.0, people(1)), analysis(2.5, people(1))])
    assert of(events, "audience")[-1]["captured_at"] == pytest.approx(1_764_300_002.5)
    assert of(events, "audience")[-1]["t"] == 2.5


def test_engagement_components_and_weights_are_published_and_add_up():
    snap = of(feed(builder(), [analysis(0.0, people(5))]), "audience")[0]
    for p in snap["people"]:
        c = p["components"]
        assert c["weights"] == {"attention": 0.75, "expression": 0.25}
        assert p["engagement"] == pytest.approx(0.75 * c["attention"] + 0.25 * c["expression"], abs=2e-3)


def test_without_emotion_engagement_is_renormalised_to_attention():
    snap = of(feed(builder(features=("gaze",)), [analysis(0.0, people(3, emotion=False), ("gaze",))]), "audience")[0]
    for p in snap["people"]:
        assert p["components"]["expression"] is None and p["emotion"] is None and p["valence"] is None
        assert p["components"]["weights"] == {"attention": 1.0, "expression": 0.0}
        assert p["engagement"] == p["attention"]
    assert snap["room"]["emotions"] is None


def test_the_feed_publishes_the_weights_the_analyzers_engagement_stage_used():
    stage = Engagement(w_attention=0.5, w_expression=0.5)
    snap = of(feed(builder(), [analysis(0.0, people(2))], engagement=stage), "audience")[0]
    assert snap["people"][0]["components"]["weights"] == {"attention": 0.5, "expression": 0.5}
    expression = 1 - 0.3 / 6  # happy at 0.7, the rest (neutral too) at 0.05
    assert snap["people"][0]["engagement"] == pytest.approx(0.5 * 1.0 + 0.5 * expression, abs=1e-3)


def test_names_appear_only_while_identity_is_on():
    snap = of(feed(builder(), [analysis(0.0, people(5), ("gaze", "emotion"))]), "audience")[0]
    assert all(p["name"] is None for p in snap["people"])
    assert "Grace" not in json.dumps(snap)


def test_eu_mode_never_publishes_emotion_even_if_the_analysis_carries_it():
    snap = of(feed(builder(privacy=Privacy(eu_mode=True)), [analysis(0.0, people(4))]), "audience")[0]
    assert snap["room"]["emotions"] is None
    assert all(p["emotion"] is None and p["valence"] is None and p["arousal"] is None for p in snap["people"])


def test_without_gaze_attention_is_unknown_not_zero():
    events = feed(builder(low_for=0.5), [analysis(i / 10, people(3), ("identity",)) for i in range(20)])
    snap = of(events, "audience")[0]
    assert snap["room"]["attention_pct"] is None and snap["room"]["attending"] is None
    assert all(p["attention"] is None and p["looking"] is None and p["engagement"] is None for p in snap["people"])
    assert not of(events, "alert", "attention_low")


def test_switching_a_feature_sends_a_new_hello():
    b = builder(features=("gaze",))
    events = feed(b, [analysis(0.0, people(2), ("gaze",)), analysis(0.1, people(2), ("gaze",)),
                      analysis(0.2, people(2), ("gaze", "emotion"))])
    hellos = of(events, "hello")
    assert [h["features"]["emotion"] for h in hellos] == [False, True]


def test_snapshots_come_at_most_every_interval():
    events = feed(builder(), [analysis(i / 30, people(2)) for i in range(60)])  # 2 s at 30 fps
    times = [e["t"] for e in of(events, "audience")]
    assert len(times) == 8 and min(np.diff(times)) >= 0.25 - 1e-6


def test_aggregate_only_never_carries_a_name_or_track_id_and_hides_rooms_under_three():
    b = builder(privacy=Privacy(aggregate_only=True))
    frames = ([analysis(i / 10, people(2)) for i in range(10)] + [analysis(1 + i / 10, people(4)) for i in range(50)]
              + [analysis(6 + i / 10, people(3)) for i in range(50)])
    events = feed(b, frames, arrive_after=0.0)
    snaps = of(events, "audience")
    assert all(s["people"] == [] for s in snaps)
    assert all(s["room"] is None for s in snaps if s["t"] < 1.0)
    assert all(s["room"]["people"] >= 3 for s in snaps if s["t"] >= 1.0)
    alerts = of(events, "alert")
    assert of(events, "alert", "person_arrived") and of(events, "alert", "person_left")
    assert all(a["track_id"] is None for a in alerts)
    text = json.dumps(events)
    assert not any(name in text for name in NAMES if name) and "track_id\": 1" not in text
    assert of(events, "hello")[0]["features"]["aggregate_only"] is True


def test_aggregate_only_holds_back_person_alerts_while_the_room_is_hidden():
    events = feed(builder(privacy=Privacy(aggregate_only=True)), [analysis(i / 10, people(2)) for i in range(50)]
                  + [analysis(5 + i / 10, people(1)) for i in range(50)], arrive_after=0.0)
    assert not of(events, "alert")


def test_attention_low_fires_once_per_episode():
    away = [False] * 4
    frames = ([analysis(i / 10, people(4, on=away)) for i in range(300)]                  # 30 s away
              + [analysis(30 + i / 10, people(4, on=[True] * 4)) for i in range(200)]      # 20 s back
              + [analysis(50 + i / 10, people(4, on=away)) for i in range(200)])          # 20 s away
    lows = of(feed(builder(), frames), "alert", "attention_low")
    # attention is a 10 s share: it falls below 50 % 5 s after looking away, and alerts 10 s later
    assert [round(a["t"]) for a in lows] == [10, 65], "one alert per episode"
    assert lows[0]["track_id"] is None and "50%" in lows[0]["message"]


def test_a_dip_below_the_threshold_shorter_than_low_for_does_not_alert():
    """30 s looking, 8 s away, 20 s looking: the room is below 50 % from 35 s to 43 s only."""
    frames = [analysis(i / 10, people(4, on=[not 300 <= i < 380] * 4)) for i in range(580)]
    events = feed(builder(), frames)
    assert min(s["room"]["attention_pct"] for s in of(events, "audience")) < 30
    assert not of(events, "alert", "attention_low")


def test_arrivals_and_departures_follow_track_ids():
    frames = ([analysis(i / 10, people(2, ids=[1, 2])) for i in range(20)]
              + [analysis(2 + i / 10, people(1, ids=[1])) for i in range(50)]
              + [analysis(7 + i / 10, people(2, ids=[1, 3])) for i in range(20)])
    events = feed(builder(), frames)
    arrived = [(a["track_id"], round(a["t"], 1)) for a in of(events, "alert", "person_arrived")]
    left = [(a["track_id"], round(a["t"], 1)) for a in of(events, "alert", "person_left")]
    assert arrived == [(1, 1.0), (2, 1.0), (3, 8.0)]
    assert left == [(2, 5.0)], "track 2 was last seen at 1.9 s and has left once gone over 3 s"
    assert of(events, "alert", "person_left")[0]["message"] == "person 2 left"
    assert of(events, "alert", "person_arrived")[0]["message"] == "Grace Hopper arrived"


def test_a_track_seen_for_less_than_arrive_after_neither_arrives_nor_leaves():
    frames = [analysis(i / 10, people(2, ids=[1, 9]) if i < 3 else people(1, ids=[1])) for i in range(80)]
    events = feed(builder(), frames)
    assert [a["track_id"] for a in of(events, "alert")] == [1]




def test_the_schema_rejects_events_that_break_the_contract():
    good = of(feed(builder(), [analysis(0.0, people(1))]), "audience")[0]
    broken = json.loads(json.dumps(good))
    del broken["people"][0]["estimated"]
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate({**good, "schema_version": "0.9"})
    with pytest.raises(jsonschema.ValidationError):
        validate({**alert(1.0, "attention_low", "x"), "kind": "bored"})
    with pytest.raises(ValueError, match="bored"):
        alert(1.0, "bored", "x")
    validate(hello("s", 0.0, "demo", {"gaze": True}))
