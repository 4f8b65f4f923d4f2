"""gaze geometry on synthetic faces: a known head and eyes, turned, projected, and their angles recovered."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_eyes import orthographic, perspective, posed

from vcam.pipeline.gaze_geometry import CLOSED_EYE, EYES, gaze, openness, rotation
from vcam.pipeline.pose import camera_matrix, euler_from_rotation, head_pose

HEADS = [(0, 0, 0), (25, 0, 0), (-30, 10, 5), (10, -20, -10), (0, 15, 20)]
GAZES = [(0, 0), (20, 0), (-15, 10), (10, -25), (-25, -10)]


@pytest.mark.parametrize("yaw, pitch, roll", HEADS)
def test_the_rotation_points_the_face_where_pose_says(yaw, pitch, roll):
    back = euler_from_rotation(rotation(yaw, pitch, roll))
    assert back[:2] == pytest.approx((yaw, pitch), abs=1e-6)
    assert back[2] == pytest.approx(roll, abs=2.5), "roll within a few degrees at these angles"


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("looking", GAZES)
def test_gaze_angles_are_recovered_exactly_under_the_models_own_projection(head, looking):
    _, angles, confidence = gaze(orthographic(posed(head, looking)), np.array(head, np.float32))
    assert angles == pytest.approx(looking, abs=0.05)
    assert confidence > 0.5


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("looking", GAZES)
def test_gaze_angles_survive_a_perspective_camera_and_a_solved_head_pose(head, looking):
    """The whole chain: perspective projection at ~63 cm, head pose by solvePnP, then the eyeball model.

    The model takes the eyes as seen straight along the line of sight to the face; they sit ~45 units
    off it, which costs up to ~2.6° with the head pitched 20°.
    """
    camera = camera_matrix(640, 480)
    points = perspective(posed(head, looking), camera)
    pose = head_pose(points, camera)
    assert pose[:2] == pytest.approx(head[:2], abs=1.0)
    _, angles, _ = gaze(points, pose)
    assert angles == pytest.approx(looking, abs=3.0)


def test_a_head_turn_alone_with_eyes_kept_on_the_lens_reads_as_looking_into_the_lens():
    for yaw in (-35, -20, 20, 35):
        _, angles, _ = gaze(orthographic(posed((yaw, 0, 0), (0, 0))), np.array([yaw, 0, 0], np.float32))
        assert np.abs(angles).max() < 0.1


def test_openness_is_the_lid_gap_over_the_eye_width_and_shut_lids_read_closed():
    open_ = orthographic(posed((0, 0, 0), (0, 0)))
    shut = orthographic(posed((0, 0, 0), (0, 0), lid_gap=0.5))
    assert [openness(open_, e) for e in EYES] == pytest.approx([10 / 30.74] * 2, abs=0.01)
    assert all(openness(shut, e) < CLOSED_EYE / 4 for e in EYES)


def test_both_eyes_shut_leave_no_direction_and_one_eye_is_enough():
    shut = orthographic(posed((0, 0, 0), (10, 5), lid_gap=0.5))
    opened, angles, confidence = gaze(shut, np.zeros(3, np.float32))
    assert np.isnan(angles).all() and confidence == 0.0
    wink = orthographic(posed((0, 0, 0), (10, 5)))
    wink[[p for pair in EYES[0].lids for p in pair]] = shut[[p for pair in EYES[0].lids for p in pair]]
    opened, angles, confidence = gaze(wink, np.zeros(3, np.float32))
    assert angles == pytest.approx((10, 5), abs=0.05) and 0.3 < confidence < 0.7
