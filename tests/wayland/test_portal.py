"""Capture through the ScreenCast portal on a real headless Wayland desktop (sway, PipeWire,
xdg-desktop-portal and its wlr backend; see :mod:`stack`): the meeting's faces, tiles and names found, the
choice asked once and restored with the saved token, a stream that ends reported lost and recovered,
a cancelled choice one clear error."""

from __future__ import annotations

import logging
import stat
import threading
import time

import pytest
from stack import OUTPUT, SYSTEM_BACKEND, WaylandStack
from waiting import wait_until

from vcam.capture import Capture
from vcam.errors import SourceError, SourceLost
from vcam.pipeline import Analyzer
from vcam.sources import choose_again, make_source
from vcam.sources.portal import PortalSource, state_folder
from vcam.threads import Stats

READABLE = {"Grace Hopper", "Eileen Collins", "Barack Obama", "Joe Biden"}
"""Names on the demo's first tiles that the name reader reads exactly (tests/pipeline/test_names.py)."""


def _analyse_until_named(source, analyzer: Analyzer, frames: int = 150):  # noqa: ANN001, ANN202
    """Analyse ``source``'s frames until every readable name is read (or ``frames`` run out); the last Analysis."""
    analysis = None
    for _ in range(frames):
        analysis = analyzer.process(source.read())
        named = {n for n in (analysis.faces.participant if len(analysis.faces) else []) if n}
        if READABLE <= named and len(analysis.faces) == 6:
            break
    return analysis


def test_vcam_finds_the_meetings_faces_tiles_and_names_through_the_portal(on_desktop):
    with make_source("portal", fps=10) as source, Analyzer(("gaze", "names")) as analyzer:
        assert source.size == (1280, 720)
        started = time.monotonic()
        analysis = _analyse_until_named(source, analyzer)
        assert len(analysis.faces) == 6
        assert analysis.layout is not None and len(analysis.layout.tiles) == 6
        assert READABLE <= set(analysis.faces.participant)
        frame = source.read()
        assert started <= frame.captured <= time.monotonic(), "a frame carries when it was captured"


def test_screen_on_a_wayland_session_is_captured_through_the_portal_and_a_region_is_cut_from_it(on_desktop, caplog):
    with caplog.at_level(logging.INFO, logger="vcam.sources"):
        with make_source("screen:0,0,640,360", fps=10) as region, make_source("screen", fps=10) as screen:
            whole, part = screen.read().image, region.read().image
    assert isinstance(region, PortalSource) and (whole.shape, part.shape) == ((720, 1280, 3), (360, 640, 3))
    assert any("Wayland session" in r.getMessage() for r in caplog.records)
    assert whole[:360, :640].std() > 10, "the shared screen shows the gallery, not a blank"


def test_the_choice_is_asked_once_then_restored_from_the_saved_private_token(on_desktop):
    choose_again("portal")
    asked = on_desktop.chooser_calls()
    with make_source("portal", fps=10) as source:
        source.read()
    assert on_desktop.chooser_calls() == asked + 1
    token_file = state_folder() / "portal.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    for _ in range(2):
        with make_source("portal", fps=10) as source:
            assert source.read().image.std() > 10
    assert on_desktop.chooser_calls() == asked + 1, "a saved choice is restored without asking"
    assert on_desktop.log("backend", lines=0).count("restoring session from data") >= 2


def test_a_stream_that_ends_is_source_lost_and_the_capture_reconnects_with_the_saved_choice(on_desktop, caplog):
    with make_source("portal", fps=10) as source:  # a choice saved
        source.read()
    asked = on_desktop.chooser_calls()
    stop, stats, placards = threading.Event(), Stats(), []
    capture = Capture(make_source("portal", fps=10).open(), lambda spec: make_source(spec, fps=10), size=(1280, 720),
                      hold=True, stop=stop, stats=stats, send=placards.append, changed=lambda: None)
    try:
        assert capture.read().index >= 0
        on_desktop.end_sharing()
        with caplog.at_level(logging.INFO, logger="vcam"):
            frames = [capture.read() for _ in range(20)]
    finally:
        stop.set()
        capture.close()
    assert (stats.source_lost, stats.reconnects) == (1, 1)
    assert all(f is not None and f.index >= 0 for f in frames[-5:]), "frames flow again after the reconnect"
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "the shared screen's stream ended" in said and "restored without a dialog" in said
    assert on_desktop.chooser_calls() == asked, "the reconnect did not ask the user again"


def test_a_cancelled_choice_is_one_clear_error_and_is_not_asked_again_until_chosen_again(on_desktop):
    choose_again("portal:screen")
    on_desktop.cancel_flag.touch()
    asked = on_desktop.chooser_calls()
    with pytest.raises(SourceError, match="cancelled in the desktop's dialog"):
        make_source("portal:screen").open()
    with pytest.raises(SourceError, match="choose the source again from the tray"):
        make_source("portal:screen").open()  # a reconnect must not pop the dialog up again
    assert on_desktop.chooser_calls() == asked + 1
    on_desktop.cancel_flag.unlink()
    choose_again("portal:screen")  # what the tray does when the source is chosen again
    with make_source("portal:screen", fps=10) as source:
        assert source.size == (1280, 720)
    assert on_desktop.chooser_calls() == asked + 2


def test_a_new_screen_size_ends_the_stream_and_it_reopens_at_that_size(on_desktop):
    try:
        with make_source("portal", fps=10) as source:
            assert source.read().size == (1280, 720)
            on_desktop.swaymsg("output", OUTPUT, "resolution", "960x540")
            with pytest.raises(SourceLost, match="changed size"):
                wait_until(lambda: source.read() is None, 20)
        with make_source("portal", fps=10) as again:
            assert again.read().size == (960, 540)
    finally:
        on_desktop.swaymsg("output", OUTPUT, "resolution", "1280x720")


def test_without_a_portal_on_the_bus_the_error_says_what_to_install(on_desktop, monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    with pytest.raises(SourceError, match="session bus"):
        make_source("portal").open()


def test_debians_own_backend_on_a_machine_without_a_gpu_fails_with_one_clear_error(monkeypatch):
    """Debian 12's xdg-desktop-portal-wlr 0.7.0 starts no cast without DMA-BUF (see :mod:`stack`)."""
    stack = WaylandStack(SYSTEM_BACKEND).start()
    try:
        for key in ("XDG_RUNTIME_DIR", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            monkeypatch.setenv(key, stack.env[key])
        with pytest.raises(SourceError, match="refused screen sharing|refused Start"):
            make_source("portal").open()
        assert "unable to receive a valid format from wlr_screencopy" in stack.log("backend")
    finally:
        stack.stop()


def test_the_doctor_on_the_wayland_desktop_finds_the_portal_and_its_version(on_desktop):
    from vcam import doctor

    check = doctor.check_screen_sharing()
    assert check.status == doctor.OK
    assert "ScreenCast portal version 4 (remembers the choice)" in check.detail


def test_the_trays_source_menu_on_wayland_offers_the_desktops_dialog_and_choosing_it_asks_again(on_desktop,
                                                                                                 tmp_path):
    from vcam.config import Config
    from vcam.config_file import load_settings
    from vcam.daemon import Daemon
    from vcam.tray_menu import TrayMenu

    with make_source("portal", fps=10) as source:  # a choice saved
        source.read()
    menu = TrayMenu(Daemon(Config(source="demo", output="none", feed=False)), tmp_path / "config.toml",
                    notify=lambda _: None)
    sources = {i.text: i for i in next(i for i in menu.items() if i.text == "Source").submenu()}
    assert list(sources) == ["Webcam", "Screen or window…", "Demo", "File…"]
    asked = on_desktop.chooser_calls()
    sources["Screen or window…"].action()
    assert on_desktop.chooser_calls() == asked + 1, "choosing the source in the tray asks the desktop again"
    assert menu.daemon.config.source == "portal" and load_settings(menu.config_path)["source"] == "portal"
    assert sources["Screen or window…"].checked()


def test_vcam_run_source_portal_records_the_shared_meeting(on_desktop, tmp_path):
    """The command a presenter types on a Wayland desktop, in a process of its own."""
    import os
    import subprocess
    import sys

    import av

    out = tmp_path / "meeting.mp4"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    result = subprocess.run([sys.executable, "-m", "vcam.cli", "run", "--source", "portal", "--output", f"file:{out}",
                             "--frames", "30"], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
    assert frames >= 15 and "Traceback" not in result.stderr
    token = tmp_path / "state" / "vcam" / "portal.json"
    assert token.exists(), "the choice is kept for the next run"


def test_vcam_run_on_a_cancelled_dialog_is_one_line_and_exit_2(on_desktop, tmp_path):
    import os
    import subprocess
    import sys

    on_desktop.cancel_flag.touch()
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    result = subprocess.run([sys.executable, "-m", "vcam.cli", "run", "--source", "portal", "--output", "none",
                             "--frames", "5"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    assert "cancelled in the desktop's dialog" in result.stderr and "Traceback" not in result.stderr


def test_the_tray_started_on_a_cancelled_dialog_keeps_running_with_source_lost_until_the_source_is_chosen(
        on_desktop, fake_cam):
    from vcam.config import Config
    from vcam.daemon import Daemon

    name, devices = fake_cam
    choose_again("portal")
    on_desktop.cancel_flag.touch()
    daemon = Daemon(Config(source="portal", output=f"vcam:{name}", feed=False), hold=True).start()
    try:
        assert wait_until(lambda: daemon.problem is not None and len(devices[0].frames) >= 3, 20)
        assert daemon.capture.lost[0] == "source_lost" and "cancelled" in daemon.problem
        asked = on_desktop.chooser_calls()
        time.sleep(2)  # the reconnects meanwhile
        assert on_desktop.chooser_calls() == asked, "a cancelled dialog is not shown again by the reconnects"
        on_desktop.cancel_flag.unlink()
        daemon.set_source("portal")
        assert wait_until(lambda: daemon.problem is None and daemon.stats.analysed > 0, 30)
    finally:
        daemon.stop()
