"""The daemon end to end: demo source → analysis → overlay → a virtual camera.

The camera device is the one fake (v4l2loopback cannot exist here): a backend
registered through ``pyvirtualcam.register_backend`` (tests/conftest.py).
Everything above it is real.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import pyvirtualcam
from fakecam import make_backend
from waiting import wait_until

from vcam.config import Config
from vcam.daemon import Daemon, Mailbox
from vcam.errors import OutputError, SourceError


def run(config: Config) -> Daemon:
    daemon = Daemon(config).start()
    try:
        assert daemon.wait(60), "the run should end by itself"
    finally:
        daemon.stop()
    assert daemon.error is None
    return daemon


def red_mask(region: np.ndarray) -> np.ndarray:
    b, g, r = (region[..., i].astype(int) for i in range(3))
    return (r > 150) & (r > g + 60) & (r > b + 60)


def red_pixels(region: np.ndarray) -> int:
    return int(red_mask(region).sum())


@pytest.fixture(scope="module")
def demo_run():
    """Five seconds of the demo into a fake camera, shared by the tests that only look at the result."""
    devices: list = []
    pyvirtualcam.register_backend("vcam-test-demo-run", make_backend(devices))
    try:
        daemon = run(Config(source="demo", output="vcam:vcam-test-demo-run", seconds=5.0))
    finally:
        pyvirtualcam.camera.BACKENDS.pop("vcam-test-demo-run")
    return daemon, devices[-1]


def test_frames_reach_the_virtual_camera_at_1280x720_and_the_source_rate(demo_run):
    daemon, cam = demo_run
    assert (cam.width, cam.height, cam.fps) == (1280, 720, 30)
    assert all(f.shape == (720, 1280, 3) for f in cam.frames)
    gaps = np.diff(cam.stamps)
    assert np.median(gaps) == pytest.approx(1 / 30, rel=0.3)
    assert len(cam.frames) == daemon.stats.sent >= 60


def test_every_outgoing_frame_says_analysis_is_on(demo_run):
    _, cam = demo_run
    assert all(red_pixels(f[:60, :300]) > 300 for f in cam.frames[::10])


def test_outgoing_frames_carry_the_face_annotations(demo_run):
    daemon, cam = demo_run
    assert daemon.stats.analysed >= 3
    assert max(daemon.stats.faces_per_analysis) == 9
    late = cam.frames[-1]
    assert daemon.latest is not None and len(daemon.latest.faces) == 9
    box = daemon.latest.faces.bbox[0] * (1280 / 1920)
    x, y = int(box[0]), int(box[1])
    ring = late[max(0, y - 6):y + 6, max(0, x - 6):x + int(box[2])]
    assert (ring.max(axis=2).astype(int) - ring.min(axis=2) > 80).any(), "a coloured box edge at the face"


def test_the_mirror_option_flips_the_outgoing_video(fake_cam, demo_run):
    name, devices = fake_cam
    run(Config(source="demo", output=f"vcam:{name}", frames=15, mirror=True))
    mirrored, plain = devices[-1].frames[-1], demo_run[1].frames[-1]
    corner = (slice(0, 45), slice(0, 170))  # the badge alone: face labels sit lower
    badge, flipped_back = red_mask(plain[corner]), red_mask(np.fliplr(mirrored)[corner])
    assert badge.sum() > 300
    assert (badge & flipped_back).sum() / (badge | flipped_back).sum() > 0.9, "the badge sits mirrored at the top right"


def test_a_missing_virtual_camera_falls_back_in_auto_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    out = tmp_path / "fallback.mp4"
    daemon = run(Config(source="demo", output="auto", frames=10, fallback_file=str(out)))
    assert daemon.output.name == f"file:{out}" and out.stat().st_size > 0


def test_a_missing_virtual_camera_named_explicitly_is_one_error_and_releases_the_source():
    daemon = Daemon(Config(source="demo", output="vcam", frames=10))
    with pytest.raises(OutputError, match="v4l2loopback"):
        daemon.start()
    assert daemon.source._closed


def test_a_bad_source_fails_at_start_with_one_message():
    with pytest.raises(SourceError, match="no camera at index 7"):
        Daemon(Config(source="webcam:7", output="none")).start()


def test_output_does_not_wait_for_slow_analysis(fake_cam, monkeypatch):
    """With analysis taking 0.5 s a frame, the video still flows at the source's rate."""
    from vcam.pipeline import Analyzer

    real = Analyzer.process
    monkeypatch.setattr(Analyzer, "process", lambda self, frame: (time.sleep(0.5), real(self, frame))[1])
    name, devices = fake_cam
    daemon = run(Config(source="demo", output=f"vcam:{name}", seconds=2.0))
    sent = len(devices[-1].frames)
    assert daemon.stats.analysed <= 5
    assert sent >= 30 and sent >= 6 * daemon.stats.analysed, "the video ran ahead of analysis instead of waiting"


def test_toggles_switch_features_and_reject_unknown_names():
    daemon = Daemon(Config(source="demo", output="none"))
    assert daemon.toggle("gaze") is False and not daemon.is_on("gaze") and "gaze" not in daemon.controls.switches
    assert daemon.toggle("overlay", on=False) is False
    with pytest.raises(Exception, match="unknown feature 'sarcasm'"):
        daemon.toggle("sarcasm")


def test_a_mailbox_keeps_only_the_newest_item():
    box = Mailbox()
    box.put(1)
    box.put(2)
    assert box.get(0.01) == 2 and box.dropped == 1
    assert box.get(0.01) is None


def test_switching_identity_and_emotion_on_while_running_names_every_demo_face(fake_cam):
    from vcam.sources.demo import DemoSource

    name, devices = fake_cam
    daemon = Daemon(Config(source="demo", output=f"vcam:{name}", seconds=30.0)).start()
    try:
        deadline = time.monotonic() + 30
        while daemon.latest is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert daemon.latest is not None and all(n is None for n in daemon.latest.faces.name)
        assert daemon.toggle("identity") is True and daemon.toggle("emotion") is True
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _all_named(daemon):
            time.sleep(0.2)
        faces = daemon.latest.faces
    finally:
        daemon.stop()
    assert daemon.error is None
    with DemoSource() as demo:
        expected = set(demo.tile_names())
    assert set(faces.name.tolist()) == expected
    assert np.isfinite(faces.emotion).all() and np.allclose(faces.emotion.sum(axis=1), 1.0, atol=1e-3)
    assert np.all(np.abs(faces.valence) <= 1) and np.all(np.abs(faces.arousal) <= 1)


def _all_named(daemon: Daemon) -> bool:
    latest = daemon.latest
    return (latest is not None and len(latest.faces) == 9 and all(n is not None for n in latest.faces.name)
            and np.isfinite(latest.faces.emotion).all())


def test_eu_mode_refuses_to_switch_emotion_on():
    daemon = Daemon(Config(source="demo", output="none", eu_mode=True))
    with pytest.raises(Exception, match="EU mode"):
        daemon.toggle("emotion")
    assert not daemon.is_on("emotion")
    with pytest.raises(Exception, match="EU mode"):
        Config(emotion=True, eu_mode=True)


def test_a_taken_feed_port_asked_for_by_name_is_one_error_and_releases_the_source():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = Daemon(Config(source="demo", output="none", port=port))
        with pytest.raises(Exception, match=f"cannot serve the feed on 127.0.0.1:{port}"):
            daemon.start()
    assert daemon.source._closed and daemon.output._closed


def test_the_default_feed_port_falls_back_to_a_free_one_when_taken():
    import socket

    from vcam.daemon import DEFAULT_FEED_PORT

    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", DEFAULT_FEED_PORT))
            taken.listen()
        except OSError:
            pass  # already taken by something else: the fallback is what is under test either way
        daemon = Daemon(Config(source="demo", output="none", frames=5)).start()
        try:
            assert daemon.feed.port != DEFAULT_FEED_PORT
        finally:
            daemon.stop()


def test_a_layout_that_cannot_be_read_is_said_once_in_the_log_and_the_feed_status(caplog):
    """A scrolled screen recording: the layout changes at every look. The run goes on (whole-frame search)
    and says so, once, until the layout can be read again."""
    import galleries as g

    from vcam.daemon import LAYOUT_UNREADABLE
    from vcam.pipeline import Analyzer
    from vcam.pipeline.layout import LayoutFinder
    from vcam.pipeline.track import Track
    from vcam.types import Frame

    daemon = Daemon(Config(source="demo", output="none", feed=False))
    track, finder = Track(), LayoutFinder()
    base = g.grid(5, 5, "meet").image
    with Analyzer(["gaze"], stages=[track.start, finder, track]) as analyzer, caplog.at_level("INFO", "vcam"):
        for i in range(120):  # 8 s at 15 fps, scrolled by 9 px a frame
            daemon._on_frame(analyzer, Frame(np.roll(base, 9 * (i % 40), axis=0), i, i / 15, "file"))
        assert daemon.note == LAYOUT_UNREADABLE and daemon.latest.layout is None
        for i in range(120, 240):  # the scrolling stopped
            daemon._on_frame(analyzer, Frame(base, i, i / 15, "file"))
    assert daemon.note is None and len(daemon.latest.layout) == 25
    said = [r.getMessage() for r in caplog.records if r.name == "vcam.daemon"]
    assert said == [LAYOUT_UNREADABLE, "the meeting layout and its names can be read again"]


def test_name_labels_in_a_script_the_reader_cannot_read_are_said_once_in_the_log_and_the_feed_status(caplog):
    """Two tiles whose labels are Cyrillic and Hebrew: those people get no name, the others theirs; the feed's
    status says how many labels could not be read, and the log says it once."""
    from vcam.daemon import NAMES_UNREAD
    from vcam.name_labels import render
    from vcam.pipeline import Analyzer
    from vcam.sources.demo import DemoSource, load_portraits
    from vcam.types import Frame

    with DemoSource(3, 3, 1920, 1080, realtime=False) as source:
        image = source.render(0)
    daemon = Daemon(Config(source="demo", output="none", feed=False))
    portrait = load_portraits()[2][1]
    with Analyzer(["gaze", "names"]) as analyzer, caplog.at_level("INFO", "vcam"):
        daemon._on_frame(analyzer, Frame(image, 0, 0.0, "file"))  # the layout is found at the first frame
        layout = analyzer.layout.current
        image = image.copy()  # a new frame, as every source gives
        for tile, name in ((1, "Дмитрий Иванов"), (7, "דוד כהן")):
            x, y, w, h = layout.labels[tile].astype(int)
            image[y:y + h, x:x + w] = render(name, 16, "box", (w, h * 5), portrait, script="other").image[:h, :w]
        for i in range(1, 60):
            daemon._on_frame(analyzer, Frame(image, i, i / 15, "file"))
            if daemon.note == NAMES_UNREAD.format(n=2):
                break
            time.sleep(0.05)  # the labels are read on the names worker
        published = analyzer.layout.current.participant
    assert daemon.note == NAMES_UNREAD.format(n=2), (daemon.note, list(published))
    assert published[1] is None and published[7] is None and sum(isinstance(p, str) for p in published) == 7
    said = [r.getMessage() for r in caplog.records if r.name == "vcam.daemon"]
    assert said == [NAMES_UNREAD.format(n="some")], "once, however many labels are read one by one"


def test_the_tray_starts_on_a_source_that_cannot_open_yet_shows_source_lost_and_takes_it_when_it_comes(fake_cam):
    """A camera not plugged in yet (or a screen-sharing dialog the user cancelled) must not stop the tray:
    the output shows the "source lost" placard and vcam keeps trying; a source chosen then is taken."""
    name, devices = fake_cam
    daemon = Daemon(Config(source="webcam:7", output=f"vcam:{name}"), hold=True).start()
    try:
        assert wait_until(lambda: daemon.problem is not None and len(devices[0].frames) >= 3, 10)
        assert daemon.capture.lost[0] == "source_lost"
        assert "no camera at index 7" in daemon.problem and "retrying" in daemon.problem
        daemon.set_source("demo")
        assert wait_until(lambda: daemon.problem is None and daemon.stats.analysed > 0, 20)
    finally:
        daemon.stop()
