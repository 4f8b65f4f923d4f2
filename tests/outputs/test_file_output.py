"""The mp4 output, written for real with PyAV and read back with PyAV."""

from __future__ import annotations


import av
import numpy as np
import pytest

from vcam.errors import OutputError
from vcam.outputs.file import FileOutput


def moving_scene(i: int, width: int = 640, height: int = 360) -> np.ndarray:
    """Frame ``i`` of a smooth scene: a colour ramp and a square moving right."""
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = np.linspace(30, 200, width, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(60, 180, height, dtype=np.uint8)[:, None]
    img[..., 2] = 90
    x = 20 + 10 * i
    img[120:220, x:x + 100] = (20, 230, 240)
    return img


def read_back(path) -> tuple[str, tuple[int, int], list[np.ndarray], float]:
    """``(codec, (width, height), frames as (H, W, 3) uint8 BGR, average fps)`` of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        return stream.codec_context.name, (stream.width, stream.height), frames, float(stream.average_rate)


def test_45_frames_at_30_fps_come_back_as_45_h264_frames_of_the_same_size_and_content(tmp_path):
    path = tmp_path / "out.mp4"
    sent = [moving_scene(i) for i in range(45)]
    with FileOutput(path, width=640, height=360, fps=30) as out:
        for image in sent:
            out.send(image)
    codec, size, frames, fps = read_back(path)
    assert (codec, size, len(frames), fps) == ("h264", (640, 360), 45, 30.0)
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(sent, frames)]
    assert max(diffs) < 4.0, diffs


def test_the_file_is_1280x720_by_default_and_larger_images_are_fitted(tmp_path):
    path = tmp_path / "big.mp4"
    with FileOutput(path) as out:
        for i in range(3):
            out.send(moving_scene(i, 1920, 1080))
    _, size, frames, _ = read_back(path)
    assert size == (1280, 720) and len(frames) == 3


def test_an_odd_size_is_rounded_down_to_even(tmp_path):
    out = FileOutput(tmp_path / "odd.mp4", width=641, height=361)
    assert (out.width, out.height) == (640, 360)


def test_a_fractional_frame_rate_is_kept(tmp_path):
    path = tmp_path / "ntsc.mp4"
    with FileOutput(path, width=320, height=180, fps=30000 / 1001) as out:
        for i in range(5):
            out.send(moving_scene(i, 320, 180))
    assert read_back(path)[3] == pytest.approx(29.97, abs=0.01)


def test_a_missing_folder_is_an_output_error_naming_the_path(tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "out.mp4"
    with pytest.raises(OutputError) as info:
        FileOutput(path).open()
    assert str(path) in str(info.value)
    assert "does not exist" in str(info.value)


def test_a_path_the_system_refuses_is_an_output_error_naming_the_path():
    with pytest.raises(OutputError, match="cannot write /proc/vcam-test.mp4: .*choose a path"):
        FileOutput("/proc/vcam-test.mp4").open()


def test_a_path_that_is_a_folder_is_an_output_error(tmp_path):
    (tmp_path / "x.mp4").mkdir()
    with pytest.raises(OutputError, match="it is a folder"):
        FileOutput(tmp_path / "x.mp4").open()


def test_closing_twice_leaves_one_complete_file(tmp_path):
    path = tmp_path / "twice.mp4"
    out = FileOutput(path, width=320, height=180).open()
    out.send(moving_scene(0, 320, 180))
    out.close()
    out.close()
    assert len(read_back(path)[2]) == 1
