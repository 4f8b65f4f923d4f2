"""``vcam eval gaze``: the labels file, the scoring, and a real run on committed photos in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam.errors import ConfigError
from vcam.evaluate_gaze import LABELS, Judgement, Row, face_at, read_labels, score
from vcam.types import Faces

GAZE = Path(__file__).parent / "data" / "gaze"


def vcam(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    return subprocess.run([sys.executable, "-m", "vcam.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_the_committed_labels_name_existing_sources_and_frames_inside_each_clip():
    rows = read_labels(GAZE / "labels.json")
    assert {r.label for r in rows} == set(LABELS)
    for row in rows:
        assert row.source.is_file(), row.source
        if row.frames is not None:
            count = int(cv2.VideoCapture(str(row.source)).get(cv2.CAP_PROP_FRAME_COUNT))
            assert 0 <= row.frames[0] <= row.frames[1] < count


def test_a_csv_file_gives_the_same_rows_as_json(tmp_path):
    (tmp_path / "l.json").write_text(json.dumps({"rows": [
        {"source": "a.jpg", "at": [10, 20], "label": "looking"},
        {"source": "c.mp4", "frames": [3, 9], "label": "eyes-closed", "yaw": 5, "pitch": -2}]}))
    (tmp_path / "l.csv").write_text("source,frames,x,y,label,yaw,pitch\na.jpg,,10,20,looking,,\n"
                                    "c.mp4,3-9,,,eyes-closed,5,-2\n")
    assert read_labels(tmp_path / "l.csv") == read_labels(tmp_path / "l.json") == [
        Row(tmp_path / "a.jpg", "looking", None, (10.0, 20.0)),
        Row(tmp_path / "c.mp4", "eyes-closed", (3, 9), None, 5.0, -2.0)]


def test_an_unknown_label_is_an_error_naming_its_row(tmp_path):
    (tmp_path / "l.json").write_text(json.dumps([{"source": "a.jpg", "label": "looking"},
                                                 {"source": "b.jpg", "label": "dozing"}]))
    with pytest.raises(ConfigError, match="row 2.*looking, away, eyes-closed"):
        read_labels(tmp_path / "l.json")


def test_the_face_meant_is_the_one_whose_box_holds_the_point():
    faces = Faces.from_boxes(np.array([[0, 0, 100, 100], [200, 0, 50, 50]], np.float32))
    assert face_at(faces, (220, 20)) == 1
    assert face_at(faces, None) == 0, "no point: the largest face"
    assert face_at(faces, (500, 500)) is None


def test_scores_count_away_and_closed_eyes_as_not_looking():
    looking, away, closed = (Row(Path("x"), label) for label in LABELS)
    judged = [Judgement(looking, 0, True), Judgement(looking, 1, False), Judgement(away, 0, False),
              Judgement(away, 1, None), Judgement(closed, 0, False), Judgement(closed, 1, True)]
    s = score(judged)
    assert s["confusion"] == [[1, 1, 0], [0, 1, 1], [1, 1, 0]]
    assert s["accuracy"] == pytest.approx(3 / 6) and s["balanced"] == pytest.approx(0.5)
    assert s["recall"] == {"looking": 0.5, "away": 0.5, "eyes-closed": 0.5}


def test_angle_errors_are_averaged_over_rows_with_known_angles():
    known = Row(Path("x"), "away", yaw=30.0, pitch=0.0)
    s = score([Judgement(known, 0, False, (26.0, 2.0)), Judgement(known, 1, False, (36.0, -4.0)),
               Judgement(Row(Path("y"), "looking"), 0, True, (1.0, 1.0))])
    assert s["angle_error"] == {"n": 2, "yaw": 5.0, "pitch": 3.0}


def test_vcam_eval_gaze_scores_labelled_photos_and_writes_every_frame(tmp_path):
    labels = tmp_path / "labels.json"
    data = Path(__file__).parent / "data"
    labels.write_text(json.dumps({"rows": [
        {"source": str(data / "obama.jpg"), "label": "looking"},
        {"source": str(data / "obama2.jpg"), "label": "away"}]}))
    result = vcam("eval", "gaze", "--labels", str(labels), "--json", str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["photos"]["n"] == 2 and report["clips"]["n"] == 0
    assert [f["label"] for f in report["frames"]] == ["looking", "away"]
    assert all(f["looking"] is not None for f in report["frames"]), "both faces found"
    assert "accuracy" in result.stdout and "rows the label" in result.stdout
