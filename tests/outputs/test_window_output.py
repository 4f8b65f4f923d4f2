"""The preview window: refused cleanly without a display, real under Xvfb."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from xserver import xvfb_server

from vcam.errors import OutputError
from vcam.outputs.window import WindowOutput

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
        from vcam.outputs import open_output
        with open_output("window", width=320, height=180, mirror=True) as out:
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
