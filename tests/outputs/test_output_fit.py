"""``fit``: letterboxing and mirroring, the one resize every output shares."""

from __future__ import annotations

import numpy as np

from vcam.outputs import fit


def test_an_image_of_the_right_size_is_returned_unchanged():
    image = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), np.uint8)
    np.testing.assert_array_equal(fit(image, 1280, 720), image)


def test_a_smaller_image_of_the_same_aspect_is_scaled_up_to_fill():
    out = fit(np.full((360, 640, 3), 200, np.uint8), 1280, 720)
    assert out.shape == (720, 1280, 3) and out.min() == 200


def test_a_wide_image_gets_bars_top_and_bottom():
    out = fit(np.full((100, 400, 3), 255, np.uint8), 200, 200)  # → 200x50 picture
    assert out.shape == (200, 200, 3)
    assert out[:75].max() == 0 and out[125:].max() == 0 and out[75:125].min() == 255


def test_an_odd_leftover_pixel_is_mirrored_with_the_picture():
    image = np.full((10, 9, 3), 255, np.uint8)  # → 9 px picture in 10 px: 0 left, 1 right
    plain, mirrored = fit(image, 10, 10), fit(image, 10, 10, mirror=True)
    assert plain[:, 9].max() == 0 and mirrored[:, 0].max() == 0
    np.testing.assert_array_equal(mirrored, plain[:, ::-1])


def test_a_much_larger_image_is_shrunk_without_losing_fine_detail_to_aliasing():
    stripes = np.zeros((1080, 1920, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-px stripes average to mid-grey when shrunk properly
    out = fit(stripes, 320, 180)
    assert abs(float(out.mean()) - 127.5) < 3 and out.std() < 10


def test_the_result_is_c_contiguous_even_for_a_strided_input():
    image = np.zeros((720, 2560, 3), np.uint8)[:, ::2]
    assert fit(image, 1280, 720).flags.c_contiguous


def test_mirroring_never_changes_the_callers_image():
    for size in ((720, 1280, 3), (1080, 1920, 3)):
        image = np.random.default_rng(1).integers(0, 256, size, np.uint8)
        before = image.copy()
        fit(image, 1280, 720, mirror=True)
        np.testing.assert_array_equal(image, before)
