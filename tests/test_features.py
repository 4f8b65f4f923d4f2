"""One feature registry (vcam.features): the config settings, the command-line flags, the tray's items,
the daemon's toggles and the feed's hello all come from it."""

from __future__ import annotations

import dataclasses

import pytest

from vcam.cli import build_parser
from vcam.config import SETTINGS, Config
from vcam.controls import Controls
from vcam.features import ANALYSIS, ANNOUNCED, FEATURES, Switches, feature
from vcam.feed import schema
from vcam.feed.events import FeedBuilder


def test_every_feature_is_a_config_setting_with_its_default_and_help():
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    for f in FEATURES:
        assert SETTINGS[f.name].type is bool and SETTINGS[f.name].help == f.help
        assert defaults[f.name] is f.default


def test_every_feature_is_a_flag_of_vcam_run_and_the_analysis_ones_of_vcam_analyze():
    parser = build_parser()
    run = parser.parse_args(["run", *(f"--no-{f.name.replace('_', '-')}" for f in FEATURES)])
    assert all(getattr(run, f.name) is False for f in FEATURES)
    assert all(getattr(parser.parse_args(["run"]), f.name) is None for f in FEATURES), "None: the file decides"
    analyze = parser.parse_args(["analyze", "x.mp4", "--json", "o.json"])
    assert {name: getattr(analyze, name) for name in (*ANALYSIS, "eu_mode")} == {
        name: feature(name).default for name in (*ANALYSIS, "eu_mode")}
    with pytest.raises(SystemExit):
        parser.parse_args(["analyze", "x.mp4", "--json", "o.json", "--mirror"])


def test_every_feature_is_a_toggle_and_the_hello_reports_the_analysis_and_privacy_ones():
    assert Controls(Config()).names() == [f.name for f in FEATURES]
    hello = FeedBuilder(("gaze",)).hello()
    assert list(hello["features"]) == list(ANNOUNCED)
    assert schema()["$defs"]["hello"]["properties"]["features"]["required"] == list(ANNOUNCED)


def test_switches_hold_the_analysis_features_only():
    switches = Switches({"gaze": True, "emotion": True})
    assert switches.on() == ("gaze", "emotion") and "emotion" in switches
    switches.set("emotion", False)
    assert switches.on() == ("gaze",)
    with pytest.raises(KeyError, match="mirror"):
        switches.set("mirror", True)
    with pytest.raises(KeyError, match="expected one of gaze, names, identity, emotion"):
        Switches(["blink"])


def test_a_stage_broken_off_is_off_live_and_still_chosen():
    controls = Controls(Config(emotion=True))
    controls.switch_off("emotion")
    assert not controls.is_on("emotion") and controls.config.emotion is True
    assert controls.toggle("emotion") == {"emotion": True} and controls.is_on("emotion")


def test_eu_mode_on_switches_emotion_off_and_says_so():
    controls = Controls(Config(emotion=True))
    assert controls.toggle("eu_mode", True) == {"eu_mode": True, "emotion": False}
    assert not controls.is_on("emotion") and controls.config.emotion is False
