"""track: ids survive motion and short absences, and new faces get new ids."""

from __future__ import annotations

import numpy as np

from vcam.pipeline.track import Track, iou_matrix
from vcam.types import Faces, Frame

FRAME = np.zeros((8, 8, 3), np.uint8)


def step(track: Track, t: float, boxes: list[list[float]]) -> list[int]:
    """One frame: detections ``boxes`` in, the id given to each box out; every face is then seen."""
    faces = Faces.concat([track.tracks(), Faces.from_boxes(np.array(boxes, np.float32).reshape(-1, 4))])
    faces = track(Frame(FRAME, 0, t), faces)
    track.observe(t, faces)
    by_x = {float(box[0]): int(tid) for tid, box in zip(faces.track_id, faces.bbox)}
    return [by_x[float(b[0])] for b in boxes if float(b[0]) in by_x]


def test_a_moving_face_keeps_its_id():
    track = Track()
    ids = [step(track, i / 30, [[100 + 3 * i, 100, 80, 80]]) for i in range(30)]
    assert {tuple(i) for i in ids} == {(1,)}


def test_two_faces_get_two_ids_that_do_not_swap():
    track = Track()
    first = step(track, 0.0, [[0, 0, 50, 50], [200, 0, 50, 50]])
    later = step(track, 0.1, [[205, 2, 50, 50], [4, 1, 50, 50]])
    assert first == [1, 2]
    assert later == [2, 1], "each face keeps its id, whatever order the detector lists them in"


def test_a_face_hidden_briefly_comes_back_with_its_id():
    track = Track(max_age=2.0)
    step(track, 0.0, [[100, 100, 80, 80]])
    track.observe(0.5, Faces.empty())  # hidden: seen nowhere
    assert step(track, 1.5, [[104, 100, 80, 80]]) == [1]


def test_a_face_gone_longer_than_max_age_returns_as_a_new_track():
    track = Track(max_age=1.0)
    step(track, 0.0, [[100, 100, 80, 80]])
    track.observe(0.1, Faces.empty())
    assert step(track, 2.0, [[100, 100, 80, 80]]) == [2]


def test_iou_of_identical_boxes_is_one_and_of_disjoint_boxes_zero():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [20, 20, 5, 5]], np.float32)
    assert np.allclose(iou_matrix(a, b), [[1.0, 0.0]])
