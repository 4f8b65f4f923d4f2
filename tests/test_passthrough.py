"""Frames a camera can deliver that hold no face, or odd layouts, pass through cleanly.

A webcam that sends grey, BGRA or oddly sized frames cannot be plugged in here,
so a small Source subclass delivers them through the real daemon, analyzer,
overlay and (fake-device) virtual camera.
"""

from __future__ import annotations

import numpy as np
import pytest

import vcam.daemon
from vcam.config import Config
from vcam.daemon import Daemon
from vcam.pipeline import Analyzer
from vcam.sources.base import Source
from vcam.types import Frame, as_bgr

ODD_IMAGES = {
    "grey": np.full((480, 640), 128, np.uint8),
    "grey with a channel axis": np.full((480, 640, 1), 90, np.uint8),
    "bgra": np.full((480, 640, 4), 200, np.uint8),
    "odd size": np.full((479, 641, 3), 60, np.uint8),
    "tiny": np.full((3, 5, 3), 10, np.uint8),
    "one pixel": np.zeros((1, 1, 3), np.uint8),
    "tall": np.full((1000, 20, 3), 30, np.uint8),
}


class OddSource(Source):
    """Delivers each odd image in turn, then ends."""

    def __init__(self) -> None:
        super().__init__("odd", fps=30.0)
        self._images = list(ODD_IMAGES.values()) * 3

    @property
    def size(self) -> tuple[int, int]:
        return 640, 480

    def _open(self) -> None:
        pass

    def _grab(self) -> np.ndarray | None:
        return self._images.pop(0) if self._images else None


@pytest.mark.parametrize("name", ODD_IMAGES)
def test_the_analyzer_passes_odd_frames_through_with_no_faces(name):
    with Analyzer() as analyzer:
        analysis = analyzer.process(Frame(as_bgr(ODD_IMAGES[name]), 0, 0.0))
    assert len(analysis.faces) == 0


def test_odd_frames_flow_through_the_daemon_to_the_virtual_camera(fake_cam, monkeypatch):
    name, devices = fake_cam
    monkeypatch.setattr(vcam.daemon, "make_source", lambda *a, **k: OddSource())
    daemon = Daemon(Config(source="odd", output=f"vcam:{name}")).start()
    assert daemon.wait(30)
    daemon.stop()
    assert daemon.error is None
    assert daemon.stats.captured == len(ODD_IMAGES) * 3
    assert len(devices[-1].frames) >= len(ODD_IMAGES) and all(f.shape == (720, 1280, 3) for f in devices[-1].frames)


def test_a_video_with_no_face_analyses_to_empty_frames(tmp_path):
    from vcam.analyze import analyze
    from vcam.outputs import make_output

    clip = tmp_path / "empty_room.mp4"
    with make_output(f"file:{clip}", width=640, height=360, fps=10) as out:
        for i in range(10):
            out.send(np.full((360, 640, 3), 40 + 10 * i, np.uint8))
    document = analyze(clip, progress=False)
    assert len(document["frames"]) == 10
    assert all(frame["faces"] == [] for frame in document["frames"]) and document["tracks"] == []
