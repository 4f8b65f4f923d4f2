"""Reading a session folder back: what vcam did not write is one SessionError naming the file, never a crash."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vcam.cli import main
from vcam.errors import SessionError
from vcam.session import load_session
from vcam.session.recorder import ROOM_COLUMNS, TIMELINE_COLUMNS


OLD_ROOM_HEADER = "t,people,attending,attention_pct,engagement"
"""room.csv's columns before 1.3 (no meeting fields)."""


def session_folder(folder: Path, meta: str | None, rows: list[dict] | None = None) -> Path:
    folder.mkdir()
    lines = [",".join(TIMELINE_COLUMNS)] + [",".join(str(r.get(c, "")) for c in TIMELINE_COLUMNS)
                                            for r in rows or [{"t": 0, "track_id": 1, "engagement": 0.5}]]
    (folder / "timeline.csv").write_text("\n".join(lines) + "\n")
    (folder / "room.csv").write_text(OLD_ROOM_HEADER + "\n0,1,1,100,0.5\n")
    if meta is not None:
        (folder / "session.json").write_text(meta)
    return folder


@pytest.mark.parametrize("meta, says", [
    ("[]", "must hold a JSON object, got list"),
    ('"x"', "must hold a JSON object, got str"),
    ('{"every": "1"}', "'every' must be int or float"),
    ('{"every": NaN}', "'every' must be a number of seconds"),
    ('{"every": null}', "'every' must be int or float"),
    ('{"every": -1}', "'every' must be a number of seconds"),
    ('{"every": Infinity}', "'every' must be a number of seconds"),
    ('{"features": "gaze"}', "'features' must be list"),
    ('{"features": [1, null]}', "'features' must be a list of names"),
    ('{"started": 5}', "'started' must be str"),
    ('{"every": true}', "'every' must be int or float"),
    ('{"every": 1' + "0" * 400 + "}", "'every' must be a number of seconds"),
])
def test_a_session_json_vcam_did_not_write_is_one_error_naming_the_key(tmp_path, meta, says):
    folder = session_folder(tmp_path / "s", meta)
    with pytest.raises(SessionError, match=says):
        load_session(folder)


@pytest.mark.parametrize("meta", ["[]", '"x"', '{"every": NaN}', '{"every": null}', '{"features": {"a": 1}}'])
def test_vcam_report_of_a_bad_session_json_says_so_in_one_line_and_exits_2(tmp_path, meta, caplog):
    folder = session_folder(tmp_path / "s", meta)
    assert main(["report", str(folder), "--out", str(tmp_path / "r.html")]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "session.json" in errors[0] and "internal error" not in errors[0]


def test_lines_with_times_or_ids_out_of_range_are_skipped_and_counted(tmp_path):
    rows = [{"t": 0, "track_id": 1}, {"t": "nan", "track_id": 2}, {"t": "inf", "track_id": 3},
            {"t": "1e300", "track_id": 4}, {"t": 1, "track_id": 9 ** 40}, {"t": 2, "track_id": 5, "engagement": "inf"}]
    session = load_session(session_folder(tmp_path / "s", "{}", rows))
    assert session.skipped == 4
    assert session.timeline["track_id"].tolist() == [1, 5]
    assert math.isnan(session.timeline["engagement"][1]), "a value that is not finite reads as empty"


def test_a_session_whose_numbers_are_nan_or_null_renders_its_report(tmp_path):
    rows = [{"t": t, "track_id": 1, "engagement": "nan", "attention": "-inf", "looking": "null" if t else 1}
            for t in range(5)]
    folder = session_folder(tmp_path / "s", json.dumps({"every": 1.0, "features": ["gaze", "emotion"]}), rows)
    assert main(["report", str(folder), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert html.count("<img") == 4 and "People seen: 1" in html


def test_a_room_csv_from_before_the_meeting_columns_reads_with_them_empty(tmp_path):
    session = load_session(session_folder(tmp_path / "s", "{}"))
    assert set(session.room) == set(ROOM_COLUMNS) and session.skipped == 0
    assert session.room["people"].tolist() == [1] and session.room["attention_pct"].tolist() == [100]
    assert np.isnan(session.room["camera_off"]).all() and session.room["layout"].tolist() == [""]
