"""Specs are checked by parsing them: config validation and the daemon's first check build no source or output."""

from __future__ import annotations

import pytest

import vcam.daemon
from vcam.config import Config, parse_value, validate
from vcam.config_file import load_settings, update_file
from vcam.daemon import Daemon
from vcam.errors import ConfigError, OutputSpecError
from vcam.outputs.base import Output
from vcam.outputs.file import FileOutput
from vcam.outputs.null import NullOutput
from vcam.outputs.virtualcam import VirtualCamOutput
from vcam.outputs.window import WindowOutput
from vcam.sources.base import Source
from vcam.sources.demo import DemoSource
from vcam.sources.screen import ScreenSource
from vcam.sources.video import VideoSource
from vcam.sources.webcam import WebcamSource
from vcam.sources.window import WindowSource

CLASSES = (Source, DemoSource, WebcamSource, ScreenSource, WindowSource, VideoSource,
           Output, VirtualCamOutput, WindowOutput, FileOutput, NullOutput)


@pytest.fixture
def nothing_built(monkeypatch) -> list[str]:
    """Make every source and output class fail when constructed; the list names any that were tried."""
    built: list[str] = []

    def refuse(cls):
        def init(self, *args, **kwargs):
            built.append(cls.__name__)
            raise AssertionError(f"{cls.__name__} was built while only checking a spec")
        return init

    for cls in CLASSES:
        monkeypatch.setattr(cls, "__init__", refuse(cls))
    return built


GOOD = [("source", "demo"), ("source", "demo:1x1@1280x720"), ("source", "demo:zoom:n=23:off=3:churn"),
        ("source", "demo:teams:speaker:@1280x720"), ("source", "webcam:1"), ("source", "screen:2"),
        ("source", "screen:0,0,640,360"), ("source", "window:Zoom Meeting"), ("source", "talk.mp4"),
        ("output", "vcam"), ("output", "vcam:obs"), ("output", "window"), ("output", "none"),
        ("output", "file:rec.mp4"), ("fallback_file", "out.mp4")]
BAD = [("source", "foo"), ("source", "demo:0x3"), ("source", "demo:50x50"), ("source", "demo:zoom:n=50"),
       ("source", "demo:skype"), ("source", "window:"),
       ("output", "printer"), ("output", "file:x.avi"), ("fallback_file", "out.avi")]


@pytest.mark.parametrize("key, value", GOOD)
def test_validating_a_good_spec_builds_nothing(nothing_built, key, value):
    assert validate(key, value) == value
    assert nothing_built == []


@pytest.mark.parametrize("key, value", BAD)
def test_refusing_a_bad_spec_builds_nothing(nothing_built, key, value):
    with pytest.raises(ConfigError, match=f"{key} = {value!r} is not allowed"):
        validate(key, value)
    assert nothing_built == []


def test_making_paths_absolute_builds_nothing(nothing_built, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "talk.mp4").write_bytes(b"")
    assert parse_value("source", "talk.mp4") == str(tmp_path / "talk.mp4")
    assert parse_value("output", "file:rec.mp4") == f"file:{tmp_path / 'rec.mp4'}"
    with pytest.raises(ConfigError, match="video file not found: 'gone.mp4'"):
        parse_value("source", "gone.mp4")
    assert nothing_built == []


def test_reading_and_writing_the_config_file_builds_nothing(nothing_built, tmp_path):
    path = tmp_path / "config.toml"
    update_file({"source": "demo:2x2", "output": "file:rec.mp4", "fallback_file": "fb.mp4"}, path)
    assert load_settings(path)["source"] == "demo:2x2"
    assert nothing_built == []


def test_the_daemon_refuses_a_bad_output_spec_before_it_builds_an_output_or_takes_the_source(nothing_built,
                                                                                                 monkeypatch):
    made: list[str] = []
    monkeypatch.setattr(vcam.daemon, "make_source", lambda spec, **kwargs: made.append(spec))
    with pytest.raises(OutputSpecError, match="unknown output 'printer'"):
        Daemon(Config(source="demo", output="printer", feed=False)).start()
    assert made == [] and nothing_built == []


def test_the_daemon_checks_a_good_output_spec_without_building_an_output(nothing_built, monkeypatch):
    class SourceTaken(Exception):
        """Raised where the daemon takes the source: the output check has happened by then."""

    def take(spec, **kwargs):
        raise SourceTaken(spec)

    monkeypatch.setattr(vcam.daemon, "make_source", take)
    with pytest.raises(SourceTaken):
        Daemon(Config(source="demo", output="file:rec.mp4", feed=False)).start()
    assert nothing_built == []
