"""Source specs parse in one place, and every bad source gets one clear message."""

from __future__ import annotations

import pytest

from vcam.errors import SourceError, SourceSpecError
from vcam.sources import open_source
from vcam.sources.screen import ScreenSource
from vcam.sources.video import VideoSource
from vcam.sources.webcam import WebcamSource


def test_specs_pick_the_right_kind_of_source(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    assert isinstance(open_source("webcam"), WebcamSource) and open_source("webcam:2").index == 2
    assert open_source("screen").monitor == 1 and open_source("screen:2").monitor == 2
    assert open_source("screen:10,20,300,200").region == (10, 20, 300, 200)
    assert isinstance(open_source(str(clip)), VideoSource)
    assert type(open_source("demo")).__name__ == "DemoSource"
    one = open_source("demo:1x1@1280x720")
    assert (one.rows, one.cols, one.size) == (1, 1, (1280, 720))
    assert open_source("demo:2x3").size == (1920, 1080)
    assert open_source("window: Zoom Meeting ").title == "Zoom Meeting"  # one parse: part of a title, trimmed


@pytest.mark.parametrize("spec", ["foo", "webcam:x", "screen:1,2,3", "screen:a,b,c,d", "demo:3", "demo:2x2@big", "window:"])
def test_a_spec_that_does_not_parse_names_the_valid_forms(spec):
    with pytest.raises(SourceSpecError) as err:
        open_source(spec)
    assert spec in str(err.value)


def test_a_missing_video_file_says_so():
    with pytest.raises(SourceError, match="video file not found"):
        open_source("no/such/clip.mp4")


def test_a_camera_index_that_does_not_exist_is_one_clear_error():
    with pytest.raises(SourceError, match="no camera at index 9") as err:
        with open_source("webcam:9"):
            pass
    assert "--source demo" in str(err.value)


def test_screen_capture_without_a_display_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceError, match="DISPLAY is not set"):
        ScreenSource("screen").open()


def test_a_source_must_be_opened_before_reading():
    with pytest.raises(SourceError, match="not open"):
        open_source("demo").read()


def test_close_runs_once(monkeypatch):
    src = open_source("demo")
    calls = []
    monkeypatch.setattr(src, "_release", lambda: calls.append(1))
    with src:
        assert src.read().image.shape == (1080, 1920, 3)
    src.close()
    assert calls == [1]
