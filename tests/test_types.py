"""types: Faces checks its own shapes; as_bgr turns any frame layout into BGR."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.types import Faces, Frame, as_bgr


def test_faces_from_boxes_fills_uncomputed_columns_with_nan_and_minus_one():
    faces = Faces.from_boxes(np.array([[1, 2, 3, 4]], np.float32))
    assert faces.track_id.tolist() == [-1]
    assert np.isnan(faces.pose).all() and np.isnan(faces.landmarks).all()
    assert faces.landmarks.shape == (1, 478, 3)


def test_a_column_with_the_wrong_shape_is_refused_with_the_expected_shape():
    faces = Faces.from_boxes(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"Faces.pose must have shape \(2, 3\) for 2 faces, got \(2, 2\)"):
        faces.replace(pose=np.zeros((2, 2)))


def test_select_and_concat_keep_rows_together():
    faces = Faces.from_boxes(np.arange(12, dtype=np.float32).reshape(3, 4)).replace(track_id=np.array([5, 6, 7]))
    picked = faces.select(np.array([True, False, True]))
    assert picked.track_id.tolist() == [5, 7]
    assert Faces.concat([picked, faces]).bbox[2].tolist() == [0, 1, 2, 3]
    assert len(Faces.concat([])) == 0


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
def test_grey_bgr_and_bgra_images_become_bgr(shape):
    out = as_bgr(np.full(shape, 9, np.uint8))
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and (out == 9).all()


def test_non_uint8_and_odd_layouts_are_refused_clearly():
    with pytest.raises(TypeError, match="uint8"):
        as_bgr(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="got shape"):
        as_bgr(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError):
        as_bgr(np.zeros((0, 4, 3), np.uint8))


def test_a_frame_must_be_bgr():
    with pytest.raises(ValueError, match="use as_bgr"):
        Frame(np.zeros((4, 4), np.uint8), 0, 0.0)
    assert Frame(np.zeros((4, 6, 3), np.uint8), 0, 0.0).size == (6, 4)
