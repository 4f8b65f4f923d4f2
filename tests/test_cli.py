"""The ``vcam`` command as a user runs it: real processes, real files, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources

import av
import jsonschema
import numpy as np
import pytest

from vcam.outputs import make_output
from vcam.sources.demo import DemoSource

VCAM = [sys.executable, "-m", "vcam.cli"]


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    """Every vcam run here starts from the defaults, whatever the user's own config file says."""
    monkeypatch.setenv("VCAM_CONFIG", str(tmp_path / "no-config.toml"))


def vcam(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    run_env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run_env.update(env or {})
    return subprocess.run([*VCAM, *args], capture_output=True, text=True, timeout=timeout, env=run_env)


@pytest.fixture(scope="module")
def grid_clip(tmp_path_factory):
    """30 frames (1 s) of the 3×3 demo gallery as a 1920×1080 H.264 file."""
    path = tmp_path_factory.mktemp("clips") / "grid.mp4"
    with DemoSource(realtime=False) as src, make_output(f"file:{path}", width=1920, height=1080, fps=30) as out:
        for _ in range(30):
            out.send(src.read().image)
    return path


@pytest.fixture(scope="module")
def analysis(grid_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("json") / "grid.json"
    result = vcam("analyze", str(grid_clip), "--json", str(out), "--no-progress", timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result


def test_analyze_writes_json_that_validates_against_the_committed_schema(analysis):
    document, _ = analysis
    schema = json.loads((resources.files("vcam.schemas") / "analyze.schema.json").read_text())
    jsonschema.validate(document, schema)
    assert document["source"]["frames"] == len(document["frames"]) == 30
    assert (document["source"]["width"], document["source"]["height"]) == (1920, 1080)


def test_analyze_finds_every_face_of_the_grid_and_keeps_their_ids(analysis):
    document, _ = analysis
    ids_per_frame = [sorted(f["track_id"] for f in frame["faces"]) for frame in document["frames"]]
    assert all(ids == ids_per_frame[0] for ids in ids_per_frame)
    assert len(ids_per_frame[0]) == 9
    tracks = document["tracks"]
    assert len(tracks) == 9 and all(t["frames"] == 30 for t in tracks)
    assert all(0 <= t["on_screen_pct"] <= 100 for t in tracks)


def test_analyze_prints_a_summary_and_no_native_log_noise(analysis):
    _, result = analysis
    assert "wrote" in result.stderr and "9 tracks" in result.stderr
    assert "W0000" not in result.stderr and "Traceback" not in result.stderr


def test_run_writes_the_annotated_demo_to_an_mp4(tmp_path):
    out = tmp_path / "demo.mp4"
    result = vcam("run", "--source", "demo", "--output", f"file:{out}", "--frames", "20")
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.width, stream.height, stream.codec_context.name) == (1280, 720, "h264")
    assert 10 <= frames <= 20, "a live run drops frames rather than fall behind, never adds any"


def test_run_without_a_virtual_camera_or_display_says_so_and_writes_an_mp4(tmp_path):
    result = subprocess.run([*VCAM, "run", "--frames", "10"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "DISPLAY"})
    assert result.returncode == 0, result.stderr
    assert "v4l2loopback" in result.stderr and "vcam-out.mp4" in result.stderr
    assert (tmp_path / "vcam-out.mp4").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["run", "--source", "webcam:7"], "no camera at index 7"),
    (["run", "--source", "nonsense"], "unknown source 'nonsense'"),
    (["run", "--source", "missing.mp4"], "video file not found"),
    (["run", "--output", "printer"], "unknown output 'printer'"),
    (["run", "--output", "file:out.avi"], "must end in .mp4"),
    (["run", "--source", "screen:0,0,640,480"], "DISPLAY is not set"),
    (["run", "--size", "big"], "bad --size"),
    (["run", "--size", "1281x720"], "must be even"),
    (["run", "--fps", "0"], "fps must be between"),
    (["analyze", "missing.mp4", "--json", "x.json"], "video file not found"),
    (["analyze", "missing.mp4", "--json", "x.json", "--calibrate-gaze-at", "-1"], "0 or more; got -1.0"),
    (["analyze", "missing.mp4", "--json", "x.json", "--calibrate-gaze-at", "nan"], "0 or more; got nan"),
    (["analyze", "missing.mp4", "--json", "x.json", "--calibrate-gaze-at", "1", "--no-gaze"], "needs gaze"),
])
def test_bad_input_is_one_clear_line_and_exit_status_2(args, message, tmp_path):
    result = subprocess.run([*VCAM, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={k: v for k, v in os.environ.items() if k != "DISPLAY"})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_video_is_one_clear_line(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(4096))
    result = vcam("analyze", str(bad), "--json", str(tmp_path / "x.json"))
    assert result.returncode == 2
    assert "cannot read video" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("sample, analysed", [("every:5", 6), ("every:1", 30), ("10hz", 10)])
def test_sampling_every_nth_frame_analyses_that_many_and_says_so(grid_clip, tmp_path, sample, analysed):
    out = tmp_path / "s.json"
    result = vcam("analyze", str(grid_clip), "--json", str(out), "--sample", sample, "--no-progress", timeout=300)
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["source"]["frames"] == 30 and document["source"]["analysed"] == len(document["frames"]) == analysed
    assert f"{analysed} of 30 frames analysed" in result.stderr


def test_scene_sampling_skips_unchanged_frames_and_keeps_changes(tmp_path):
    from vcam.analyze import analyze

    clip = tmp_path / "scenes.mp4"
    with make_output(f"file:{clip}", width=320, height=240, fps=10) as out:
        for i in range(30):  # three 1-second scenes of a still picture each
            out.send(np.full((240, 320, 3), (40, 120, 200)[i // 10], np.uint8))
    document = analyze(clip, progress=False, sample="scene")
    assert [f["index"] for f in document["frames"]] == [0, 10, 20]
    assert document["source"]["analysed"] == 3 and document["source"]["frames"] == 30


def test_calibrating_gaze_at_a_moment_of_the_recording_makes_the_into_lens_faces_look_from_then_on(grid_clip, tmp_path):
    """The 3x3 demo: Obama's portrait looks into the lens but reads "looking up" until the recording's 0.5 s,
    when everyone is said to look at their screen; the two portraits looking down stay away."""
    out = tmp_path / "c.json"
    result = vcam("analyze", str(grid_clip), "--json", str(out), "--no-progress", "--calibrate-gaze-at", "0.5",
                  "--calibrate-gaze-at", "30", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "gaze calibrated at 0.5 s for 7 of 9 people" in result.stderr
    assert "--calibrate-gaze-at 30: after the last analysed frame, not used" in result.stderr
    frames = json.loads(out.read_text())["frames"]
    obama = [next(f for f in frame["faces"] if f["participant"] == "Barack Obama") for frame in frames[5:]]
    before = [f for frame, f in zip(frames[5:], obama) if frame["t"] <= 0.5]
    after = [f for frame, f in zip(frames[5:], obama) if frame["t"] > 0.5]
    assert not any(f["gaze"]["on_screen"] or f["gaze_calibrated"] for f in before)
    assert all(f["gaze"]["on_screen"] and f["gaze_calibrated"] for f in after)
    assert [sum(f["gaze_calibrated"] for f in frame["faces"]) for frame in frames if frame["t"] > 0.5] == [7] * 14
    assert all(sum(f["gaze"]["on_screen"] for f in frame["faces"]) == 7 for frame in frames if frame["t"] > 0.5)


def test_a_bad_sample_spec_is_one_clear_error(grid_clip, tmp_path):
    result = vcam("analyze", str(grid_clip), "--json", str(tmp_path / "x.json"), "--sample", "every:0")
    assert result.returncode == 2 and "bad --sample 'every:0'" in result.stderr
