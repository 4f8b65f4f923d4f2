"""The session recorder writes real files, survives SIGKILL, and reads back what it wrote."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vcam.errors import ConfigError, VcamError
from vcam.records import Privacy, Records
from vcam.session import (ROOM_COLUMNS, TIMELINE_COLUMNS, Recorder, SessionError, load_session, new_session_dir,
                          write_report)
from vcam.types import EMOTIONS, Analysis, Faces, Layout


def make_faces(i: int, n: int = 3, *, names: tuple[str | None, ...] = ("Ada", "Ben", None)) -> Faces:
    """``n`` tracked faces (ids 1..n) whose gaze and emotion change with ``i``."""
    emotion = np.zeros((n, len(EMOTIONS)), np.float32)
    emotion[np.arange(n), (np.arange(n) + i // 10) % len(EMOTIONS)] = 0.7
    emotion += 0.3 / len(EMOTIONS)
    on = (np.arange(n) + i // 10) % 3 != 0
    return Faces.from_boxes(np.tile(np.float32([10, 10, 50, 50]), (n, 1))).replace(
        track_id=np.arange(1, n + 1), on_screen=on, name=np.array(list(names[:n]), object),
        emotion=emotion, valence=np.full(n, 0.2, np.float32), arousal=np.full(n, -0.1, np.float32),
        attention=np.linspace(0.2, 0.9, n, dtype=np.float32), engagement=np.linspace(0.3, 0.8, n, dtype=np.float32))


def analysis(i: int, t: float, faces: Faces, features=("gaze", "emotion")) -> Analysis:
    now = time.monotonic()
    return Analysis(frame_index=i, t=t, size=(640, 480), faces=faces, captured=now, finished=now, features=features)


def record(folder: Path, seconds: float, *, features=("gaze", "emotion"), hz: float = 10.0, start: float = 5.0,
           faces=make_faces) -> Recorder:
    """Feed ``seconds`` of synthetic analysis time at ``hz`` (no waiting), as snapshots, into a closed Recorder."""
    records = Records()
    with Recorder(folder, features=features) as rec:
        for i in range(int(seconds * hz) + 1):
            rec.on_snapshot(records.build(analysis(i, start + i / hz, faces(i), features)))
    return rec


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_recorder_writes_one_row_per_track_per_second_with_the_timeline_columns(tmp_path):
    rec = record(tmp_path / "s", 3.0)
    rows = read_csv(tmp_path / "s" / "timeline.csv")
    assert list(rows[0]) == list(TIMELINE_COLUMNS)
    assert [(float(r["t"]), r["track_id"]) for r in rows] == [(t, k) for t in (0.0, 1.0, 2.0, 3.0) for k in "123"]
    assert {r["looking"] for r in rows} == {"0", "1"}
    assert rows[0]["emotion"] in EMOTIONS
    assert math.isclose(float(rows[0]["emotion_confidence"]), 0.7 + 0.3 / 7, abs_tol=1e-3)
    assert rows[0]["valence_est"] == "0.200" and rows[0]["arousal_est"] == "-0.100"
    room = read_csv(tmp_path / "s" / "room.csv")
    assert list(room[0]) == list(ROOM_COLUMNS) and len(room) == 4
    assert room[0]["people"] == "3"
    at_0 = [float(r["attention"]) for r in rows if r["t"] == rows[0]["t"]]
    assert float(room[0]["attention_pct"]) == pytest.approx(100 * sum(at_0) / 3, abs=0.05), "the mean attention"
    assert int(room[0]["attending"]) == sum(int(r["looking"]) for r in rows[:3]), "how many look at that instant"
    assert rec.rows == {"timeline": 12, "room": 4}


def test_the_jsonl_timeline_holds_the_same_rows_as_the_csv(tmp_path):
    record(tmp_path / "s", 2.0)
    objects = [json.loads(line) for line in (tmp_path / "s" / "timeline.jsonl").read_text().splitlines()]
    rows = read_csv(tmp_path / "s" / "timeline.csv")
    assert len(objects) == len(rows) == 9
    assert list(objects[0]) == list(TIMELINE_COLUMNS)
    assert [(o["t"], o["track_id"], o["looking"], o["emotion"]) for o in objects] == [
        (float(r["t"]), int(r["track_id"]), float(r["looking"]), r["emotion"]) for r in rows]


def test_nan_values_are_written_as_empty_cells_and_as_null(tmp_path):
    def unmeasured(i: int) -> Faces:
        n = 2
        return make_faces(i, n).replace(attention=np.full(n, np.nan, np.float32),
                                        emotion=np.full((n, 7), np.nan, np.float32))
    record(tmp_path / "s", 1.0, faces=unmeasured)
    row = read_csv(tmp_path / "s" / "timeline.csv")[0]
    assert [row[c] for c in ("attention", "emotion", "emotion_confidence", "valence_est")] == ["", "", "", ""]
    obj = json.loads((tmp_path / "s" / "timeline.jsonl").read_text().splitlines()[0])
    assert obj["attention"] is None and obj["emotion"] is None and obj["valence_est"] is None


def test_names_are_left_out_when_identity_is_off_and_written_when_it_is_on(tmp_path):
    record(tmp_path / "off", 1.0, features=("gaze",))
    record(tmp_path / "on", 1.0, features=("gaze", "identity"))
    assert {r["name"] for r in read_csv(tmp_path / "off" / "timeline.csv")} == {""}
    assert [r["name"] for r in read_csv(tmp_path / "on" / "timeline.csv")][:3] == ["Ada", "Ben", ""]


def test_emotion_columns_stay_empty_when_emotion_is_off(tmp_path):
    record(tmp_path / "s", 1.0, features=("gaze",))
    rows = read_csv(tmp_path / "s" / "timeline.csv")
    columns = ("emotion", "emotion_confidence", "valence_est", "arousal_est")
    assert {tuple(r[c] for c in columns) for r in rows} == {("", "", "", "")}


def test_the_session_folder_is_0700_and_its_files_are_0600(tmp_path):
    record(tmp_path / "deep" / "s", 1.0)
    folder = tmp_path / "deep" / "s"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["room.csv", "session.json", "timeline.csv", "timeline.jsonl"]
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == dict.fromkeys(names, 0o600)


def test_session_json_is_written_at_start_and_completed_at_close(tmp_path):
    folder = tmp_path / "s"
    records = Records()
    with Recorder(folder, features=("gaze",), source="demo") as rec:
        meta = json.loads((folder / "session.json").read_text())
        assert meta["features"] == ["gaze"] and meta["source"] == "demo" and meta["version"] and meta["started"]
        assert meta["schema_version"] == "1.5" and meta["columns"]["timeline"] == list(TIMELINE_COLUMNS)
        assert "ended" not in meta
        for i in range(25):
            features = ("gaze", "identity") if i >= 20 else ("gaze",)  # identity switched on at 2 s
            rec.on_snapshot(records.build(analysis(i, i / 10, make_faces(i), features)))
    meta = json.loads((folder / "session.json").read_text())
    assert meta["ended"] and meta["rows"] == {"timeline": 9, "room": 3} and meta["duration"] == 2.0
    assert meta["features"] == ["gaze", "identity"], "every feature published during the recording"
    assert load_session(folder).crashed is False


def test_a_source_whose_clock_restarts_continues_the_timeline(tmp_path):
    records = Records()
    with Recorder(tmp_path / "s", features=("gaze",)) as rec:
        for i, t in enumerate([10.0, 10.5, 11.0, 0.0, 0.5, 1.0]):  # the source was switched after 11.0
            rec.on_snapshot(records.build(analysis(i, t, make_faces(i, 1))))
    assert load_session(tmp_path / "s").room["t"].tolist() == [0.0, 1.0, 2.0]


def test_analyses_after_close_are_ignored_and_close_runs_once(tmp_path):
    rec = record(tmp_path / "s", 1.0)
    rec.on_snapshot(Records().build(analysis(99, 100.0, make_faces(99))))
    rec.close()
    assert rec.rows["room"] == 2


def test_recording_into_a_folder_that_holds_a_session_is_refused(tmp_path):
    record(tmp_path / "s", 1.0)
    with pytest.raises(SessionError, match="new folder"):
        Recorder(tmp_path / "s", features=()).open()


def test_every_must_be_a_positive_number_of_seconds(tmp_path):
    with pytest.raises(ConfigError, match="every"):
        Recorder(tmp_path, features=(), every=0)


def test_new_session_dir_names_a_fresh_dated_folder(tmp_path):
    first = new_session_dir(tmp_path)
    assert first.parent == tmp_path and len(first.name) == len("20240101-120000") and not first.exists()
    first.mkdir()
    assert new_session_dir(tmp_path) != first
    assert new_session_dir().parent.name == "sessions"


def test_load_session_reads_columns_as_typed_arrays(tmp_path):
    record(tmp_path / "s", 2.0, features=("gaze", "identity", "emotion"))
    session = load_session(tmp_path / "s")
    assert session.timeline["t"].dtype == np.float64 and session.timeline["track_id"].dtype == np.int64
    assert session.track_ids == [1, 2, 3] and session.name_of(1) == "Ada" and session.name_of(3) == ""
    assert session.duration == 3.0 and session.skipped == 0 and session.features == ("gaze", "identity", "emotion")


def test_a_truncated_last_line_is_skipped_with_a_warning(tmp_path, caplog):
    record(tmp_path / "s", 2.0)
    timeline = tmp_path / "s" / "timeline.csv"
    text = timeline.read_text()
    timeline.write_text(text[:-25])  # the last row cut mid-write
    with caplog.at_level(logging.WARNING, logger="vcam.session.reader"):
        session = load_session(tmp_path / "s")
    assert len(session.timeline["t"]) == 8 and session.skipped == 1
    assert "partly written last line" in caplog.text


def test_a_garbled_line_is_skipped_not_raised(tmp_path):
    record(tmp_path / "s", 1.0)
    with open(tmp_path / "s" / "room.csv", "a") as f:
        f.write("2.000,3,x,,\n")
    assert len(load_session(tmp_path / "s").room["t"]) == 2


def test_a_missing_folder_raises_session_error_naming_the_fix(tmp_path):
    with pytest.raises(SessionError, match="no session folder at .*nowhere.*pass a folder") as info:
        load_session(tmp_path / "nowhere")
    assert isinstance(info.value, VcamError)


def test_a_folder_without_a_timeline_raises_session_error(tmp_path):
    with pytest.raises(SessionError, match="holds no timeline.csv"):
        load_session(tmp_path)


# -- SIGKILL: a real child process, killed at a random moment ----------------------------
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from vcam.records import Records
    from vcam.session.recorder import Recorder
    from vcam.types import Analysis, Faces

    def faces(i):
        emotion = np.zeros((3, 7), np.float32)
        emotion[np.arange(3), (np.arange(3) + i // 7) % 7] = 1.0
        return Faces.from_boxes(np.zeros((3, 4), np.float32)).replace(
            track_id=np.array([4, 7, 9]), on_screen=(np.arange(3) + i // 13) % 3 != 0, emotion=emotion,
            attention=np.full(3, 0.5, np.float32), engagement=np.full(3, 0.6, np.float32))

    start, records = time.monotonic(), Records()
    with Recorder(sys.argv[1], features=("gaze", "emotion")) as rec:
        print("ready", flush=True)
        last, i = None, 0
        while time.monotonic() - start < 10:  # killed long before
            now = time.monotonic()
            analysis = Analysis(i, now - start, (640, 480), faces(i), now, now, features=("gaze", "emotion"))
            rec.on_snapshot(records.build(analysis))
            if rec.last_flushed != last:
                last = rec.last_flushed
                print(f"flushed {last}", flush=True)
            i += 1
            time.sleep(0.01)
""")


def test_a_sigkilled_recording_loses_at_most_its_last_second_and_still_makes_a_report(tmp_path):
    (tmp_path / "child.py").write_text(CHILD)
    folder = tmp_path / "session"
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(folder)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in child.stdout:
            lines.append(line.strip())
            ready.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(30), f"the child never started: {child.stderr.read() if child.poll() is not None else ''}"
    time.sleep(random.uniform(2.0, 3.5))
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    reader.join(10)
    assert child.returncode == -signal.SIGKILL, "the child finished before it was killed"

    flushed = [float(line.split()[1]) for line in lines if line.startswith("flushed")]
    assert len(flushed) >= 2
    session = load_session(folder)
    room_t = session.room["t"].tolist()
    assert session.crashed
    assert set(flushed) <= set(room_t), "a second the child reported as flushed is missing"
    assert len([t for t in room_t if t > flushed[-1]]) <= 1
    at_last = session.timeline["t"] == flushed[-1]
    assert sorted(session.timeline["track_id"][at_last].tolist()) == [4, 7, 9]
    jsonl = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines(keepends=True)
             if line.endswith("\n")]
    assert {o["t"] for o in jsonl} >= set(flushed)

    out = write_report(folder, tmp_path / "report.html")
    assert out.read_text().count("data:image/png;base64,") == 5


def test_aggregate_only_records_the_room_only_and_nothing_for_fewer_than_three(tmp_path):
    from vcam.session.report import write_report

    records = Records(Privacy(aggregate_only=True))
    with Recorder(tmp_path / "s", features=("gaze",)) as rec:
        for second in range(4):
            faces = make_faces(second, n=2 if second < 2 else 3)
            rec.on_snapshot(records.build(analysis(second, float(second), faces, ("gaze", "identity"))))
    assert read_csv(tmp_path / "s" / "timeline.csv") == []
    room = read_csv(tmp_path / "s" / "room.csv")
    assert [r["people"] for r in room] == ["", "", "3", "3"]
    session = load_session(tmp_path / "s")
    assert session.skipped == 0, "a hidden room's empty row is a row, not damage"
    assert np.isnan(session.room["people"][:2]).all() and session.room["people"][2:].tolist() == [3, 3]
    write_report(tmp_path / "s", tmp_path / "r.html")
    assert "Ada" not in (tmp_path / "r.html").read_text()


def test_a_meeting_gallery_s_camera_off_tiles_layout_and_tile_count_reach_room_csv(tmp_path):
    layout = Layout.of("grid", [[x * 100, y * 100, 100, 100] for y in range(2) for x in range(3)])
    layout = dataclasses.replace(layout, camera_off=np.array([False, True, False, False, True, False]))
    records = Records()
    with Recorder(tmp_path / "s", features=("gaze",)) as rec:
        for second in range(3):
            faces = make_faces(second)
            snapshot = records.build(dataclasses.replace(analysis(second, float(second), faces, ("gaze",)),
                                                         layout=layout if second else None))
            rec.on_snapshot(snapshot)
    room = read_csv(tmp_path / "s" / "room.csv")
    assert [(r["camera_off"], r["layout"], r["tiles"]) for r in room] == [("", "", ""), ("2", "grid", "6"),
                                                                          ("2", "grid", "6")]
    session = load_session(tmp_path / "s")
    assert session.skipped == 0 and session.room["layout"].tolist() == ["", "grid", "grid"]
    assert np.isnan(session.room["camera_off"][0]) and session.room["camera_off"][1:].tolist() == [2, 2]
    assert session.room["tiles"][1:].tolist() == [6, 6]
    html = write_report(tmp_path / "s", tmp_path / "r.html").read_text()
    assert "Meeting gallery: up to 6 tiles, up to 2 cameras off at once" in html


def test_gaze_off_leaves_attending_empty_and_the_room_is_read_back_whole(tmp_path):
    record(tmp_path / "s", 2.0, features=("emotion",))
    room = read_csv(tmp_path / "s" / "room.csv")
    assert {r["attending"] for r in room} == {""} and [r["people"] for r in room] == ["3", "3", "3"]
    session = load_session(tmp_path / "s")
    assert session.skipped == 0 and len(session.room["t"]) == 3 and np.isnan(session.room["attending"]).all()
    assert "Meeting gallery" not in write_report(tmp_path / "s", tmp_path / "r.html").read_text(), "no gallery seen"
