"""Video files: every decodable frame comes out; damaged files are one clear error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vcam.errors import SourceError
from vcam.outputs import make_output
from vcam.sources import make_source


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 20-frame 320x240 H.264 clip of a moving bar."""
    path = tmp_path_factory.mktemp("clip") / "bar.mp4"
    with make_output(f"file:{path}", width=320, height=240, fps=10) as out:
        for i in range(20):
            image = np.zeros((240, 320, 3), np.uint8)
            image[:, i * 10:i * 10 + 40] = 255
            out.send(image)
    return path


def test_a_video_delivers_all_its_frames_with_media_timestamps(clip):
    with make_source(str(clip), realtime=False) as src:
        frames = list(src)
    assert len(frames) == 20
    assert src.fps == pytest.approx(10.0)
    assert frames[-1].t == pytest.approx(1.9)
    assert frames[0].image.shape == (240, 320, 3)


def test_a_looping_video_starts_again(clip):
    with make_source(str(clip), realtime=False, loop=True) as src:
        frames = [src.read() for _ in range(45)]
    assert all(f is not None for f in frames)
    assert np.array_equal(frames[0].image, frames[20].image)


def test_a_file_that_is_not_a_video_is_one_clear_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 100)
    with pytest.raises(SourceError, match="cannot read video") as err:
        make_source(str(bad)).open()
    assert str(bad) in str(err.value)


def test_an_mp4_cut_before_its_index_is_one_clear_error(tmp_path, clip):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # the moov index sits at the end
    with pytest.raises(SourceError, match="cannot read video"):
        make_source(str(cut)).open()


def test_a_truncated_avi_delivers_the_frames_before_the_cut_then_ends(tmp_path):
    full, cut = tmp_path / "full.avi", tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(20):
        image = np.zeros((240, 320, 3), np.uint8)
        image[:, i * 10:i * 10 + 40] = 255
        writer.write(image)
    writer.release()
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with make_source(str(cut), realtime=False) as src:
        frames = list(src)
    assert 3 <= len(frames) < 20
    assert src.frame_count == 20


def test_an_empty_file_is_one_clear_error(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(SourceError, match="cannot read video"):
        make_source(str(empty)).open()


@pytest.mark.parametrize("spec", ["every:3", "4hz", "all"])
def test_sampling_skips_unwanted_frames_yet_yields_the_same_frames_with_the_same_index_time_and_image(clip, spec):
    from vcam.analyze import Sampler, sampled
    from vcam.sources.video import VideoSource

    with VideoSource(clip, realtime=False) as src:
        wanted, sampler = [], Sampler(spec)
        for f in src:
            if sampler.wants(f):
                wanted.append(f)
    with VideoSource(clip, realtime=False, threads=1) as src:
        counted = []
        fast = list(sampled(src, Sampler(spec), counted.append))
        assert src.frames_read == 20 and len(counted) == 20
    assert [(f.index, f.t) for f in fast] == [(f.index, f.t) for f in wanted]
    assert len(fast) == {"every:3": 7, "4hz": 8, "all": 20}[spec]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(fast, wanted))


def test_skipping_past_the_end_says_so(clip):
    from vcam.sources.video import VideoSource

    with VideoSource(clip, realtime=False) as src:
        assert all(src.skip() for _ in range(20))
        assert src.upcoming() == (20, pytest.approx(2.0))
        assert not src.skip() and src.read() is None
