"""vcam.records: one Person and one Room per analysis, privacy applied once, and every writer (the feed, the
session timeline, the analyze JSON, the report) showing the same value under the same name."""

from __future__ import annotations

import csv
import dataclasses
import json
import re

import numpy as np
import pytest

from vcam.analyze import frame_record
from vcam.feed import FeedBuilder, validate
from vcam.pipeline.engagement import Engagement
from vcam.records import (LOW_ATTENTION_PCT, LOW_FOR_S, SPECS, Person, Privacy, Records, person, published, room_of)
from vcam.session import Recorder, write_report
from vcam.types import EMOTIONS, Analysis, Faces, Frame

FRAME = np.zeros((8, 8, 3), np.uint8)
NAMES = np.array(["Ada", "Ben", None, "Dee", "Eve", None], object)


def probs(top: str, p: float) -> np.ndarray:
    row = np.full(len(EMOTIONS), (1 - p) / (len(EMOTIONS) - 1), np.float32)
    row[EMOTIONS.index(top)] = p
    return row


def meeting(t: float, n: int = 6) -> Faces:
    """``n`` people as the stages before engagement leave them: from 12 s to 30 s all but one look away."""
    away = 12 <= t < 30
    on = np.array([i == 0 or (not away and (i + int(t)) % 5 != 0) for i in range(n)])
    tops = ["happy", "neutral", "surprise", "sad", "neutral", "angry"]
    emotion = np.stack([probs(tops[(i + int(t // 7)) % 6], 0.55 + 0.05 * i) for i in range(n)])
    return Faces.from_boxes(np.array([[20 + 100 * i, 40, 80, 90] for i in range(n)], np.float32)).replace(
        track_id=np.arange(1, n + 1), on_screen=on, on_screen_conf=np.linspace(0.5, 0.9, n, dtype=np.float32),
        name=NAMES[:n], identity_distance=np.linspace(0.3, 0.7, n, dtype=np.float32),
        pose=np.stack([[3.0 * i - 5 + t % 3, -2.0 + i, 0.5 * i] for i in range(n)]).astype(np.float32),
        gaze=np.stack([[0.45 + 0.02 * i, 0.5 - 0.01 * i] for i in range(n)]).astype(np.float32),
        emotion=emotion, valence=np.linspace(-0.4, 0.5, n, dtype=np.float32),
        arousal=np.linspace(0.1, 0.3, n, dtype=np.float32))


def analyses(seconds: float = 45.0, hz: float = 10.0,
             features: tuple[str, ...] = ("gaze", "identity", "emotion")) -> list[Analysis]:
    """A session as the analyzer makes it: each frame scored by one engagement stage."""
    stage, out = Engagement(), []
    for i in range(int(seconds * hz)):
        t = i / hz
        faces = stage(Frame(FRAME, i, t), meeting(t))
        out.append(Analysis(i, t, (1280, 720), faces, captured=500.0 + t, finished=500.03 + t, features=features,
                            engagement_weights=stage.weights(True)))
    return out


# -- where each writer puts each Person field (the contracts, written out independently of the code) ---------
FEED_PATHS = {"emotion": ("emotion", "label"), "emotion_confidence": ("emotion", "confidence"),
              "expression": ("components", "expression")}
TIMELINE_COLUMNS = {"valence": "valence_est", "arousal": "arousal_est"}
FACE_PATHS = {"name": ("identity", "name"), "identity_distance": ("identity", "distance"),
              "looking": ("gaze", "on_screen"), "looking_confidence": ("gaze", "confidence"),
              "h_ratio": ("gaze", "h_ratio"), "v_ratio": ("gaze", "v_ratio"), "yaw": ("head_pose", "yaw"),
              "pitch": ("head_pose", "pitch"), "roll": ("head_pose", "roll"), "emotion": ("emotion", "label"),
              "valence": ("emotion", "valence"), "arousal": ("emotion", "arousal")}


def dig(document: dict, path: tuple[str, ...]) -> object:
    for key in path:
        document = document[key]
    return document


def cell(row: dict[str, str], key: str) -> object:
    """A timeline CSV cell read back as the Person field's value."""
    text = row[TIMELINE_COLUMNS.get(key, key)]
    kind = SPECS[key].kind
    if text == "":
        return None
    if kind == "string":
        return text
    return bool(int(text)) if kind == "boolean" else int(text) if kind == "integer" else float(text)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One session through every writer: feed events, a recorded folder, the analyze frames, the report."""
    folder = tmp_path_factory.mktemp("session") / "s"
    records, feed = Records(), FeedBuilder(("gaze", "identity", "emotion"), started=500.0, started_at=1.7e9)
    events, frames = [], []
    with Recorder(folder, features=("gaze", "identity", "emotion")) as recorder:
        for analysis in analyses():
            snapshot = records.build(analysis)
            events += feed.on_snapshot(snapshot)
            recorder.on_snapshot(snapshot)
            frames.append(frame_record(snapshot))
    for event in events:
        validate(json.loads(json.dumps(event, allow_nan=False)))
    report = write_report(folder, folder.parent / "report.html").read_text()
    with open(folder / "timeline.csv", newline="") as f:
        timeline = list(csv.DictReader(f))
    with open(folder / "room.csv", newline="") as f:
        room = list(csv.DictReader(f))
    jsonl = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    return events, frames, timeline, jsonl, room, report


def test_every_person_field_has_the_same_value_in_the_feed_the_timeline_and_the_analyze_json(written):
    events, frames, timeline, jsonl, _, _ = written
    audiences = [e for e in events if e["type"] == "audience"]
    assert len(audiences) > 100 and len(timeline) == 45 * 6
    compared = 0
    for snap in audiences:
        frame = frames[snap["frame_index"]]
        faces = {f["track_id"]: f for f in frame["faces"]}
        for entry in snap["people"]:
            face = faces[entry["track_id"]]
            for key in published():
                in_feed = dig(entry, FEED_PATHS.get(key, (key,)))
                assert dig(face, FACE_PATHS.get(key, (key,))) == in_feed, f"{key} of {entry['track_id']}"
                compared += 1
    assert compared == len(audiences) * 6 * len(published())
    for row, obj in zip(timeline, jsonl):
        frame = frames[round(float(row["t"]) * 10)]
        face = next(f for f in frame["faces"] if f["track_id"] == int(row["track_id"]))
        for key in published():
            assert cell(row, key) == dig(face, FACE_PATHS.get(key, (key,))), f"{key} at {row['t']}"
            assert obj[TIMELINE_COLUMNS.get(key, key)] == cell(row, key)


def test_the_room_has_one_attention_in_the_feed_the_timeline_and_the_analyze_json(written):
    events, frames, timeline, _, room, _ = written
    for snap in (e for e in events if e["type"] == "audience"):
        assert frames[snap["frame_index"]]["room"] == snap["room"]
    for row in room:
        frame = frames[round(float(row["t"]) * 10)]
        assert float(row["attention_pct"]) == frame["room"]["attention_pct"]
        assert int(row["attending"]) == frame["room"]["attending"] == sum(f["gaze"]["on_screen"] for f in frame["faces"])
        people = [f["attention"] for f in frame["faces"]]
        assert frame["room"]["attention_pct"] == pytest.approx(100 * sum(people) / len(people), abs=0.06), \
            "the room's attention is the mean of the people's"


def test_the_dashboards_low_attention_alert_and_the_reports_moment_are_the_same_moment(written):
    events, _, _, _, room, report = written
    alerts = [e for e in events if e["type"] == "alert" and e["kind"] == "attention_low"]
    moments = re.findall(r"<tr><td>(\d+):(\d\d)</td><td>(\d+):(\d\d)</td>", report)
    assert len(alerts) == len(moments) == 1
    start = int(moments[0][0]) * 60 + int(moments[0][1])
    first_low = next(float(r["t"]) for r in room if float(r["attention_pct"]) < LOW_ATTENTION_PCT)
    assert start == first_low
    assert alerts[0]["t"] == pytest.approx(start + LOW_FOR_S, abs=1.0), "the alert comes LOW_FOR_S into the moment"


def test_a_person_field_of_a_feature_that_was_off_is_none():
    faces = meeting(3.0)
    assert person(faces, 0, ("gaze",)).name is None and person(faces, 0, ("gaze", "identity")).name == "Ada"
    off = person(faces, 0, ())
    assert off.attention is off.looking is off.emotion is off.valence is off.h_ratio is None
    assert off.yaw == pytest.approx(faces.pose[0, 0], abs=0.05), "head pose needs no feature"
    assert off.track_id == 1 and off.bbox == (20.0, 40.0, 80.0, 90.0)


def test_numbers_are_rounded_once_and_nan_is_none():
    faces = meeting(0.0).replace(valence=np.float32([0.123456, np.nan, 0, 0, 0, 0]))
    assert person(faces, 0, ("emotion",)).valence == 0.123
    assert person(faces, 1, ("emotion",)).valence is None


def test_valence_and_arousal_need_a_classified_expression():
    faces = meeting(0.0).replace(emotion=np.full((6, 7), np.nan, np.float32))
    p = person(faces, 0, ("emotion",))
    assert p.emotion is p.emotion_confidence is p.valence is p.arousal is p.emotion_probs is None


def test_eu_mode_hides_emotion_and_engagement_falls_back_to_attention():
    analysis = analyses(seconds=1.0)[-1]
    snapshot = Records(Privacy(eu_mode=True)).build(analysis)
    assert "emotion" not in snapshot.features and snapshot.room.emotions is None
    for p in snapshot.people:
        assert p.emotion is p.expression is p.valence is None and p.engagement == p.attention
        assert snapshot.weights_of(p) == (1.0, 0.0)


def test_aggregate_only_shows_no_person_and_no_room_under_three():
    records = Records(Privacy(aggregate_only=True), arrive_after=0.0)
    two = dataclasses.replace(analyses(seconds=0.2)[0], faces=meeting(0.0, n=2))
    hidden = records.build(two)
    assert hidden.people == () and hidden.room is None and hidden.presence == ()
    shown = records.build(dataclasses.replace(two, t=0.1, faces=meeting(0.1, n=4)))
    assert shown.people == () and shown.room.people == 4
    assert shown.presence and all(p.track_id is None and p.name is None for p in shown.presence)


def test_presence_reports_arrivals_and_departures_and_forgets_people_long_gone():
    records = Records(arrive_after=1.0, left_after=3.0)
    changes = []
    for i in range(300):
        faces = meeting(0.0, n=3).replace(track_id=np.array([1, i + 1000, i + 2000]))
        changes += records.build(Analysis(i, i / 10, (64, 64), faces, 0.0, 0.0, features=("identity",))).presence
    assert changes[0].kind == "arrived" and changes[0].track_id == 1 and changes[0].name == "Ada"
    assert all(c.track_id == 1 for c in changes), "people seen for 0.1 s neither arrive nor leave"
    assert len(records._seen) <= 1 + 2 * 31, "tracks gone for 3 s are forgotten"


def test_the_session_clock_keeps_running_when_the_source_restarts_its_clock():
    records = Records()
    times = [records.build(Analysis(i, t, (64, 64), Faces.empty(), 0.0, 0.0)).t
             for i, t in enumerate([10.0, 10.5, 0.0, 0.5])]
    assert times == [10.0, 10.5, 10.5, 11.0]


def test_room_totals_count_people_and_average_attention_and_engagement():
    faces = analyses(seconds=2.0)[-1].faces
    room = room_of(faces, ("gaze", "emotion"))
    assert room.people == 6 and room.looking == int(faces.on_screen.sum())
    assert room.attention == pytest.approx(float(faces.attention.mean()), abs=1e-4)
    assert room.engagement == pytest.approx(float(faces.engagement.mean()), abs=1e-4)
    assert sum(room.emotions.values()) == pytest.approx(1.0, abs=0.01) and set(room.emotions) == set(EMOTIONS)
    assert room_of(faces, ("gaze",)).emotions is None
    empty = room_of(Faces.empty(), ("gaze",))
    assert (empty.people, empty.looking, empty.attention, empty.attention_pct) == (0, 0, None, None)


def test_every_published_field_reaches_both_json_schemas_and_the_timeline_columns():
    from vcam.feed import schema
    from vcam.schemas import ANALYZE, stale
    from vcam.session import TIMELINE_COLUMNS as COLUMNS

    assert stale() == [], "run python -m vcam.schemas"
    feed_person = schema()["$defs"]["person"]["properties"]
    analyze = json.loads(ANALYZE.read_text())
    face = analyze["$defs"]["face"]["properties"]
    for key in published():
        assert FEED_PATHS.get(key, (key,))[0] in feed_person
        assert FACE_PATHS.get(key, (key,))[0] in face
        assert TIMELINE_COLUMNS.get(key, key) in COLUMNS


def test_person_value_names_the_fields_when_asked_for_an_unknown_one():
    with pytest.raises(KeyError, match="attention"):
        Person().value("attentoin")


def gallery_analysis(features: tuple[str, ...], t: float = 0.0) -> Analysis:
    """Four meeting tiles: two people with their cameras on (named by their tiles), two cameras off."""
    from vcam.types import Layout

    layout = Layout.of("grid", [[0, 0, 100, 60], [110, 0, 100, 60], [0, 70, 100, 60], [110, 70, 100, 60]])
    layout = layout.replace(participant=np.array(["José Álvarez", "Zoë", "Łukasz", None], object),
                            camera_off=np.array([False, False, True, True]))
    faces = Faces.from_boxes(np.array([[30, 10, 40, 40], [140, 10, 40, 40]], np.float32)).replace(
        track_id=np.array([1, 2]), on_screen=np.array([True, False]), tile=np.array([0, 1]),
        participant=np.array(["José Álvarez", "Zoë"], object), attention=np.array([1.0, 0.0], np.float32))
    return Analysis(0, t, (220, 130), faces, captured=t, finished=t, features=features, layout=layout)


def test_people_carry_their_tile_s_name_and_camera_off_tiles_are_counted_apart_not_as_looking_away():
    snapshot = Records().build(gallery_analysis(("gaze", "names")))
    assert [(p.participant, p.tile, p.looking) for p in snapshot.people] == [("José Álvarez", 0, True),
                                                                           ("Zoë", 1, False)]
    assert snapshot.room.people == 2 and snapshot.room.camera_off == 2 and snapshot.room.attention_pct == 50.0
    assert snapshot.camera_off == ("Łukasz", None)
    event = FeedBuilder(("gaze", "names")).on_snapshot(snapshot)[-1]
    validate(event)
    assert event["camera_off"] == ["Łukasz", None] and event["room"]["camera_off"] == 2
    assert (event["room"]["layout"], event["room"]["tiles"]) == ("grid", 4)
    assert [p["participant"] for p in event["people"]] == ["José Álvarez", "Zoë"]
    outside = Records().build(dataclasses.replace(gallery_analysis(("gaze", "names")), layout=None)).room
    assert (outside.camera_off, outside.layout, outside.tiles) == (None, None, None)


def test_with_name_reading_off_or_in_aggregate_only_mode_no_participant_name_is_published():
    off = Records().build(gallery_analysis(("gaze",)))
    assert [p.participant for p in off.people] == [None, None] and off.camera_off == (None, None)
    hidden = Records(Privacy(aggregate_only=True, min_group=2)).build(gallery_analysis(("gaze", "names")))
    assert hidden.people == () and hidden.camera_off == () and hidden.room.camera_off == 2


def test_an_arrival_is_told_by_the_participant_name_when_nobody_is_enrolled():
    records = Records(arrive_after=1.0)
    records.build(gallery_analysis(("gaze", "names"), 0.0))
    arrived = records.build(gallery_analysis(("gaze", "names"), 1.0)).presence
    assert [(p.kind, p.name) for p in arrived] == [("arrived", "José Álvarez"), ("arrived", "Zoë")]
