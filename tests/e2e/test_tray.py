"""``vcam tray`` as a user runs it: a real tray icon under Xvfb, docked in a real tray (trayer).

Each test starts ``python -m vcam tray`` with a config file that selects the demo source and no
video output, waits until its icon window is docked in trayer, then ends it the way a desktop
would: SIGTERM (logout) or the single-instance "quit" message (``vcam quit``). It must exit 0
and leave nothing behind: no icon window, no instance lock, no dashboard URL file.

The one stand-in is the browser: ``BROWSER`` names a shell line that writes the URL it was given
to a file, which the test then fetches for real. The D-Bus session bus is left out, so the tray
uses pystray's X11 backend (or falls back to it when PyGObject is installed); the GTK test gives
it a private session bus, so it uses the appindicator backend and its real GTK menu.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from waiting import wait_until
from xserver import xvfb_server

from vcam import instance
from vcam.features import FEATURES

VCAM = [sys.executable, "-m", "vcam"]
START_S = 120.0
"""Seconds a cold start may take on a busy 2-core machine (MediaPipe loads before the icon shows)."""


@pytest.fixture(scope="module")
def tray_host(xvfb: str) -> Iterator[str]:
    """trayer running on the Xvfb display, owning the system tray selection; yields DISPLAY."""
    proc = start_trayer(xvfb)
    try:
        yield xvfb
    finally:
        stop_trayer(proc)


def start_trayer(display: str) -> subprocess.Popen:
    """trayer on ``display``, once it owns the system tray selection."""
    if shutil.which("trayer") is None or shutil.which("xdotool") is None:
        pytest.fail("trayer and xdotool are not installed: run 'bash installer/linux/dev.sh setup'")
    proc = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height",
                             "24"], env={**os.environ, "DISPLAY": display}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not _wait(lambda: _tray_owner(display) is not None, 20):
        stop_trayer(proc)
        pytest.fail("trayer never took the system tray selection")
    return proc


def stop_trayer(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def launch(tray_host: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """``launch(*args)`` runs ``vcam ARGS`` on the tray's display with a demo/no-output config; all are reaped."""
    config = tmp_path / "config.toml"
    config.write_text('source = "demo"\noutput = "none"\nport = 0\n')
    opened = tmp_path / "opened.txt"
    env = {**os.environ, "DISPLAY": tray_host, "VCAM_CONFIG": str(config), "PYTHONFAULTHANDLER": "1",
           "BROWSER": f"sh -c 'echo \"$0\" > {opened}' %s",
           "XDG_RUNTIME_DIR": str(tmp_path / "run"), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    (tmp_path / "run").mkdir(mode=0o700)
    procs: list[subprocess.Popen] = []

    def start(*args: str, bus: str | None = None, display: str | None = None) -> subprocess.Popen:
        log = tempfile.TemporaryFile()
        extra = {"DBUS_SESSION_BUS_ADDRESS": bus} if bus else {}
        extra.update({"DISPLAY": display} if display else {})
        proc = subprocess.Popen([*VCAM, *args], env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT)
        proc.log = log
        procs.append(proc)
        return proc

    start.runtime = tmp_path / "run"
    start.opened = opened
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    return proc.log.read().decode(errors="replace")


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    return wait_until(condition, timeout, interval=0.25)  # each look runs an X tool


def _x(display: str, *command: str) -> str:
    """Run an X client; its stdout ('' when it fails). A timeout fails the test: the X server hung."""
    try:
        done = subprocess.run(command, env={**os.environ, "DISPLAY": display}, capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command[0]} did not answer in 10 s: the X server is stuck (a client holds a grab)")
    return done.stdout.decode("latin-1") if done.returncode == 0 else ""  # X11 STRING properties are Latin-1


def _tray_owner(display: str) -> str | None:
    """The window owning the system tray selection of screen 0, or None."""
    owner = _x(display, sys.executable, "-c", "import Xlib.display as d; x = d.Display(); "
               "print(x.get_selection_owner(x.intern_atom('_NET_SYSTEM_TRAY_S0')).id)").strip()
    return owner if owner not in ("", "0") else None


def icon_windows(display: str) -> list[str]:
    """Ids of windows named like the tray icon's title (``vcam: STATE · SOURCE …``)."""
    return _x(display, "xdotool", "search", "--name", "^vcam: ").split()


def docked_icon(display: str) -> str | None:
    """The icon window's id once it sits inside the tray (its parent is not the root window), else None."""
    for window in icon_windows(display):
        tree = _x(display, "xwininfo", "-id", window, "-tree")
        root = re.search(r"Root window id: (0x[0-9a-f]+)", tree)
        parent = re.search(r"Parent window id: (0x[0-9a-f]+)", tree)
        if root and parent and parent.group(1) != root.group(1):
            return window
    return None


def started(proc: subprocess.Popen, display: str) -> str:
    """Wait for the docked icon of ``proc``; its window id.

    The id is the one seen docked, not a second lookup: pystray asks the tray to dock again on every
    icon update, and trayer re-embeds the same window, so for a moment its parent can be the root.
    """
    seen: list[str] = []

    def docked_or_exited() -> bool:
        window = docked_icon(display)
        if window is not None:
            seen.append(window)
        return window is not None or proc.poll() is not None

    if not _wait(docked_or_exited, START_S):
        windows = _x(display, "xwininfo", "-root", "-tree")
        pytest.fail(f"no docked tray icon after {START_S:.0f} s:\n{output(proc)}\nwindows:\n{windows}")
    assert proc.poll() is None, f"vcam tray exited with {proc.returncode}:\n{output(proc)}"
    return seen[-1]


def assert_released(proc: subprocess.Popen, display: str, runtime: Path) -> None:
    """Exit 0, icon gone, instance lock free, dashboard URL file removed."""
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER=1 prints every thread's stack
        proc.wait(timeout=10)
        pytest.fail(f"vcam tray did not exit within 30 s of being told to quit:\n{output(proc)}")
    assert code == 0, output(proc)
    assert icon_windows(display) == []
    with instance.claim(lambda message: None, timeout=1.0):  # the lock was released
        pass
    assert not (runtime / "vcam" / "dashboard.url").exists()


def test_sigterm_quits_the_tray_cleanly(launch):
    proc = launch("tray")
    display = os.environ["DISPLAY"]
    window = started(proc, display)
    title = lambda: _x(display, "xdotool", "getwindowname", window)  # noqa: E731
    assert _wait(lambda: title().startswith("vcam: running \xb7 demo"), START_S), \
        f"title {title()!r} after {START_S:.0f} s; vcam's output:\n{output(proc)}"  # "starting" at first
    assert "no menu" in output(proc)  # the X11 fallback says what the menu needs
    proc.send_signal(signal.SIGTERM)
    assert_released(proc, display, launch.runtime)


def test_a_sigterm_caught_by_another_thread_still_quits(launch):
    """The kernel gives a process's signal to any of its threads. Sent here to every thread but the main
    one, which sleeps in pystray's X11 loop: vcam used to wait for an X event that never came (CI, once)."""
    proc = launch("tray")
    display = os.environ["DISPLAY"]
    window = started(proc, display)
    assert _wait(lambda: _x(display, "xdotool", "getwindowname", window).startswith("vcam: running"), START_S), \
        output(proc)
    tgkill = ctypes.CDLL(None, use_errno=True).tgkill
    workers = [int(tid) for tid in os.listdir(f"/proc/{proc.pid}/task") if int(tid) != proc.pid]
    assert workers, "vcam runs threads"
    for tid in workers:
        tgkill(proc.pid, tid, signal.SIGTERM)
    assert_released(proc, display, launch.runtime)


def test_a_start_that_ends_after_the_quit_leaves_the_dead_icon_alone(tray_host, tmp_path):
    """Quit (logout, 'vcam quit') while the daemon still starts, in-process with pystray's real X11 icon.

    That backend runs each icon update on its loop's thread and waits for it with no timeout; the
    start that finished after the quit used to update the icon of a loop that had ended, and the
    exit hung forever. The start is held by the test so the quit always comes first.
    """
    from vcam.config import Config
    from vcam.daemon import Daemon
    from vcam.tray import Tray  # before pystray, as vcam itself imports them (see vcam.desktop)

    from pystray._xorg import Icon  # noqa: I001

    display = os.environ["DISPLAY"]
    tray = Tray(Daemon(Config(source="demo", output="none", feed=False)), tmp_path / "config.toml", icon_class=Icon)
    release = threading.Event()

    def quit_once_docked() -> None:
        _wait(lambda: docked_icon(display) is not None, 30)
        tray.stop()  # as the signal handler's thread does
        release.set()

    quitter = threading.Thread(target=quit_once_docked)
    quitter.start()
    tray.run(start=lambda: release.wait(60) and None)  # returns when the icon's loop has ended
    quitter.join(60)
    setup = tray.icon._setup_thread
    setup.join(10)
    stuck = setup.is_alive()
    if stuck:
        tray.icon._queue.put(True)  # let the stuck update return, or pytest never exits
    assert release.is_set(), "the icon never docked"
    assert not stuck, "an icon update after the quit waited forever for the ended loop"
    assert icon_windows(display) == []


def test_names_drawn_in_a_tray_process_have_their_real_width(xvfb):
    """pystray loads GTK and the system's FreeType; Pillow's must still measure text (it gave -780367 px)."""
    code = ("import vcam.tray, pystray, sys; from overlay import text; "
            "print(text.width('Zoë', 15), 'gi' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "DISPLAY": xvfb}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    width, gtk_loaded = done.stdout.split()
    assert gtk_loaded == "True", "pystray no longer loads GTK here: this test no longer covers the clash"
    assert 20 <= int(width) <= 40, f"'Zoë' at 15 px measured {width} px wide"


def test_the_icon_goes_into_a_tray_that_starts_later_and_back_after_a_tray_restart(launch):
    """Login starts the panel and vcam side by side, and panels restart: the icon must end up in the tray."""
    with xvfb_server("1280x720") as display:
        proc = launch("tray", display=display)
        assert _wait(lambda: "tray icon shown" in output(proc) or proc.poll() is not None, START_S), output(proc)
        assert icon_windows(display) and docked_icon(display) is None  # no tray yet: the icon waits outside
        trayer = start_trayer(display)
        try:
            window = started(proc, display)
            stop_trayer(trayer)  # the panel restarts: XEmbed hands the icon back to the root window
            assert _wait(lambda: docked_icon(display) is None, 20)
            trayer = start_trayer(display)
            assert _wait(lambda: docked_icon(display) == window, 20), output(proc)
            proc.send_signal(signal.SIGTERM)
            assert_released(proc, display, launch.runtime)
        finally:
            stop_trayer(trayer)
    assert "Traceback" not in output(proc)


def test_a_second_launch_shows_the_first_and_vcam_quit_ends_it(launch):
    first = launch("tray")
    display = os.environ["DISPLAY"]
    window = started(first, display)
    assert window is not None
    second = launch("tray")
    assert second.wait(timeout=60) == 2
    assert "already running" in output(second)
    assert _wait(launch.opened.exists, 20), output(first)  # "show" opened the dashboard in the browser
    url = launch.opened.read_text().strip()
    assert "token=" in url
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
    quitter = launch("quit")
    assert quitter.wait(timeout=60) == 0, output(quitter)
    assert_released(first, display, launch.runtime)


def test_vcam_tray_without_a_desktop_is_one_line_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([*VCAM, "tray"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("vcam")]
    assert len(lines) == 1 and "no desktop session" in lines[0] and "vcam run" in lines[0], done.stderr


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private D-Bus session bus (what every desktop session has); yields its address."""
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_gtk_menu_drives_the_daemon_and_ctrl_c_quits_cleanly(launch, session_bus, tmp_path):
    """PyGObject is in the lock and dbus in dev.sh's packages: a missing one fails here, never skips."""
    proc = launch("tray", bus=session_bus)
    display = os.environ["DISPLAY"]
    window = started(proc, display)
    assert _wait(lambda: _x(display, "xdotool", "getwindowname", window).startswith("vcam: running"), START_S)
    assert "appindicator backend" in output(proc) and "no menu" not in output(proc)
    _x(display, "xdotool", "mousemove", "--window", window, "5", "5", "click", "1")  # opens the menu
    time.sleep(1.0)
    # the sensitive items from the top: Source, then the features in their declared order (Gaze calibration
    # after Gaze), down to Emotion
    downs = ["Down"] * (2 + [f.name for f in FEATURES].index("emotion") + 1)
    _x(display, "xdotool", "key", "--delay", "100", *downs, "Return")
    config = tmp_path / "config.toml"
    assert _wait(lambda: "emotion = true" in config.read_text(), 20), output(proc)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: GTK's backend had reset SIGINT; the tray put its handler back
    assert_released(proc, display, launch.runtime)
    assert "got SIGINT" in output(proc)
