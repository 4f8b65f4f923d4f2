"""What goes wrong in a real meeting, injected into a running daemon: the video never stops and nothing is lost.

- the screen being captured goes away (its X server is killed) and comes back;
- a stage raises every Nth frame, or a model breaks;
- SIGTERM or Ctrl-C during a recorded session.

The virtual camera is the fake device of tests/fakecam.py (registered through
``pyvirtualcam.register_backend``); everything above it is real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from websockets.sync.client import connect
from xserver import gallery_window, start_xvfb, stop_xvfb, xdotool
import waiting

from overlay.placard import BACKGROUND
from vcam.config import Config
from vcam.daemon import Daemon
from vcam.errors import ModelError, SourceError
from vcam.feed import validate
from vcam.pipeline.emotion import Emotion
from vcam.pipeline.pose import Pose


class FeedLog:
    """Every feed event a real websocket client receives, collected on a thread."""

    def __init__(self, url: str) -> None:
        self.events: list[dict] = []
        self._done = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()
        assert self._connected.wait(5), "the feed accepted the client"

    def _read(self, url: str) -> None:
        with connect(url, open_timeout=5, max_size=None) as ws:
            self._connected.set()
            while not self._done.is_set():
                try:
                    event = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                except Exception:  # noqa: BLE001 - the daemon closed the feed
                    return
                validate(event)
                self.events.append(event)

    def statuses(self) -> list[dict]:
        return [e for e in self.events if e["type"] == "status"]

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def wait_until(condition, timeout: float, what: str) -> None:
    assert waiting.wait_until(condition, timeout), f"timed out waiting for {what}"


def is_placard(image: np.ndarray) -> bool:
    """Whether most of the frame is the placard's slate background."""
    return float(np.mean(np.all(np.abs(image.astype(int) - BACKGROUND) <= 2, axis=2))) > 0.8


def red_badge(image: np.ndarray) -> bool:
    """Whether the top-left corner holds the red "analysis on" badge."""
    corner = image[:60, :200].astype(int)
    return int(((corner[..., 2] > 150) & (corner[..., 2] > corner[..., 1] + 60)).sum()) > 200


# -- the source goes away and comes back --------------------------------------------------


def test_a_screen_that_goes_away_shows_a_placard_and_the_daemon_reconnects_when_it_returns(fake_cam, monkeypatch):
    backend, devices = fake_cam
    xvfb, display = start_xvfb("1280x720")
    monkeypatch.setenv("DISPLAY", display)
    daemon = Daemon(Config(source="screen:1", output=f"vcam:{backend}", port=0, fps=15)).start()
    feed = FeedLog(daemon.feed.feed_url)
    try:
        time.sleep(1.5)
        stop_xvfb(xvfb)  # the display the region was on is gone
        wait_until(lambda: daemon.stats.source_lost == 1, 5, "the loss to be noticed")
        time.sleep(2.0)
        assert daemon.state == "problem" and "retrying in" in daemon.problem
        xvfb, _ = start_xvfb("1280x720", number=int(display[1:]))
        wait_until(lambda: daemon.stats.reconnects == 1, 15, "the reconnection")
        time.sleep(1.0)
        assert daemon.state == "running" and daemon.problem is None
    finally:
        daemon.stop()
        feed.close()
        stop_xvfb(xvfb)
    cam = devices[-1]
    assert daemon.error is None and cam.closes == 1
    placards = [is_placard(f) for f in cam.frames]
    assert sum(placards) >= 15, "about 2 s and more of 'source lost' frames at 15 fps"
    assert not placards[0] and not placards[-1], "real frames before the loss and after the reconnection"
    assert np.max(np.diff(cam.stamps)) < 1.0, "the virtual camera never froze"
    kinds = [s["state"] for s in feed.statuses()]
    assert kinds[0] == "running" and "source_lost" in kinds and kinds[-1] == "running"
    assert feed.statuses()[-1]["source_lost"] == 1


def test_a_meeting_window_closed_then_opened_again_is_captured_again(fake_cam, monkeypatch):
    """window:TITLE: the meeting app's window closes (a call ends) and a new one opens (the next call)."""
    backend, devices = fake_cam
    xvfb, display = start_xvfb("1280x720")
    monkeypatch.setenv("DISPLAY", display)
    daemon = None
    try:
        with gallery_window(display, "Zoom Meeting") as window:
            daemon = Daemon(Config(source="window:zoom meeting", output=f"vcam:{backend}", port=0, fps=15)).start()
            wait_until(lambda: daemon.latest is not None and len(daemon.latest.faces) == 4, 30, "4 faces")
            xdotool(display, "windowkill", window)
            wait_until(lambda: daemon.stats.source_lost == 1, 5, "the loss to be noticed")
        time.sleep(1.0)
        assert daemon.state == "problem" and "no window whose title contains 'zoom meeting'" in daemon.problem
        with gallery_window(display, "Zoom Meeting - call 2"):
            wait_until(lambda: daemon.stats.reconnects == 1, 15, "the reconnection")
            wait_until(lambda: daemon.latest is not None and len(daemon.latest.faces) == 4, 30, "4 faces again")
            assert daemon.state == "running" and daemon.problem is None
    finally:
        if daemon is not None:
            daemon.stop()
        stop_xvfb(xvfb)
    cam = devices[-1]
    assert daemon.error is None and cam.closes == 1
    placards = [is_placard(f) for f in cam.frames]
    assert sum(placards) >= 10 and not placards[0] and not placards[-1]
    assert np.max(np.diff(cam.stamps)) < 1.0, "the virtual camera never froze"


def test_switching_to_a_source_that_cannot_open_keeps_the_current_one(fake_cam, tmp_path):
    backend, devices = fake_cam
    daemon = Daemon(Config(source="demo", output=f"vcam:{backend}", feed=False)).start()
    try:
        time.sleep(0.5)
        with pytest.raises(SourceError, match="not found"):
            daemon.set_source(str(tmp_path / "missing.mp4"))
        sent, captured = daemon.stats.sent, daemon.stats.captured
        time.sleep(1.0)
        assert daemon.stats.sent - sent >= 0.8 * (daemon.stats.captured - captured) > 0
        assert daemon.source.spec == "demo"
        daemon.set_source("demo:2x2@1280x720")
        wait_until(lambda: daemon.source.spec == "demo:2x2@1280x720", 5, "the switch")
        wait_until(lambda: daemon.latest is not None and len(daemon.latest.faces) == 4, 20, "4 faces")
    finally:
        daemon.stop()
    assert daemon.error is None and daemon.config.source == "demo:2x2@1280x720"


# -- stages that fail --------------------------------------------------------------------


def test_a_stage_that_raises_every_fifth_frame_is_logged_once_counted_and_never_stops_the_video(
        fake_cam, monkeypatch, caplog):
    backend, devices = fake_cam
    real_pose, calls = Pose.__call__, {"n": 0}

    def flaky_pose(self, frame, faces):
        calls["n"] += 1
        if calls["n"] % 5 == 0 and calls["n"] <= 40:
            raise RuntimeError("injected pose failure")
        return real_pose(self, frame, faces)

    monkeypatch.setattr(Pose, "__call__", flaky_pose)
    told: list = []
    daemon = Daemon(Config(source="demo", output=f"vcam:{backend}", port=0), on_analysis=told.append).start()
    feed = FeedLog(daemon.feed.feed_url)
    try:
        wait_until(lambda: calls["n"] >= 45, 120, "45 frames through pose")
        wait_until(lambda: feed.statuses()[-1]["stage_errors"] == 8, 10, "the feed to count all 8 (at most 1 s late)")
    finally:
        daemon.stop()
        feed.close()
    assert daemon.error is None
    assert daemon.stats.stage_errors == 8
    assert len(told) == daemon.stats.analysed, "failed frames reach no listener: they went out unannotated"
    assert daemon.stats.sent >= 0.8 * daemon.stats.captured, "the video kept its rate"
    logged = [r for r in caplog.records if "injected pose failure" in r.getMessage()]
    assert len(logged) == 1, "the same failure is logged once"


def test_a_broken_emotion_model_switches_emotion_off_and_says_why(fake_cam, monkeypatch):
    backend, devices = fake_cam

    def broken(self, frame, faces):
        raise ModelError("emotion model emotion-fer failed its sha256 check")

    monkeypatch.setattr(Emotion, "__call__", broken)
    daemon = Daemon(Config(source="demo", output=f"vcam:{backend}", feed=False, emotion=True)).start()
    try:
        wait_until(lambda: not daemon.is_on("emotion"), 30, "emotion to be switched off")
        assert daemon.state == "problem" and "emotion switched off" in daemon.problem
        assert "sha256" in daemon.problem
        wait_until(lambda: daemon.stats.analysed > 5, 30, "analysis to go on without emotion")
        assert daemon.is_on("gaze")
    finally:
        daemon.stop()
    assert daemon.error is None and daemon.stats.sent > 0


# -- pause, toggles, recording -----------------------------------------------------------------


def test_pause_stops_all_analysis_and_the_outgoing_badge_says_paused(fake_cam):
    backend, devices = fake_cam
    daemon = Daemon(Config(source="demo", output=f"vcam:{backend}", feed=False)).start()
    try:
        wait_until(lambda: daemon.stats.analysed > 3, 30, "analysis")
        daemon.pause()
        time.sleep(0.5)
        analysed, sent, captured = daemon.stats.analysed, daemon.stats.sent, daemon.stats.captured
        time.sleep(1.5)
        assert daemon.stats.analysed == analysed, "nothing is analysed while paused"
        assert daemon.stats.sent - sent >= 0.8 * (daemon.stats.captured - captured) > 0, "the video goes on"
        assert daemon.state == "paused"
        paused_frame = devices[-1].frames[-1]
        daemon.resume()
        wait_until(lambda: daemon.stats.analysed > analysed + 3, 30, "analysis to resume")
        time.sleep(0.3)
    finally:
        daemon.stop()
    assert not red_badge(paused_frame), "the badge is grey while paused"
    assert red_badge(devices[-1].frames[-1]), "and red again once analysis is on"


def test_each_toggle_changes_the_daemon_and_its_config(fake_cam):
    backend, devices = fake_cam
    config = Config(source="demo", output=f"vcam:{backend}", port=0)
    daemon = Daemon(config).start()
    try:
        assert daemon.toggle("mirror") is True and daemon.output.mirror is True and config.mirror is True
        assert daemon.toggle("aggregate_only") is True and config.aggregate_only is True
        daemon.toggle("emotion", on=True)
        assert daemon.toggle("eu_mode") is True
        assert not daemon.is_on("emotion") and config.emotion is False, "EU mode switches emotion off"
        with pytest.raises(Exception, match="EU mode"):
            daemon.toggle("emotion", on=True)
        assert daemon.toggle("overlay") is False and config.overlay is False
    finally:
        daemon.stop()


def test_recording_started_and_stopped_live_is_private_and_complete(fake_cam, tmp_path):
    backend, devices = fake_cam
    daemon = Daemon(Config(source="demo", output=f"vcam:{backend}", feed=False)).start()
    try:
        folder = daemon.start_recording(str(tmp_path / "session"))
        assert daemon.recording == folder
        wait_until(lambda: daemon.recorder.rows["room"] >= 3, 60, "3 seconds recorded")
        assert daemon.stop_recording() == folder and daemon.recording is None
    finally:
        daemon.stop()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    for path in folder.iterdir():
        assert oct(path.stat().st_mode & 0o777) == "0o600", path.name
    meta = json.loads((folder / "session.json").read_text())
    assert "ended" in meta
    assert len((folder / "room.csv").read_text().splitlines()) >= 3


# -- shutdown ------------------------------------------------------------------------------------


def _default_sigint() -> None:
    """In the child before exec: Ctrl-C as in a terminal. A shell starting this suite in the background
    has set SIGINT to ignored, which exec keeps, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_during_a_recorded_session_shuts_down_cleanly(tmp_path, sig, status):
    env = {**os.environ, "VCAM_CONFIG": str(tmp_path / "config.toml")}
    video, session = tmp_path / "out.mp4", tmp_path / "session"
    proc = subprocess.Popen([sys.executable, "-m", "vcam", "run", "--source", "demo", "--output", f"file:{video}",
                             "--record", str(session), "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 60
        while not (session / "room.csv").exists() or len((session / "room.csv").read_text().splitlines()) < 4:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read() if proc.poll() else "slow"
            time.sleep(0.2)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == status, out
    meta = json.loads((session / "session.json").read_text())
    assert "ended" in meta, "the session was closed, not left as crashed"
    capture = cv2.VideoCapture(str(video))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) > 30, "the mp4 was finished"
    capture.release()
    assert "Traceback" not in out
    assert not list(Path(tmp_path).glob("**/*.tmp"))
