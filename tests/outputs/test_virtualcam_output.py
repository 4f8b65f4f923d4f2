"""The virtual camera output, against a fake device behind pyvirtualcam's real Camera."""

from __future__ import annotations

import glob
import time

import numpy as np
import pytest

from vcam.errors import OutputError
from vcam.outputs.virtualcam import VirtualCamOutput


def gradient(width: int, height: int) -> np.ndarray:
    """A ``(height, width, 3) uint8`` image with no black pixels and a left-right ramp."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = np.linspace(40, 220, width, dtype=np.uint8)[None, :, None]
    return img


def test_frames_reach_the_device_at_1280x720_by_default(fake_cam):
    backend, devices = fake_cam
    with VirtualCamOutput(backend=backend) as out:
        out.send(gradient(640, 360))
        out.send(gradient(1280, 720))
    (dev,) = devices
    assert (dev.width, dev.height, dev.fps, dev.fourcc) == (1280, 720, 30.0, "24BG")
    assert [f.shape for f in dev.frames] == [(720, 1280, 3)] * 2
    assert all(f.dtype == np.uint8 for f in dev.frames)
    assert out.frames_sent == 2


def test_frames_reach_the_device_at_a_configured_size(fake_cam):
    backend, devices = fake_cam
    with VirtualCamOutput(backend=backend, width=640, height=360, fps=15) as out:
        out.send(gradient(1920, 1080))
    (dev,) = devices
    assert (dev.width, dev.height, dev.fps) == (640, 360, 15.0)
    assert dev.frames[0].shape == (360, 640, 3)


def test_the_device_name_is_known_after_open(fake_cam):
    backend, _ = fake_cam
    with VirtualCamOutput(backend=backend) as out:
        assert out.device == "/dev/fakecam0"


def test_a_1920x1080_image_fills_1280x720_without_bars(fake_cam):
    backend, devices = fake_cam
    with VirtualCamOutput(backend=backend) as out:
        out.send(gradient(1920, 1080))
    frame = devices[0].frames[0]
    assert frame.min() > 0  # same 16:9 aspect: no black bars anywhere


def test_a_4_3_image_is_letterboxed_with_black_bars_left_and_right(fake_cam):
    backend, devices = fake_cam
    with VirtualCamOutput(backend=backend) as out:
        out.send(gradient(1440, 1080))  # 4:3 → 960x720 picture, 160 px bars each side
    frame = devices[0].frames[0].astype(int)
    assert frame[:, :160].max() == 0 and frame[:, -160:].max() == 0
    assert frame[:, 161:-161].min() > 0


def test_a_tall_image_is_letterboxed_with_bars_top_and_bottom(fake_cam):
    backend, devices = fake_cam
    with VirtualCamOutput(backend=backend, width=640, height=360) as out:
        out.send(gradient(640, 480)[:, :320])  # 320x480 → 240x360 picture, 200 px bars each side
    frame = devices[0].frames[0]
    assert frame[:, :200].max() == 0 and frame[:, -200:].max() == 0
    assert frame[:, 201:-201].min() > 0


def test_mirror_delivers_the_image_flipped_left_to_right(fake_cam):
    backend, devices = fake_cam
    image = np.zeros((720, 1280, 3), np.uint8)
    image[100:200, 50:150] = (0, 0, 255)  # a red square near the top-left
    with VirtualCamOutput(backend=backend, mirror=True) as out:
        out.send(image)
    frame = devices[0].frames[0]
    assert (frame[100:200, 1280 - 150:1280 - 50] == (0, 0, 255)).all()  # now near the top-right
    assert frame[100:200, 50:150].max() == 0
    np.testing.assert_array_equal(frame, image[:, ::-1])


def test_mirror_keeps_letterbox_bars_symmetric(fake_cam):
    backend, devices = fake_cam
    image = gradient(1440, 1080)
    image[:, :100] = (255, 0, 0)  # blue stripe at the left edge of the picture
    with VirtualCamOutput(backend=backend, mirror=True) as out:
        out.send(image)
    frame = devices[0].frames[0]
    assert frame[:, :160].max() == 0 and frame[:, -160:].max() == 0
    assert (frame[360, 1120 - 40:1120] == (255, 0, 0)).all()  # the stripe is now at the picture's right edge


def test_without_mirror_the_image_is_not_flipped(fake_cam):
    backend, devices = fake_cam
    image = gradient(1280, 720)
    with VirtualCamOutput(backend=backend) as out:
        out.send(image)
    np.testing.assert_array_equal(devices[0].frames[0], image)


def test_send_does_not_pace_frames(fake_cam):
    backend, devices = fake_cam
    with VirtualCamOutput(backend=backend, fps=10) as out:
        start = time.monotonic()
        for _ in range(10):  # a second's worth at 10 fps
            out.send(gradient(1280, 720))
    assert devices[0].stamps[-1] - start < 0.5


def test_close_runs_the_backend_close_once_when_called_twice(fake_cam):
    backend, devices = fake_cam
    out = VirtualCamOutput(backend=backend).open()
    out.close()
    out.close()
    assert devices[0].closes == 1
    assert not out.poll()


def test_leaving_the_with_block_closes_the_backend_once(fake_cam):
    backend, devices = fake_cam
    with VirtualCamOutput(backend=backend) as out:
        assert out.poll()
    out.close()
    del out
    assert devices[0].closes == 1


def test_an_error_inside_the_with_block_still_closes_the_backend(fake_cam):
    backend, devices = fake_cam
    with pytest.raises(ZeroDivisionError), VirtualCamOutput(backend=backend):
        1 / 0
    assert devices[0].closes == 1


def test_send_after_close_is_an_output_error(fake_cam):
    backend, _ = fake_cam
    with VirtualCamOutput(backend=backend) as out:
        pass
    with pytest.raises(OutputError, match="not open"):
        out.send(gradient(64, 64))


def assert_says_how_to_fix(err: OutputError) -> None:
    msg = str(err)
    assert "no virtual camera found" in msg
    for needle in ("v4l2loopback", "exclusive_caps=1", "OBS", "--output window", "--output file:out.mp4", "--output none"):
        assert needle in msg
    assert "\n" not in msg


def test_an_unregistered_backend_is_an_output_error_that_says_how_to_fix_it():
    with pytest.raises(OutputError) as info:
        VirtualCamOutput(backend="no-such-backend").open()
    assert_says_how_to_fix(info.value)
    assert "no-such-backend" in str(info.value)


@pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="a video device exists here; v4l2loopback might open")
def test_with_no_virtual_camera_on_this_machine_open_says_what_pyvirtualcam_said_and_how_to_fix_it():
    with pytest.raises(OutputError) as info:
        VirtualCamOutput().open()
    assert_says_how_to_fix(info.value)
    assert "pyvirtualcam said" in str(info.value)


def test_a_failed_open_can_be_closed_safely():
    out = VirtualCamOutput(backend="no-such-backend")
    with pytest.raises(OutputError):
        out.open()
    out.close()
    assert not out.poll()
