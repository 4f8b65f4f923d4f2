"""parse_source: every spec form becomes one SourceSpec, every bad one one message, and nothing is made or opened."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from vcam.errors import SourceSpecError
from vcam.sources import SOURCE_SPECS, SourceSpec, parse_source


@pytest.mark.parametrize("spec, expected", [
    ("demo", SourceSpec("demo", "demo", rows=3, cols=3, size=(1920, 1080))),
    ("demo:", SourceSpec("demo", "demo:", rows=3, cols=3, size=(1920, 1080))),
    ("demo:2x3", SourceSpec("demo", "demo:2x3", rows=2, cols=3, size=(1920, 1080))),
    ("demo:1x1@1280x720", SourceSpec("demo", "demo:1x1@1280x720", rows=1, cols=1, size=(1280, 720))),
    ("webcam", SourceSpec("webcam", "webcam", index=0)),
    ("webcam:2", SourceSpec("webcam", "webcam:2", index=2)),
    ("screen", SourceSpec("screen", "screen", monitor=1)),
    ("screen:0", SourceSpec("screen", "screen:0", monitor=0)),
    ("screen:2", SourceSpec("screen", "screen:2", monitor=2)),
    ("screen:10,20,300,200", SourceSpec("screen", "screen:10,20,300,200", region=(10, 20, 300, 200))),
    ("screen:-1920, 0, 640, 360", SourceSpec("screen", "screen:-1920, 0, 640, 360", region=(-1920, 0, 640, 360))),
    ("window:Zoom Meeting", SourceSpec("window", "window:Zoom Meeting", title="Zoom Meeting")),
    ("  window: Zoom Meeting ", SourceSpec("window", "window: Zoom Meeting", title="Zoom Meeting")),
    ("talk.mp4", SourceSpec("video", "talk.mp4", path=Path("talk.mp4"))),
    ("TALK.MKV", SourceSpec("video", "TALK.MKV", path=Path("TALK.MKV"))),
    ("clips/talk", SourceSpec("video", "clips/talk", path=Path("clips/talk"))),
    ("clips\\talk", SourceSpec("video", "clips\\talk", path=Path("clips\\talk"))),
])
def test_every_spec_form_parses_to_its_kind_and_fields(spec, expected):
    assert parse_source(spec) == expected


def test_a_video_path_is_user_expanded_and_need_not_exist():
    parsed = parse_source("~/no/such/clip.mp4")
    assert parsed.kind == "video" and parsed.path == Path.home() / "no" / "such" / "clip.mp4"


def test_an_existing_file_of_any_name_is_a_video(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recording").write_bytes(b"")
    assert parse_source("recording") == SourceSpec("video", "recording", path=Path("recording"))


def test_a_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_source("webcam").index = 3


@pytest.mark.parametrize("spec, message", [
    ("foo", f"unknown source 'foo': expected {SOURCE_SPECS}"),
    ("webcam:x", "bad source 'webcam:x': the part after ':' must be a whole number >= 0, got 'x'"),
    ("webcam:-1", "bad source 'webcam:-1': the part after ':' must be a whole number >= 0, got '-1'"),
    ("screen:one", "bad source 'screen:one': the part after ':' must be a whole number >= 0, got 'one'"),
    ("screen:1,2,3", "bad screen region 'screen:1,2,3': expected screen:X,Y,W,H in whole pixels, e.g. screen:0,0,1280,720"),
    ("screen:a,b,c,d", "bad screen region 'screen:a,b,c,d': expected screen:X,Y,W,H in whole pixels, e.g. screen:0,0,1280,720"),
    ("screen:1,2,3,4.5", "bad screen region 'screen:1,2,3,4.5': expected screen:X,Y,W,H in whole pixels"),
    ("window:", "bad window source 'window:': give part of the window's title, e.g. window:Zoom Meeting"),
    ("window:   ", "bad window source 'window:': give part of the window's title, e.g. window:Zoom Meeting"),
    ("demo:3", "bad demo source 'demo:3': expected demo or demo:ROWSxCOLS[@WIDTHxHEIGHT], e.g. demo:1x1@1280x720"),
    ("demo:2x2@big", "bad demo source 'demo:2x2@big': expected demo or demo:ROWSxCOLS[@WIDTHxHEIGHT]"),
    ("demo:2x2@1280", "bad demo source 'demo:2x2@1280': expected demo or demo:ROWSxCOLS[@WIDTHxHEIGHT]"),
    ("demo:0x3", "DemoSource rows must be >= 1, got 0"),
    ("demo:3x0", "DemoSource cols must be >= 1, got 0"),
    ("demo:1x1@10x720", "DemoSource width must be between 16 and 7680, got 10"),
    ("demo:1x1@1280x5000", "DemoSource height must be between 16 and 4320, got 5000"),
    ("demo:50x50", "DemoSource 50x50 tiles in 1920x1080 pixels are too small"),
    ("demo:10x10@320x180", "DemoSource 10x10 tiles in 320x180 pixels are too small (28x15); use fewer rows/cols or a larger frame"),
])
def test_a_bad_spec_is_one_source_spec_error_saying_what_was_expected(spec, message):
    with pytest.raises(SourceSpecError) as err:
        parse_source(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_huge_demo_grid_is_refused_at_once():
    with pytest.raises(SourceSpecError, match="too small"):
        parse_source("demo:100000x100000")  # no list of 10**10 tiles is made to find out


def test_parsing_imports_no_source_module_nor_the_libraries_they_need(tmp_path):
    specs = ["demo", "demo:1x1@1280x720", "webcam:1", "screen:2", "screen:0,0,64,64", "window:Zoom", "a.mp4"]
    code = ("import sys; from vcam.sources import parse_source\n"
            f"for spec in {specs!r}: parse_source(spec)\n"
            "heavy = ['cv2', 'mss', 'Xlib', 'av', 'vcam.sources.demo', 'vcam.sources.webcam', 'vcam.sources.screen',\n"
            "         'vcam.sources.window', 'vcam.sources.video']\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
