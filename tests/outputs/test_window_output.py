"""The preview window: refused cleanly without a display, real under Xvfb."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from xserver import xvfb_server

from vcam.errors import OutputError
from vcam.outputs import window
from vcam.outputs.window import WindowOutput, bind_system_x11_xcb

REPO = Path(__file__).resolve().parents[2]


def test_with_no_display_opening_a_window_is_an_output_error_not_a_crash(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(OutputError, match="no display to open a preview window on.*file:out.mp4 or none"):
        WindowOutput().open()


def test_wayland_without_xwayland_is_refused_because_opencv_needs_x11(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(OutputError, match="XWayland"):
        WindowOutput().open()


def test_a_display_no_x_server_answers_on_is_an_output_error_not_a_crash(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":97531")
    with pytest.raises(OutputError, match="no X server answers on DISPLAY=:97531"):
        WindowOutput().open()


def test_a_forwarded_display_nobody_listens_on_is_an_output_error(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", "127.0.0.1:5999.0")  # TCP port 11999
    with pytest.raises(OutputError, match="no X server answers"):
        WindowOutput().open()


@pytest.fixture
def xvfb_display():
    """A DISPLAY served by a private Xvfb for this test."""
    with xvfb_server("1280x800") as display:
        yield display


def test_under_xvfb_the_window_shows_frames_and_poll_turns_false_when_the_window_goes(xvfb_display, tmp_path):
    # In a child process: Qt stays bound to this Xvfb, which goes away after the test.
    script = textwrap.dedent("""
        import cv2, numpy as np
        from vcam.outputs import make_output
        with make_output("window", width=320, height=180, mirror=True) as out:
            for i in range(5):
                out.send(np.full((480, 640, 3), 40 * i, np.uint8))
            assert out.poll()
            assert cv2.getWindowProperty("vcam", cv2.WND_PROP_VISIBLE) >= 1
            cv2.destroyWindow("vcam")  # what the window manager does when the user closes it
            cv2.waitKey(1)
            assert not out.poll()
            out.send(np.zeros((10, 10, 3), np.uint8))  # dropped, and the window stays closed
            assert not out.poll()
        print("ok", out.frames_sent)
    """)
    env = {"DISPLAY": xvfb_display, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "6"]


def _run_child(script: str, display: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh Python (Qt binds to one X server per process) on ``display``."""
    env = {"DISPLAY": display, "PATH": "/usr/bin:/bin", "HOME": str(home), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=90)


def test_under_xvfb_the_frames_sent_appear_on_the_screen(xvfb_display, tmp_path):
    # Qt drops every frame while it believes its window is not mapped; then the screen stays black.
    # Frames go on until the screen shows them; the deadline only stops a hang.
    script = """
        import time, mss, numpy as np
        from vcam.outputs import make_output
        colour = np.array([40, 160, 220], np.uint8)  # BGR
        with make_output("window", width=640, height=360) as out, mss.MSS() as screen:
            deadline, share = time.monotonic() + 30, 0.0
            while share < 0.9 and time.monotonic() < deadline and out.poll():
                out.send(np.broadcast_to(colour, (360, 640, 3)).copy())
                shot = np.frombuffer(screen.grab(screen.monitors[1]).bgra, np.uint8).reshape(800, 1280, 4)
                share = float(np.all(np.abs(shot[..., :3].astype(int) - colour) <= 2, axis=-1).sum()) / (640 * 360)
        print(f"{share:.2f}")
    """
    done = _run_child(script, xvfb_display, tmp_path)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) >= 0.9, "the preview window stayed black"


def test_qt_hands_x_events_to_xcb_through_the_system_xlib_not_the_wheels_stale_copy(xvfb_display, tmp_path):
    # The wheel's own libX11-xcb sets the flag at the wrong offset for the system's libX11, and Xlib then
    # swallows events Qt needs (a lost MapNotify leaves the window black). The dynamic loader's log says
    # which copy Qt bound.
    script = """
        import numpy as np
        from vcam.outputs import make_output
        with make_output("window", width=320, height=180) as out:
            out.send(np.zeros((180, 320, 3), np.uint8))
    """
    done = _run_child(script, xvfb_display, tmp_path, LD_DEBUG="bindings", LD_DEBUG_OUTPUT=str(tmp_path / "ld"))
    assert done.returncode == 0, done.stderr
    bindings = [line.split(" to ", 1)[1] for log in tmp_path.glob("ld.*") for line in log.read_text().splitlines()
                if line.endswith("normal symbol `XSetEventQueueOwner'")]
    assert bindings, "Qt never set who reads X events (no binding of XSetEventQueueOwner logged)"
    assert all(".libs/" not in target for target in bindings), f"Qt bound the wheel's own libX11-xcb: {bindings}"


def test_without_a_system_libx11_xcb_binding_fails_softly_with_a_warning_that_says_what_to_install(
        monkeypatch, caplog):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(window, "_SYSTEM_X11_XCB", "libvcam-no-such-library.so.1")
    with caplog.at_level(logging.WARNING, logger="vcam.outputs.window"):
        assert bind_system_x11_xcb() is False
    assert "libvcam-no-such-library.so.1" in caplog.text and "apt install libx11-xcb1" in caplog.text
