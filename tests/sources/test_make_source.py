"""make_source and the SOURCES registry: each spec makes the source it names, unopened; every bad source gets
one clear message."""

from __future__ import annotations

import logging

import pytest

from vcam.errors import ConfigError, SourceError, SourceSpecError
from vcam.sources import SOURCES, SourceSpec, make_source, parse_source
from vcam.sources.demo import DemoSource
from vcam.sources.portal import PortalSource
from vcam.sources.screen import ScreenSource
from vcam.sources.video import VideoSource
from vcam.sources.webcam import WebcamSource
from vcam.sources.window import WindowSource


def test_specs_pick_the_right_kind_of_source(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    assert isinstance(make_source("webcam"), WebcamSource) and make_source("webcam:2").index == 2
    assert make_source("screen").monitor == 1 and make_source("screen:2").monitor == 2
    assert make_source("screen:10,20,300,200").region == (10, 20, 300, 200)
    assert isinstance(make_source(str(clip)), VideoSource)
    assert type(make_source("demo")).__name__ == "DemoSource"
    one = make_source("demo:1x1@1280x720")
    assert (one.rows, one.cols, one.size) == (1, 1, (1280, 720))
    assert make_source("demo:2x3").size == (1920, 1080)
    assert make_source("window: Zoom Meeting ").title == "Zoom Meeting"  # one parse: part of a title, trimmed


@pytest.mark.parametrize("spec", ["foo", "webcam:x", "screen:1,2,3", "screen:a,b,c,d", "demo:3", "demo:2x2@big", "window:"])
def test_a_spec_that_does_not_parse_names_the_valid_forms(spec):
    with pytest.raises(SourceSpecError) as err:
        make_source(spec)
    assert spec in str(err.value)


def test_a_missing_video_file_says_so():
    with pytest.raises(SourceError, match="video file not found"):
        make_source("no/such/clip.mp4")


def test_a_missing_video_file_parses_and_is_reported_when_made_naming_the_path():
    spec = parse_source("no/such/clip.mp4")  # a spec, not an error: the file may appear before the run
    with pytest.raises(SourceError) as err:
        make_source(spec)
    assert not isinstance(err.value, SourceSpecError)
    assert "'no/such/clip.mp4'" in str(err.value) and "relative paths start from" in str(err.value)


def test_a_parsed_spec_makes_the_same_source_as_its_text():
    one = make_source(parse_source("demo:2x2@1280x720"), realtime=False, fps=12)
    assert (type(one), one.rows, one.cols, one.size, one.fps, one.realtime, one.spec) == \
        (DemoSource, 2, 2, (1280, 720), 12.0, False, "demo:2x2@1280x720")


def test_the_registry_has_a_factory_for_every_kind_the_parser_gives(tmp_path, monkeypatch):
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    made = {kind: type(make_source(spec)) for kind, spec in
            [("demo", "demo"), ("webcam", "webcam"), ("screen", "screen"), ("window", "window:Zoom"),
             ("portal", "portal"), ("video", str(clip))]}
    assert made == {"demo": DemoSource, "webcam": WebcamSource, "screen": ScreenSource, "window": WindowSource,
                    "portal": PortalSource, "video": VideoSource}
    assert set(SOURCES) == set(made)


@pytest.mark.parametrize("variable, value", [("WAYLAND_DISPLAY", "wayland-0"), ("XDG_SESSION_TYPE", "wayland")])
def test_on_a_wayland_session_screen_and_window_sources_capture_through_the_portal(monkeypatch, caplog, variable,
                                                                                  value):
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    monkeypatch.setenv(variable, value)
    with caplog.at_level(logging.INFO, logger="vcam.sources"):
        screen, region, window = (make_source(s) for s in ("screen", "screen:10,20,640,360", "window:Zoom Meeting"))
    assert [(type(s), s.kind, s.region) for s in (screen, region, window)] == [
        (PortalSource, "screen", None), (PortalSource, "screen", (10, 20, 640, 360)), (PortalSource, "window", None)]
    assert [s.spec for s in (screen, region, window)] == ["screen", "screen:10,20,640,360", "window:Zoom Meeting"]
    said = [r.getMessage() for r in caplog.records]
    assert sum("Wayland session" in m and "screen-sharing portal" in m for m in said) == 3
    assert any("choose the window titled 'Zoom Meeting'" in m for m in said)


def test_portal_specs_name_what_the_desktops_dialog_offers():
    assert [parse_source(s).title for s in ("portal", "portal:screen", "portal:WINDOW")] == ["any", "screen", "window"]
    with pytest.raises(SourceSpecError, match="use portal, portal:screen or portal:window"):
        parse_source("portal:printer")


def test_a_kind_with_no_factory_is_a_spec_error_listing_the_known_kinds():
    with pytest.raises(SourceSpecError) as err:
        make_source(SourceSpec("printer", "printer:1"))
    assert "'printer'" in str(err.value) and "known kinds are demo, webcam, screen, window, portal, video" in str(err.value)


def test_a_registered_factory_makes_its_kind(monkeypatch):
    calls = []

    def factory(spec, *, realtime, loop, fps):
        calls.append((spec, realtime, loop, fps))
        return DemoSource(rows=1, cols=1, realtime=realtime, spec=spec.text)

    monkeypatch.setitem(SOURCES, "screen", factory)
    src = make_source("screen:2", realtime=False, loop=True, fps=5)
    assert type(src) is DemoSource and calls == [(parse_source("screen:2"), False, True, 5)]


def test_realtime_loop_and_fps_reach_the_source(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    video = make_source(str(clip), realtime=False, loop=True)
    assert (video.realtime, video.loop) == (False, True)
    screen, window = make_source("screen:1", fps=10, realtime=False), make_source("window:Zoom", fps=10)
    assert (screen.fps, screen.realtime, window.fps, window.title) == (10.0, False, 10.0, "Zoom")
    assert make_source("screen").fps == 30.0 and make_source("demo").fps == 30.0, "no fps: the source's default"


def test_an_fps_out_of_range_is_refused_when_made():
    with pytest.raises(ConfigError, match="capture fps must be between 1 and 120, got 500"):
        make_source("screen", fps=500)


def test_a_camera_index_that_does_not_exist_is_one_clear_error():
    with pytest.raises(SourceError, match="no camera at index 9") as err:
        with make_source("webcam:9"):
            pass
    assert "--source demo" in str(err.value)


def test_screen_capture_without_a_display_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceError, match="DISPLAY is not set"):
        ScreenSource("screen").open()


def test_a_source_must_be_opened_before_reading():
    with pytest.raises(SourceError, match="not open"):
        make_source("demo").read()


def test_close_runs_once(monkeypatch):
    src = make_source("demo")
    calls = []
    monkeypatch.setattr(src, "_release", lambda: calls.append(1))
    with src:
        assert src.read().image.shape == (1080, 1920, 3)
    src.close()
    assert calls == [1]
