"""``window:TITLE`` under Xvfb: a real meeting-like window (a 2×2 gallery of real portraits in an
OpenCV window, in a process of its own) found by its title, captured, followed when it moves, and
given up with SourceLost when it is resized or closed."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from waiting import wait_until
from xserver import gallery_window, xdotool

from vcam.errors import SourceError, SourceLost
from vcam.pipeline import Analyzer
from vcam.sources import make_source
from vcam.sources.window import FOLLOW_S, find_window, window_titles

TITLE = "Zoom Meeting - vcam test"


@pytest.fixture
def meeting(xvfb: str) -> Iterator[str]:
    """A window titled TITLE showing a 2×2 gallery, 960×540; yields its X window id (decimal)."""
    with gallery_window(xvfb, TITLE) as window:
        yield window


def _faces(src, analyzer: Analyzer, frames: int = 8) -> int:
    """Faces found in the last of ``frames`` frames of ``src``."""
    counts = [len(analyzer.process(src.read()).faces) for _ in range(frames)]
    return counts[-1]


def test_the_window_is_found_by_part_of_its_title_in_any_case_and_its_faces_are_found(meeting):
    with make_source("window:zoom meeting", fps=10) as src, Analyzer() as analyzer:
        assert src.size == (960, 540)
        assert _faces(src, analyzer) == 4


def test_the_capture_follows_the_window_when_it_moves(meeting, xvfb):
    with make_source("window:Zoom Meeting", fps=10) as src, Analyzer() as analyzer:
        assert _faces(src, analyzer) == 4
        xdotool(xvfb, "windowmove", meeting, "900", "500")
        with make_source("screen:0,0,900,500", realtime=False) as left_behind:  # where the window was
            assert wait_until(lambda: left_behind.read().image.std() < 5, 10)
        assert _faces(src, analyzer, frames=int(FOLLOW_S * 10) + 8) == 4
        assert src.size == (960, 540)


def test_a_resized_window_ends_the_stream_and_reopens_at_its_new_size(meeting, xvfb):
    with make_source("window:Zoom Meeting", fps=10) as src:
        src.read()
        xdotool(xvfb, "windowsize", meeting, "640", "360")
        with pytest.raises(SourceLost, match="changed size"):
            wait_until(lambda: src.read() is None, 10)
    with make_source("window:Zoom Meeting", realtime=False) as again:
        assert again.size == (640, 360)


def test_a_closed_window_ends_the_stream_with_source_lost(meeting, xvfb):
    with make_source("window:Zoom Meeting", fps=10) as src:
        src.read()
        xdotool(xvfb, "windowkill", meeting)
        with pytest.raises(SourceLost, match="was closed|minimised"):
            wait_until(lambda: src.read() is None, 10)


def test_no_such_window_is_one_clear_error_listing_the_titles_there_are(meeting):
    with pytest.raises(SourceError, match="no window whose title contains 'Teams'") as err:
        make_source("window:Teams").open()
    assert TITLE in str(err.value)


def test_only_windows_that_can_hold_a_meeting_are_offered_or_captured(xvfb):
    """vcam's own windows (the preview would capture itself), panels and tiny windows are skipped."""
    import Xlib.display
    from Xlib import Xatom

    display = Xlib.display.Display()
    try:
        screen = display.screen()

        def window(name: str, size: tuple[int, int], pid: int, kind: str = "NORMAL") -> object:
            made = screen.root.create_window(0, 0, *size, 0, screen.root_depth)
            made.set_wm_name(name)
            made.change_property(display.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [pid])
            made.change_property(display.intern_atom("_NET_WM_WINDOW_TYPE"), Xatom.ATOM, 32,
                                 [display.intern_atom(f"_NET_WM_WINDOW_TYPE_{kind}")])
            made.map()
            return made

        other = os.getpid() + 1
        meeting = window("Meeting in another app", (400, 300), other)
        window("vcam preview", (400, 300), os.getpid())
        window("Panel", (1280, 24), other)
        window("Taskbar", (1280, 200), other, kind="DOCK")
        display.sync()
        assert window_titles() == ["Meeting in another app"]
        found, title = find_window(display, "meeting")
        assert (found.id, title) == (meeting.id, "Meeting in another app")
        for name in ("vcam preview", "Panel", "Taskbar"):
            with pytest.raises(SourceError, match="no window"):
                find_window(display, name)
    finally:
        display.close()


def test_window_capture_without_a_display_says_what_to_use(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SourceError, match="needs an X11 display"):
        make_source("window:Zoom").open()


def test_the_frames_are_the_windows_pixels(meeting, xvfb):
    """Frame pixels equal a screen grab of the window's rectangle (no scaling, no offset)."""
    geometry = xdotool(xvfb, "getwindowgeometry", "--shell", meeting)
    values = dict(line.split("=") for line in geometry.splitlines())
    x, y = int(values["X"]), int(values["Y"])
    with make_source("window:Zoom Meeting", realtime=False) as src, \
            make_source(f"screen:{x},{y},960,540", realtime=False) as screen:
        pairs = [(src.read().image, screen.read().image) for _ in range(6)]
    assert min(float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in pairs) < 2.0
