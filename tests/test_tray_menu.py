"""The tray's menu as plain data (vcam.tray_menu), driven without pystray against a real daemon that is
never started (nothing is opened): ticks, labels, clicks, saving, and what a refused click shows."""

from __future__ import annotations

import pytest

from vcam.config import Config
from vcam.config_file import load_settings
from vcam.daemon import Daemon
from vcam.errors import ConfigError
from vcam.features import FEATURES
from vcam.manifest import emotion_models
from vcam.tray_menu import SEPARATOR, Item, TrayMenu


@pytest.fixture
def menu(tmp_path):
    told: list[str] = []
    m = TrayMenu(Daemon(Config(source="demo", output="none", feed=False)), tmp_path / "config.toml",
                 notify=told.append)
    m.told = told
    return m


def text(item: Item) -> str:
    return item.text if isinstance(item.text, str) else item.text()


def by_text(items: list[Item]) -> dict[str, Item]:
    return {text(i): i for i in items if i is not SEPARATOR}


def test_the_menu_lists_every_feature_of_the_registry_in_order(menu):
    labels = [text(i) for i in menu.items() if i.checked is not None and not i.radio]
    assert labels[:len(FEATURES)] == [f.label for f in FEATURES]
    assert [text(i) for i in menu.items()][-5:] == ["Open dashboard", "Start recording", "Pause analysis", "-", "Quit"]


def test_ticks_read_the_daemon_when_drawn(menu):
    items = by_text(menu.items())
    assert items["Gaze"].checked() is True and items["Identity (face match)"].checked() is False
    menu.daemon.toggle("identity", True)
    assert items["Identity (face match)"].checked() is True


def test_a_click_switches_the_feature_and_saves_it(menu):
    by_text(menu.items())["Emotion"].action()
    assert menu.daemon.is_on("emotion") and load_settings(menu.config_path) == {"emotion": True}
    assert menu.notice[1] == "Emotion on" and menu.told == ["Emotion on"]


def test_eu_mode_locks_emotion_and_a_refused_click_becomes_a_notice(menu):
    by_text(menu.items())["EU mode (no emotion)"].action()
    items = by_text(menu.items())
    assert "Emotion (off in EU mode)" in items
    items["Emotion (off in EU mode)"].action()
    assert not menu.daemon.is_on("emotion") and "turn EU mode off" in menu.notice[1]
    assert load_settings(menu.config_path) == {"eu_mode": True, "emotion": False}


def test_the_emotion_model_submenu_follows_emotion_and_ticks_the_model_in_use(menu):
    labels = [text(i) for i in menu.items()]
    assert labels[labels.index("Emotion") + 1] == "Emotion model"
    models = by_text(by_text(menu.items())["Emotion model"].submenu())
    assert list(models) == [f"{emotion_models()[0]} (default)", *emotion_models()[1:]]
    assert all(item.radio for item in models.values())
    assert [name for name, item in models.items() if item.checked()] == ["emotion-fer (default)"]


def test_gaze_calibration_follows_gaze_and_before_the_start_says_so(menu):
    labels = [text(i) for i in menu.items()]
    assert labels[labels.index("Gaze") + 1] == "Gaze calibration"
    calibration = by_text(by_text(menu.items())["Gaze calibration"].submenu())
    assert list(calibration) == ["Everyone is looking at their screen now", "Forget gaze calibration"]
    calibration["Everyone is looking at their screen now"].action()
    assert menu.notice[1] == "Gaze calibration: vcam is not running: start it, then calibrate"
    assert load_settings(menu.config_path) == {}


def test_choosing_an_emotion_model_switches_the_daemon_and_saves_it(menu):
    by_text(by_text(menu.items())["Emotion model"].submenu())["emotion-face-api"].action()
    assert menu.daemon.config.emotion_model == "emotion-face-api"
    assert load_settings(menu.config_path) == {"emotion_model": "emotion-face-api"}
    assert menu.told == ["emotion model: emotion-face-api (used when Emotion is on)"]
    models = by_text(by_text(menu.items())["Emotion model"].submenu())
    assert [name for name, item in models.items() if item.checked()] == ["emotion-face-api"]


def test_a_name_that_is_no_emotion_model_is_refused_and_the_model_in_use_goes_on(menu):
    with pytest.raises(ConfigError, match="emotion-fer, emotion-face-api"):
        menu.daemon.set_emotion_model("face-descriptor")
    assert menu.daemon.config.emotion_model == "emotion-fer"


def test_a_daemon_not_started_shows_starting_and_then_stopped(menu):
    assert menu.state() == "starting" and menu.title().startswith("vcam: starting · demo")
    menu.started = True
    assert menu.state() == "problem" and "stopped; choose Quit" in menu.title()


def test_the_source_submenu_ticks_the_current_source(menu):
    sources = by_text(by_text(menu.items())["Source"].submenu())
    assert sources["Demo"].checked() is True and sources["Webcam"].checked() is False
    assert sources["Region…"].radio and sources["File…"].radio


def test_a_source_that_cannot_open_says_why_and_nothing_is_saved(menu, tmp_path):
    menu.guarded("Source", lambda: menu.switch_source(str(tmp_path / "gone.mp4")))()
    assert "gone.mp4" in menu.notice[1] and not menu.config_path.exists()
    assert menu.daemon.config.source == "demo"


def test_quit_and_dashboard_items_do_what_they_say(menu):
    quit_calls = []
    menu.quit = lambda: quit_calls.append(1)
    items = by_text(menu.items())
    items["Quit"].action()
    assert quit_calls == [1]
    items["Open dashboard"].action()
    assert "vcam config set feed true" in menu.notice[1], "the feed is off in this daemon"
    assert items["Open dashboard"].default


def test_the_title_is_latin1_and_short_for_every_tray(menu):
    menu.tell("ünïcode ✓ " + "x" * 300)
    title = menu.title()
    assert len(title) <= 120 and title.endswith("...")
    assert "ünïcode ?" in title, "a character X11's Latin-1 titles cannot show becomes ?"
