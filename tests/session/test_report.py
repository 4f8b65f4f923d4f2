"""The HTML report: four embedded plots, the low-attention moments, and what was off."""

from __future__ import annotations

import base64
import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from vcam.errors import VcamError
from vcam.records import Records
from vcam.session import Recorder, SessionError, low_attention_moments, write_report
from vcam.types import EMOTIONS, Analysis, Faces

PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def meeting_faces(t: float) -> Faces:
    """Four people; from 15 s to 30 s three of them look away (Ben down, Cy with eyes closed, #3 down then,
    from 20 s, with the head turned), and Cy frowns from 20 s."""
    n = 4
    away = 15 <= t < 30
    on = np.array([True, not away, not away, not away])
    why = [None, "looking down", "eyes closed", "looking down" if t < 20 else "head turned"]
    emotion = np.full((n, len(EMOTIONS)), 0.02, np.float32)
    emotion[:, EMOTIONS.index("neutral")] = 0.88
    if t >= 20:
        emotion[2] = 0.02
        emotion[2, EMOTIONS.index("sad")] = 0.88
    return Faces.from_boxes(np.tile(np.float32([0, 0, 40, 40]), (n, 1))).replace(
        track_id=np.arange(n), on_screen=on, away_reason=np.array(why, object), name=np.array(["Ada", "Ben", "Cy", None], object), emotion=emotion,
        valence=np.full(n, 0.1, np.float32), arousal=np.full(n, 0.0, np.float32),
        attention=on.astype(np.float32), engagement=np.where(on, 0.8, 0.3).astype(np.float32))


def record_meeting(folder: Path, features: tuple[str, ...], seconds: float = 45.0, faces=meeting_faces) -> Path:
    records = Records()
    with Recorder(folder, features=features) as rec:
        for i in range(int(seconds * 5)):
            now = time.monotonic()
            analysis = Analysis(i, i / 5, (640, 480), faces(i / 5), now, now, features=features)
            rec.on_snapshot(records.build(analysis))
    return folder


@pytest.fixture
def full_session(tmp_path) -> Path:
    return record_meeting(tmp_path / "full", ("gaze", "identity", "emotion"))


def sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([\w-]+)">(.*?)</section>', html, re.S))


def test_the_report_has_the_five_plot_sections_as_embedded_pngs(full_session, tmp_path):
    html = write_report(full_session, tmp_path / "out" / "report.html").read_text()
    parts = sections(html)
    assert list(parts) == ["engagement", "emotion", "attention", "away", "attention-dips"]
    for body in parts.values():
        png = base64.b64decode(PNG.search(body).group(1))
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert "People seen: 4" in html and "Length: 0:45" in html


def test_the_report_tables_the_moment_the_rooms_attention_fell(full_session, tmp_path):
    html = write_report(full_session, tmp_path / "report.html").read_text()
    table = sections(html)["attention-dips"]
    assert '<table class="moments">' in table
    assert "<td>0:15</td><td>0:30</td><td>15 s</td><td>25%</td>" in table


def test_the_report_names_people_when_identity_was_on_and_labels_estimates(full_session, tmp_path):
    html = write_report(full_session, tmp_path / "report.html").read_text()
    assert "valence (estimate)" in html and "arousal (estimate)" in html
    assert "Features on: gaze, identity, emotion" in html


def test_the_report_says_emotion_was_off_when_it_was(tmp_path):
    folder = record_meeting(tmp_path / "s", ("gaze",))
    html = write_report(folder, tmp_path / "report.html").read_text()
    emotion = sections(html)["emotion"]
    assert "Emotion recognition was off" in emotion and "data:image" not in emotion
    assert html.count("data:image/png;base64,") == 4


def test_the_report_needs_no_external_resources_and_is_private(full_session, tmp_path):
    out = write_report(full_session, tmp_path / "report.html")
    html = out.read_text()
    assert not re.search(r'(src|href)="(?!data:)', html) and "http" not in html
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []


def test_the_report_renders_from_a_session_cut_off_mid_line(full_session, tmp_path):
    for name in ("timeline.csv", "room.csv"):
        path = full_session / name
        path.write_text(path.read_text()[:-7])
    meta = full_session / "session.json"
    meta.write_text(meta.read_text().replace('"ended"', '"was_ended"'))
    html = write_report(full_session, tmp_path / "report.html").read_text()
    assert "stopped without closing" in html and html.count("data:image/png;base64,") == 5


def test_the_report_renders_a_session_where_nobody_was_seen(tmp_path):
    folder = tmp_path / "empty"
    records = Records()
    with Recorder(folder, features=("gaze",)) as rec:
        for i in range(12):
            rec.on_snapshot(records.build(Analysis(i, i / 4, (640, 480), Faces.empty(), 0.0, 0.0, features=("gaze",))))
    html = write_report(folder, tmp_path / "report.html").read_text()
    assert "People seen: 0" in html and html.count("data:image/png;base64,") == 3
    assert "Nobody was seen looking away" in sections(html)["away"]


def away_table(html: str) -> dict[str, list[str]]:
    """The "why people looked away" table: each row's cells by who, and the header's cells under "who"."""
    table = re.search(r'<table class="away">(.*?)</table>', sections(html)["away"], re.S).group(1)
    rows = [re.findall(r"<t[hd]>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    return {row[0]: row[1:] for row in rows}


def test_the_report_splits_each_persons_and_the_rooms_away_time_by_reason(full_session, tmp_path):
    table = away_table(write_report(full_session, tmp_path / "report.html").read_text())
    assert table["who"] == ["away (of their time)", "eyes closed", "looking down", "head turned"]
    assert table["room"] == ["25% (0:45)", "33%", "44%", "22%"]  # 3 people × 15 s away of 4 × 45 s
    assert table["Ben"] == ["33% (0:15)", "0%", "100%", "0%"]
    assert table["Cy"] == ["33% (0:15)", "100%", "0%", "0%"]
    assert table["#3"] == ["33% (0:15)", "0%", "33%", "67%"]
    assert table["Ada"] == ["0% (0:00)", "0%", "0%", "0%"]


def test_the_report_says_whose_gaze_was_calibrated_on_request_and_when(full_session, tmp_path):
    def calibrated_at_32_s(t: float) -> Faces:
        faces = meeting_faces(t)
        return faces.replace(gaze_calibrated=np.array([t >= 32, t >= 32, False, False]))

    folder = record_meeting(tmp_path / "s", ("gaze",), faces=calibrated_at_32_s)
    away = sections(write_report(folder, tmp_path / "report.html").read_text())["away"]
    assert "Gaze was calibrated on request for 2 people (first at 0:32)" in away
    assert "calibrated" not in sections(write_report(full_session, tmp_path / "plain.html").read_text())["away"]


def test_the_report_says_gaze_was_off_instead_of_reasons(tmp_path):
    folder = record_meeting(tmp_path / "s", ("identity",))
    away = sections(write_report(folder, tmp_path / "report.html").read_text())["away"]
    assert "Gaze was off" in away and "data:image" not in away


def test_a_report_of_a_missing_session_raises_session_error(tmp_path):
    with pytest.raises(SessionError):
        write_report(tmp_path / "missing", tmp_path / "report.html")


def test_a_report_that_cannot_be_written_raises_a_vcam_error(full_session, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(VcamError, match="--out"):
        write_report(full_session, blocker / "report.html")


def test_low_attention_moments_need_the_full_duration_below_the_threshold():
    t = np.arange(40.0)
    pct = np.full(40, 100.0)
    pct[5:14] = 30  # 9 s: too short
    pct[20:32] = 40  # 12 s
    pct[25] = np.nan  # nobody there splits it into 5 s + 6 s
    assert low_attention_moments(t, pct) == []
    pct[25] = 45
    assert low_attention_moments(t, pct) == [(20.0, 32.0, 40.0)]
    assert low_attention_moments(t, pct, min_duration=9) == [(5.0, 14.0, 30.0), (20.0, 32.0, 40.0)]
    assert low_attention_moments(t[:30], pct[:30], min_duration=9) == [(5.0, 14.0, 30.0), (20.0, 30.0, 40.0)]


def test_the_report_names_people_by_their_meeting_tile_when_names_were_read(tmp_path):
    features = ("gaze", "names")
    participants = np.array(["José Álvarez", "Zoë Müller", "Łukasz", None], object)
    records = Records()
    with Recorder(tmp_path / "meeting", features=features) as rec:
        for i in range(50):
            faces = meeting_faces(i / 5).replace(participant=participants)
            rec.on_snapshot(records.build(Analysis(i, i / 5, (640, 480), faces, 0.0, 0.0, features=features)))
    html = write_report(tmp_path / "meeting", tmp_path / "report.html").read_text()
    assert "People seen: 4 (José Álvarez, Zoë Müller, Łukasz)" in html
    assert "Ada" not in html, "enrolled names are not shown: identity was off"


# -- a session with many track ids, and names matplotlib would misread -----------------------------


def _bench_report():
    """bench/report.py, whose ``write_session`` makes a session with many track ids."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / "report.py"
    spec = importlib.util.spec_from_file_location("bench_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_session_with_thousands_of_track_ids_draws_the_top_people_and_the_others_together(tmp_path):
    from vcam.session.report import TOP_PEOPLE

    session = _bench_report().write_session(tmp_path / "long", tracks=2000, seconds=1200)
    html = write_report(session, tmp_path / "report.html").read_text()
    assert "People seen: 2000" in html
    assert html.count("<img") == 5
    assert len(away_table(html)) == 1 + 1 + TOP_PEOPLE + 1  # the header, the room, the top people, the others
    assert f"others ({2000 - TOP_PEOPLE} people)" in html, "the engagement note names the others"
    assert len(html) < 600_000, "the figures do not grow with the people seen"


def test_the_report_of_20000_track_ids_stays_under_1_gb(tmp_path):
    """The session of issue 12 item 7 (20 000 ids), drawn in a child process whose peak RSS (VmHWM) is measured."""
    import subprocess
    import sys

    session = _bench_report().write_session(tmp_path / "long", tracks=20_000, seconds=7200)
    code = ("import sys; from vcam.session import write_report; write_report(sys.argv[1], sys.argv[2]); "
            "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", code, str(session), str(tmp_path / "r.html")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) < 1024 * 1024, "peak RSS in KiB: under 1 GiB"
    assert (tmp_path / "r.html").stat().st_size < 1_000_000


def test_names_with_dollar_signs_are_drawn_as_written(tmp_path):
    features = ("gaze", "identity", "emotion")
    records = Records()
    names = np.array(["$5 Sam", "$\\frac$", "Cy $x$", None], object)
    with Recorder(tmp_path / "money", features=features) as rec:
        for i in range(30):
            faces = meeting_faces(i / 5).replace(name=names)
            rec.on_snapshot(records.build(Analysis(i, i / 5, (640, 480), faces, 0.0, 0.0, features=features)))
    html = write_report(tmp_path / "money", tmp_path / "report.html").read_text()
    assert "$5 Sam" in html and html.count("<img") == 4
