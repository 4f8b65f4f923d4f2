"""A real X server for tests: Xvfb on a free display number."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest


def start_xvfb(size: str = "1920x1080", number: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start Xvfb with one ``size`` screen on display ``number`` (None: a free one); ``(process, ":N")``.

    Returns once the server accepts connections. ``-noreset``: by default an X
    server resets when its last client leaves, and a client connecting during
    the reset is refused; tests connect and leave often. Fails the test (never
    skips it) when Xvfb is missing: ``.ci/run`` installs it.
    """
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed: run 'bash installer/linux/dev.sh setup' (it installs xvfb)")
    read_fd, write_fd = os.pipe()
    where = [f":{number}"] if number is not None else []
    proc = subprocess.Popen(["Xvfb", *where, "-displayfd", str(write_fd), "-screen", "0", f"{size}x24",
                             "-nolisten", "tcp", "-noreset"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        shown = pipe.readline().strip()  # written once the server accepts connections
    if not shown:
        proc.kill()
        pytest.fail(f"Xvfb did not start{'' if number is None else f' on :{number}'}")
    return proc, f":{shown}"


def stop_xvfb(proc: subprocess.Popen) -> None:
    """Stop an X server started by :func:`start_xvfb` and wait for it to exit."""
    proc.terminate()
    proc.wait(timeout=10)


@contextlib.contextmanager
def xvfb_server(size: str = "1920x1080") -> Iterator[str]:
    """Run Xvfb with one ``size`` screen (e.g. ``"1920x1080"``); yield its DISPLAY string, e.g. ``":3"``."""
    proc, display = start_xvfb(size)
    try:
        yield display
    finally:
        stop_xvfb(proc)


_SHOW_GALLERY = """
import sys
from vcam.outputs.window import WindowOutput
from vcam.sources.demo import DemoSource
with DemoSource(2, 2, 960, 540) as src, WindowOutput(title=sys.argv[1], width=960, height=540) as out:
    for frame in src:
        out.send(frame.image)
        if not out.poll():
            break
"""


def xdotool(display: str, *args: str) -> str:
    """Run ``xdotool ARGS`` on ``display``; its stdout, stripped ('' when it fails)."""
    done = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True,
                          text=True, timeout=10)
    return done.stdout.strip() if done.returncode == 0 else ""


@contextlib.contextmanager
def gallery_window(display: str, title: str) -> Iterator[str]:
    """A 960×540 OpenCV window titled ``title`` showing a live 2×2 demo gallery, in a process of its
    own (as a meeting app's window is); yields its X window id (decimal). Fails the test if it never shows."""
    from waiting import wait_until

    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-c", _SHOW_GALLERY, title], env={**os.environ, "DISPLAY": display},
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def shown() -> bool:
            return bool(xdotool(display, "search", "--onlyvisible", "--name", title)) or proc.poll() is not None

        window = xdotool(display, "search", "--onlyvisible", "--name", title).split() if wait_until(shown, 60, 0.25) else []
        if not window:
            log.seek(0)
            pytest.fail(f"the window {title!r} never appeared:\n{log.read().decode(errors='replace')}")
        yield window[0]
    finally:
        proc.kill()
        proc.wait(timeout=10)
