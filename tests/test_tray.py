"""The tray's menu drives a real daemon (demo source, no output, the feed on a free port).

pystray's ``dummy`` backend builds the same Menu and calls the same items a desktop would,
without a tray to show them in. The file dialog and the browser are the two stand-ins: the
tests hand the tray a function that returns a chosen path or records the URL it was asked to
open; the URL is then fetched for real. Everything else is real: the daemon, its sources,
the feed server and the config file.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from xserver import gallery_window, xvfb_server
from waiting import wait_until

from vcam.cli_tray import _start, add_commands
from vcam.config import Config
from vcam.config_file import load_settings, update_file
from vcam.daemon import Daemon
from vcam.errors import VcamError
from vcam.session import load_session
from vcam.tray import STATE_COLORS, Tray, draw_icon, source_kind


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The dummy pystray backend, and user folders (sessions, the dashboard URL file) in a temporary place."""
    root = tmp_path_factory.mktemp("tray-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYSTRAY_BACKEND", "dummy")
        mp.setenv("XDG_DATA_HOME", str(root / "data"))
        mp.setenv("XDG_RUNTIME_DIR", str(root / "run"))
        mp.delenv("DISPLAY", raising=False)
        yield root


@pytest.fixture(scope="module")
def daemon(env):
    """One running daemon for the module (starting MediaPipe costs seconds); each test puts it back."""
    d = Daemon(Config(source="demo", output="none", port=0), hold=True).start()
    yield d
    d.stop()


@pytest.fixture
def tray(daemon, tmp_path, env):
    """A tray over the shared daemon, saving to its own config file; the daemon is reset afterwards."""
    opened: list[str] = []
    t = Tray(daemon, tmp_path / "config.toml", pick_file=lambda: None, open_url=lambda url: opened.append(url) or True)
    t.opened = opened
    yield t
    t.menu.join_workers(10)
    for feature, on in (("eu_mode", False), ("gaze", True), ("identity", False), ("emotion", False),
                        ("overlay", True), ("mirror", False), ("aggregate_only", False)):
        daemon.toggle(feature, on)
    daemon.resume()
    daemon.stop_recording()
    daemon.set_emotion_model("emotion-fer")
    if daemon.config.source != "demo":
        daemon.set_source("demo")


def items(menu) -> dict[str, object]:
    """The visible items of a pystray Menu by their text."""
    return {item.text: item for item in menu}


def click(tray: Tray, *path: str) -> None:
    """Invoke the item at ``path`` (e.g. "Source", "Demo") as a click would."""
    menu = tray.icon.menu
    for text in path[:-1]:
        menu = items(menu)[text].submenu
    items(menu)[path[-1]](tray.icon)


def dot_color(image) -> tuple[int, int, int]:
    return image.getpixel((50, 50))[:3]


# -- the menu reflects the daemon ------------------------------------------------------
def test_the_menu_ticks_what_the_daemon_runs(tray, daemon):
    menu = items(tray.icon.menu)
    assert menu["Gaze"].checked is True and menu["Identity (face match)"].checked is False
    assert menu["Pause analysis"].checked is False
    source = items(menu["Source"].submenu)
    assert source["Demo"].checked is True and source["Webcam"].checked is False
    daemon.toggle("identity", True)
    assert items(tray.icon.menu)["Identity (face match)"].checked is True


def test_the_title_and_first_line_show_the_state_and_source(tray):
    assert tray.icon.title.startswith("vcam: running · demo")
    first = next(iter(tray.icon.menu))
    assert first.text == tray.menu.title() and first.enabled is False


# -- toggles ---------------------------------------------------------------------------
def test_a_feature_clicked_in_the_menu_switches_the_daemon_and_is_saved(tray, daemon):
    click(tray, "Identity (face match)")
    assert daemon.is_on("identity") and "identity" in daemon.controls.switches
    assert load_settings(tray.menu.config_path) == {"identity": True}
    click(tray, "Identity (face match)")
    assert not daemon.is_on("identity")
    assert load_settings(tray.menu.config_path) == {"identity": False}


def test_every_feature_in_the_menu_reaches_the_daemon(tray, daemon):
    for label, feature in (("Gaze", "gaze"), ("Overlay", "overlay"), ("Mirror video", "mirror"),
                           ("Aggregate only", "aggregate_only"), ("Emotion", "emotion")):
        before = daemon.is_on(feature)
        click(tray, label)
        assert daemon.is_on(feature) is not before, label
        assert load_settings(tray.menu.config_path)[feature] is (not before)
    assert daemon.output.mirror is True


def emotions_shown(daemon: Daemon) -> bool:
    """Whether the newest analysis has faces, every one with its emotion."""
    latest = daemon.latest
    return latest is not None and len(latest.faces) > 0 and bool(np.isfinite(latest.faces.emotion).all())


def test_the_emotion_model_chosen_in_the_menu_runs_from_the_next_frames_and_the_tracks_go_on(tray, daemon, caplog):
    click(tray, "Emotion")
    assert wait_until(lambda: emotions_shown(daemon), 30)
    tracks = set(daemon.latest.faces.track_id.tolist())
    with caplog.at_level(logging.INFO):
        click(tray, "Emotion model", "emotion-face-api")
        assert wait_until(lambda: "face_api_expression.onnx loaded" in caplog.text, 30), caplog.text
    assert "emotion: switching to emotion-face-api" in caplog.text
    assert daemon.config.emotion_model == "emotion-face-api"
    assert tray.menu.notice[1] == "emotion model: emotion-face-api"
    assert load_settings(tray.menu.config_path) == {"emotion": True, "emotion_model": "emotion-face-api"}
    assert wait_until(lambda: emotions_shown(daemon), 30)
    assert set(daemon.latest.faces.track_id.tolist()) == tracks, "the tracker and the other stages went on"
    ticked = [text for text, item in items(items(tray.icon.menu)["Emotion model"].submenu).items() if item.checked]
    assert ticked == ["emotion-face-api"]


def test_gaze_calibration_from_the_menu_makes_the_demo_room_look_and_can_be_forgotten(tray, daemon):
    """The 3x3 demo: Obama's portrait looks into the lens but reads "looking up"; the two portraits with
    lowered eyes look down. Calibrated, the seven into-lens faces look; forgotten, Obama is away again."""
    def room() -> tuple[int, int]:
        """(looking, calibrated) of the newest analysis of the nine faces; (-1, -1) before there is one."""
        latest = daemon.latest
        if latest is None or len(latest.faces) != 9:
            return -1, -1
        return int(latest.faces.on_screen.sum()), int(latest.faces.gaze_calibrated.sum())

    start = daemon.stats.analysed
    assert wait_until(lambda: daemon.stats.analysed >= start + 6 and 0 <= room()[0] <= 6, 30)  # as a presenter would
    click(tray, "Gaze calibration", "Everyone is looking at their screen now")
    told = re.fullmatch(r"gaze calibrated for (\d) of (\d) people(; \d had their eyes closed .*)?", tray.menu.notice[1])
    assert told and int(told[1]) >= 7, tray.menu.notice[1]
    assert wait_until(lambda: room()[1] >= 7 and room()[0] >= 7, 10), room()
    assert load_settings(tray.menu.config_path) == {}, "a calibration belongs to this run"
    click(tray, "Gaze calibration", "Forget gaze calibration")
    assert re.fullmatch(r"gaze calibration forgotten for \d+ people", tray.menu.notice[1])
    assert wait_until(lambda: room()[1] == 0 and 0 <= room()[0] <= 6, 10), room()
    click(tray, "Gaze")
    click(tray, "Gaze calibration", "Everyone is looking at their screen now")
    assert tray.menu.notice[1] == "Gaze calibration: gaze is off: switch Gaze on, then calibrate"


def test_vcam_gaze_from_another_launch_calibrates_like_the_menu(tray, daemon):
    start = daemon.stats.analysed
    assert wait_until(lambda: daemon.stats.analysed >= start + 6, 30)
    tray.on_message("calibrate-gaze")
    assert re.fullmatch(r"gaze calibrated for \d of 9 people.*", tray.menu.notice[1]), tray.menu.notice[1]
    tray.on_message("forget-gaze")
    assert re.fullmatch(r"gaze calibration forgotten for \d+ people", tray.menu.notice[1])


def test_eu_mode_from_the_menu_turns_emotion_off_and_saves_both(tray, daemon):
    click(tray, "Emotion")
    click(tray, "EU mode (no emotion)")
    assert daemon.is_on("eu_mode") and not daemon.is_on("emotion")
    assert load_settings(tray.menu.config_path) == {"emotion": False, "eu_mode": True}


def test_a_refused_click_is_shown_and_the_tray_keeps_working(tray, daemon):
    click(tray, "EU mode (no emotion)")
    click(tray, "Emotion (off in EU mode)")
    assert not daemon.is_on("emotion")
    assert "turn EU mode off" in tray.menu.notice[1] and "emotion inference is off in EU mode" in tray.icon.title
    assert load_settings(tray.menu.config_path) == {"eu_mode": True, "emotion": False}  # as EU mode saved it
    click(tray, "Gaze")
    assert not daemon.is_on("gaze")


def test_a_broken_config_file_keeps_the_change_live_and_says_it_is_not_saved(tray, daemon):
    tray.menu.config_path.write_text("identity = \n")  # not TOML
    click(tray, "Identity (face match)")
    assert daemon.is_on("identity")
    assert "not saved" in tray.menu.notice[1] and str(tray.menu.config_path) in tray.menu.notice[1]
    assert tray.menu.config_path.read_text() == "identity = \n"


# -- pause, recording, dashboard -----------------------------------------------------------
def test_pause_from_the_menu_stops_analysis_and_greys_the_icon(tray, daemon):
    click(tray, "Pause analysis")
    assert daemon.paused and daemon.state == "paused"
    assert items(tray.icon.menu)["Pause analysis"].checked is True
    assert dot_color(tray.icon.icon) == STATE_COLORS["paused"]
    click(tray, "Pause analysis")
    assert not daemon.paused
    assert dot_color(tray.icon.icon) == STATE_COLORS["running"]


def test_recording_started_and_stopped_from_the_menu_leaves_a_session(tray, daemon, env):
    click(tray, "Start recording")
    folder = daemon.recording
    assert folder is not None and folder.is_relative_to(env / "data")
    assert "Stop recording" in items(tray.icon.menu)
    assert tray.icon.icon.getpixel((7, 7))[:3] == (192, 57, 43)  # the recording dot
    time.sleep(1.5)  # the timeline is written once per second
    click(tray, "Stop recording")
    assert daemon.recording is None and str(folder) in tray.menu.notice[1]
    assert "ended" in load_session(folder).metadata


def test_open_dashboard_opens_the_feeds_private_url(tray, daemon):
    click(tray, "Open dashboard")
    assert tray.menu.join_workers(10)
    assert tray.opened == [daemon.dashboard_url]
    assert "token=" in tray.opened[0]
    with urllib.request.urlopen(tray.opened[0], timeout=10) as reply:
        assert reply.status == 200 and b"<html" in reply.read().lower()


def test_open_dashboard_is_the_default_item_for_a_tray_without_a_menu(tray, daemon):
    tray.icon.menu(tray.icon)  # what pystray's X11 backend does on a left click
    assert tray.menu.join_workers(10)
    assert tray.opened == [daemon.dashboard_url]


def test_a_browser_that_fails_to_start_shows_the_url_to_open(tray, daemon):
    tray.menu.open_url = lambda url: False
    click(tray, "Open dashboard")
    assert tray.menu.join_workers(10)
    assert daemon.dashboard_url in tray.menu.notice[1] and "no browser" in tray.menu.notice[1]


def test_another_launch_saying_show_opens_the_dashboard(tray, daemon):
    tray.on_message("show")
    assert tray.menu.join_workers(10)
    assert tray.opened == [daemon.dashboard_url]


def test_open_dashboard_with_the_feed_off_says_how_to_turn_it_on(env, tmp_path):
    idle = Daemon(Config(source="demo", output="none", feed=False))  # never started: no camera taken
    t = Tray(idle, tmp_path / "config.toml")
    click(t, "Open dashboard")
    assert "vcam config set feed true" in t.menu.notice[1]


# -- sources ---------------------------------------------------------------------------
@pytest.fixture
def video(tmp_path) -> Path:
    """A real 2-second 320×240 mp4 file."""
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for i in range(20):
        writer.write(np.full((240, 320, 3), i * 10, np.uint8))
    writer.release()
    return path


def test_a_file_chosen_from_the_menu_becomes_the_live_source_and_is_saved(tray, daemon, video):
    tray.menu.pick_file = lambda: str(video)
    click(tray, "Source", "File…")
    assert tray.menu.join_workers(20)
    assert daemon.config.source == str(video)
    assert wait_until(lambda: daemon.source.spec == str(video), 20)  # the capture thread took it
    assert load_settings(tray.menu.config_path) == {"source": str(video)}
    source = items(items(tray.icon.menu)["Source"].submenu)
    assert source["File: clip.mp4…"].checked is True and source["Demo"].checked is False
    click(tray, "Source", "Demo")
    assert daemon.config.source == "demo" and load_settings(tray.menu.config_path) == {"source": "demo"}


def test_a_source_that_cannot_open_is_shown_and_the_old_one_goes_on(tray, daemon, tmp_path):
    missing = tmp_path / "gone.mp4"
    tray.menu.pick_file = lambda: str(missing)
    click(tray, "Source", "File…")
    assert tray.menu.join_workers(20)
    assert daemon.config.source == "demo" and daemon.running
    assert str(missing) in tray.menu.notice[1]
    assert not tray.menu.config_path.exists()


def test_a_cancelled_file_dialog_changes_nothing(tray, daemon):
    click(tray, "Source", "File…")
    assert tray.menu.join_workers(20)
    assert daemon.config.source == "demo" and tray.menu.notice is None


def test_region_with_none_set_explains_how_to_set_one(tray, daemon):
    click(tray, "Source", "Region…")
    assert "vcam config set source screen:X,Y,W,H" in tray.menu.notice[1]
    assert daemon.config.source == "demo"


def test_screens_and_a_saved_region_are_offered_and_captured_for_real(tray, daemon, monkeypatch):
    with xvfb_server("1280x720") as display:
        monkeypatch.setenv("DISPLAY", display)
        update_file({"source": "screen:0,0,640,360"}, tray.menu.config_path)  # as 'vcam config set' would
        source = items(items(tray.icon.menu)["Source"].submenu)
        assert "Screen 1 (1280×720)" in source
        click(tray, "Source", "Region 0,0,640,360")
        assert daemon.config.source == "screen:0,0,640,360"
        assert wait_until(lambda: daemon.source.spec == "screen:0,0,640,360", 20)
        assert items(items(tray.icon.menu)["Source"].submenu)["Region 0,0,640,360"].checked is True
        click(tray, "Source", "Screen 1 (1280×720)")
        assert wait_until(lambda: daemon.source.spec == "screen:1", 20)
        click(tray, "Source", "Demo")
        assert wait_until(lambda: daemon.source.spec == "demo", 20)
    assert load_settings(tray.menu.config_path) == {"source": "demo"}


def test_open_windows_are_offered_and_the_one_chosen_is_captured_for_real(tray, daemon, monkeypatch):
    with xvfb_server("1280x720") as display, gallery_window(display, "Zoom Meeting - tray test"):
        monkeypatch.setenv("DISPLAY", display)
        windows = items(items(items(tray.icon.menu)["Source"].submenu)["Window"].submenu)
        assert list(windows) == ["Zoom Meeting - tray test"]  # vcam's own windows are never offered
        click(tray, "Source", "Window", "Zoom Meeting - tray test")
        assert daemon.config.source == "window:Zoom Meeting - tray test"
        assert wait_until(lambda: daemon.source.spec == "window:Zoom Meeting - tray test", 20)
        assert daemon.source.size == (960, 540)
        windows = items(items(items(tray.icon.menu)["Source"].submenu)["Window"].submenu)
        assert windows["Zoom Meeting - tray test"].checked is True
        click(tray, "Source", "Demo")
        assert wait_until(lambda: daemon.source.spec == "demo", 20)
    assert load_settings(tray.menu.config_path) == {"source": "demo"}


def test_with_no_other_window_the_window_menu_says_so(tray):
    windows = items(items(items(tray.icon.menu)["Source"].submenu)["Window"].submenu)  # no DISPLAY here
    assert list(windows) == ["no other window is open"] and not windows["no other window is open"].enabled


def test_source_kinds_name_the_item_to_tick():
    specs = ("webcam:1", "screen", "screen:2", "screen:0,0,64,64", "demo:2x2", "window:Zoom", "a.mp4")
    assert [source_kind(s) for s in specs] == ["webcam", "screen:1", "screen:2", "region", "demo", "window:Zoom", "file"]


# -- the picture ---------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["running", "paused", "problem"])
def test_the_icon_shows_the_state_by_the_colour_of_its_dot(state):
    image = draw_icon(state)
    assert image.size == (64, 64) and image.mode == "RGBA"
    assert dot_color(image) == STATE_COLORS[state]
    assert dot_color(draw_icon(state, size=22).resize((64, 64))) == pytest.approx(STATE_COLORS[state], abs=40)


# -- quitting ----------------------------------------------------------------------------
def test_quit_from_the_menu_stops_the_daemon_and_flushes_its_recording(env, tmp_path):
    d = Daemon(Config(source="demo", output="none", port=0, gaze=False), hold=True).start()
    t = Tray(d, tmp_path / "config.toml")
    folder = d.start_recording(str(tmp_path / "session"))
    url = d.dashboard_url
    click(t, "Quit")
    assert not d.running and d.recording is None
    assert "ended" in load_session(folder).metadata
    with pytest.raises(OSError):  # the feed's port is released
        urllib.request.urlopen(url, timeout=5)
    t.stop()  # a second stop (e.g. SIGTERM after Quit) is harmless


def test_another_launch_saying_quit_stops_the_tray(env, tmp_path):
    d = Daemon(Config(source="demo", output="none", feed=False, gaze=False), hold=True).start()
    t = Tray(d, tmp_path / "config.toml")
    t.on_message("quit")
    assert wait_until(lambda: not d.running, 20)


# -- the command -------------------------------------------------------------------------
def test_vcam_tray_without_a_desktop_says_to_use_vcam_run(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tray"])
    with pytest.raises(VcamError, match=r"no desktop session .*use 'vcam run'"):
        args.handler(args)


def test_a_configured_source_that_cannot_open_yet_starts_with_source_lost_and_keeps_trying(env):
    """The tray never sends the demo's strangers to a meeting because the camera is not plugged in yet."""
    d = Daemon(Config(source="webcam:7", output="none", feed=False, gaze=False), hold=True)
    try:
        assert _start(d) is None
        assert d.running and d.config.source == "webcam:7"
        assert wait_until(lambda: d.problem is not None and "no camera at index 7" in d.problem, 10)
        assert d.capture.lost[0] == "source_lost"
    finally:
        d.stop()


def test_a_configured_source_that_is_no_source_at_all_starts_the_demo_and_says_why(env, monkeypatch):
    d = Daemon(Config(source="demo", output="none", feed=False, gaze=False), hold=True)
    d.config.source = "printer:1"  # as a config file edited by hand could hold
    try:
        message = _start(d)
        assert d.running and d.config.source == "demo"
        assert "printer:1" in message and "choose another source" in message
    finally:
        d.stop()
