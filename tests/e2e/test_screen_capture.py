"""Screen capture end to end under Xvfb: the demo gallery in a real window, captured, analysed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from vcam.errors import SourceError
from vcam.pipeline import Analyzer
from vcam.sources import make_source


@pytest.fixture(scope="module")
def gallery_window(xvfb):
    """``vcam run`` showing the demo gallery in a 1920×1080 preview window (no annotations)."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "vcam.cli", "run", "--source", "demo", "--output", "window",
                             "--size", "1920x1080", "--no-overlay", "--seconds", "120"],
                            env={**os.environ, "DISPLAY": xvfb}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90  # a cold first start on a busy 2-core machine is slow
    while not _window_shown(xvfb):
        if proc.poll() is not None or time.monotonic() > deadline:
            exited = proc.poll()
            windows = _window_tree(xvfb)  # before the kill: shows whether the window existed but stayed black
            proc.kill()
            proc.wait()
            log.seek(0)
            state = "still running after 90 s" if exited is None else f"exited with {exited}"
            pytest.fail(f"the gallery never appeared on the screen (vcam {state}).\n"
                        f"X windows then:\n{windows}\nvcam's output:\n{log.read().decode()}")
        time.sleep(0.5)
    yield proc
    proc.terminate()
    proc.wait(timeout=20)
    log.seek(0)
    assert proc.returncode == 0, log.read().decode()


def _window_shown(display: str) -> bool:
    with make_source("screen:1", realtime=False) as src:
        return float(src.read().image.std()) > 20


def _window_tree(display: str) -> str:
    """``xwininfo -root -tree`` on ``display``: the windows, their sizes and names, for a failure message."""
    if shutil.which("xwininfo") is None:
        return "(xwininfo is not installed: apt install x11-utils)"
    done = subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
                          capture_output=True, text=True, timeout=10)
    return done.stdout or done.stderr


def test_the_screen_source_captures_the_gallery_and_finds_every_face(gallery_window):
    with make_source("screen:1", fps=10) as src, Analyzer() as analyzer:
        counts = [len(analyzer.process(src.read()).faces) for _ in range(12)]
        assert src.size == (1920, 1080)
    assert counts[-1] == 9, counts
    assert max(counts) == 9


def test_a_screen_region_captures_just_that_region(gallery_window):
    with make_source("screen:100,50,640,360", realtime=False) as src:
        frame = src.read()
    assert frame.image.shape == (360, 640, 3)
    assert frame.image.std() > 10


@pytest.mark.parametrize("spec", ["screen:1800,1000,640,480", "screen:-10,0,100,100", "screen:0,0,0,10"])
def test_a_region_off_the_screen_is_one_clear_error(xvfb, spec):
    with pytest.raises(SourceError, match="not inside the screen") as err:
        make_source(spec).open()
    assert "1920,1080" in str(err.value)


def test_a_monitor_that_does_not_exist_is_one_clear_error(xvfb):
    with pytest.raises(SourceError, match="no monitor 3"):
        make_source("screen:3").open()
