"""track: ids survive motion and short absences, and new faces get new ids."""

from __future__ import annotations

import cv2
import numpy as np

from vcam.pipeline import looks
from vcam.pipeline.track import Track, iou_matrix, overlap_matrices
from vcam.sources.demo import load_portraits
from vcam.types import Faces, Frame, Layout

FRAME = np.zeros((8, 8, 3), np.uint8)


def step(track: Track, t: float, boxes: list[list[float]]) -> list[int]:
    """One frame: detections ``boxes`` in, the id given to each out; each face is then fitted at its box."""
    dets = Faces.from_boxes(np.array(boxes, np.float32).reshape(-1, 4))
    faces = track(Frame(FRAME, 0, t), Faces.concat([track.tracks(), dets]))
    iou, inside = overlap_matrices(dets.bbox, faces.bbox)
    ids = [int(faces.track_id[j]) for j in np.argmax(np.maximum(iou, inside), axis=1)]
    track.observe(t, Faces.from_boxes(dets.bbox).replace(track_id=np.array(ids, np.int64)))
    return ids


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


def test_a_detection_of_part_of_a_tracked_face_joins_its_track():
    track = Track()
    step(track, 0.0, [[100, 100, 100, 100]])
    assert step(track, 0.1, [[150, 100, 40, 60]]) == [1], "half a face at a tile edge is the same face"


def test_two_tracks_that_end_on_one_face_are_merged_into_the_older():
    track = Track()
    step(track, 0.0, [[100, 100, 80, 80], [300, 100, 80, 80]])
    both = Faces.from_boxes(np.array([[100, 100, 80, 80], [102, 101, 80, 80]], np.float32)).replace(
        track_id=np.array([1, 2]))
    assert track.observe(0.1, both).track_id.tolist() == [1]
    assert track.tracks().track_id.tolist() == [1]


def test_iou_of_identical_boxes_is_one_and_of_disjoint_boxes_zero():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [20, 20, 5, 5]], np.float32)
    assert np.allclose(iou_matrix(a, b), [[1.0, 0.0]])


TILES = [[0, 0, 100, 100], [110, 0, 100, 100], [220, 0, 100, 100]]


def gallery_step(track: Track, t: float, names: list[str | None], shared: list[bool] | None = None) -> list[int]:
    """One frame of a 3-tile gallery whose tiles show ``names`` in order (a face in each tile, named
    by the tile's label); the ids after the names were followed."""
    ids = step(track, t, [[x + 20, y + 20, 60, 60] for x, y, _, _ in TILES])
    faces = Faces.from_boxes(np.array([[x + 20, y + 20, 60, 60] for x, y, _, _ in TILES], np.float32)).replace(
        track_id=np.array(ids, np.int64), participant=np.array(names, object),
        shared=np.array(shared or [False] * 3))
    return track.follow_names(t, faces).track_id.tolist()


def test_when_the_gallery_reorders_each_person_keeps_their_track_by_their_name():
    track = Track()
    first = gallery_step(track, 0.0, ["Ana", "Bo", "Zoë"])
    again = gallery_step(track, 0.1, ["Ana", "Bo", "Zoë"])
    swapped = gallery_step(track, 0.2, ["Zoë", "Bo", "Ana"])  # the app moved Zoë to the front
    assert again == first
    assert swapped == [first[2], first[1], first[0]]
    assert gallery_step(track, 0.3, ["Zoë", "Bo", "Ana"]) == swapped, "and the boxes follow them from then on"


def test_a_newcomer_who_takes_a_tile_gets_a_new_track_and_the_one_who_left_ends():
    track = Track()
    first = gallery_step(track, 0.0, ["Ana", "Bo", "Zoë"])
    joined = gallery_step(track, 0.1, ["Ana", "Cy", "Bo"])  # Cy joined; Bo moved right; Zoë left
    assert joined[0] == first[0] and joined[2] == first[1]
    assert joined[1] not in first
    assert first[2] not in track.live_ids()


def test_faces_without_names_or_in_a_shared_tile_keep_the_ids_their_boxes_gave():
    track = Track()
    first = gallery_step(track, 0.0, [None, "Room 4", "Room 4"], shared=[False, True, True])
    assert gallery_step(track, 0.1, [None, "Room 4", "Room 4"], shared=[False, True, True]) == first
    assert len(set(first)) == 3


def test_a_name_read_with_other_accents_or_capitals_keeps_its_track():
    track = Track()
    first = gallery_step(track, 0.0, ["Zoë Müller", "Bo", "Ana"])
    assert gallery_step(track, 0.1, ["Zoe Muller", "Bo", "Ana"]) == first
    assert gallery_step(track, 0.2, ["Bo", "ZOE Mūller", "Ana"]) == [first[1], first[0], first[2]]


def test_people_with_alike_names_keep_their_own_tracks():
    track = Track()
    first = gallery_step(track, 0.0, ["José Alvarez", "Josefina Alvarez", "François"])
    again = gallery_step(track, 0.1, ["José Alvarez", "Josefina Alvarez", "Françoise"])  # a newcomer
    assert again[:2] == first[:2] and again[2] not in first
    assert gallery_step(track, 0.2, ["Josefina Alvarez", "José Alvarez", "Françoise"]) == [again[1], again[0], again[2]]


def test_people_who_show_the_same_name_keep_their_own_tracks():
    """Two phones both called "iPhone", two Johns: a name on more than one tile names nobody in particular
    (the 7x7 demo repeats its nine people, and their tracks swapped at every reading)."""
    track = Track()
    first = gallery_step(track, 0.0, ["iPhone", "Bo", None])  # the second label not read yet
    assert len(set(first)) == 3
    for i in range(1, 5):
        assert gallery_step(track, 0.1 * i, ["iPhone", "Bo", "iPhone"]) == first
    assert gallery_step(track, 0.5, ["Bo", "iPhone", "iPhone"])[0] == first[1], "the unique name still moves"


PORTRAITS = [image for _, image in load_portraits()]
"""Real portraits (vcam/assets/portraits), each shown whole in a tile: the person, their room and clothes."""
WIDE = [[0, 0, 200, 200], [210, 0, 200, 200], [420, 0, 200, 200]]


def portrait_gallery(people: list[int], tiles: list[list[int]] = WIDE) -> tuple[np.ndarray, np.ndarray]:
    """A frame whose ``tiles`` show the portraits ``people`` (indices into PORTRAITS), and their face boxes
    (the middle of each tile, where the portraits hold their faces)."""
    image = np.full((220, 640, 3), 30, np.uint8)
    boxes = []
    for (x, y, w, h), p in zip(tiles, people):
        image[y:y + h, x:x + w] = cv2.resize(PORTRAITS[p], (w, h), interpolation=cv2.INTER_AREA)
        boxes.append([x + 0.3 * w, y + 0.2 * h, 0.4 * w, 0.4 * h])
    return image, np.array(boxes, np.float32)


def look_step(track: Track, t: float, people: list[int]) -> list[int]:
    """One analysed frame of a 3-tile gallery showing ``people`` with no names read: the ids after
    :meth:`Track.follow` (the boxes match the tracks by position, as the tracker's first steps do)."""
    image, boxes = portrait_gallery(people)
    ids = step(track, t, boxes.tolist())
    faces = Faces.from_boxes(boxes).replace(track_id=np.array(ids, np.int64), tile=np.arange(3))
    return track.follow(Frame(image, 0, t), faces).track_id.tolist()


def looks_track(moves: list[dict[int, int]] | None = None) -> Track:
    """A tracker in a 3-tile gallery (:data:`WIDE`); what it tells ``on_move`` is appended to ``moves``."""
    return Track(layout=lambda: Layout.of("grid", np.array(WIDE, np.float32)),
                 on_move=(moves if moves is not None else []).append)


def test_the_same_person_in_a_larger_tile_looks_alike_and_two_people_do_not():
    small_image, small = portrait_gallery([0, 1, 2], [[0, 0, 120, 120], [130, 0, 120, 120], [260, 0, 120, 120]])
    large_image, large = portrait_gallery([0, 1, 2])
    a = looks.look(small_image, small[0], np.float32([0, 0, 120, 120]))
    b = looks.look(large_image, large[0], np.float32(WIDE[0]))
    other = looks.look(large_image, large[1], np.float32(WIDE[1]))
    assert looks.distance(a, b) < looks.SAME < looks.distance(b, other)


def test_cells_outside_the_face_s_tile_are_not_part_of_its_look():
    image, boxes = portrait_gallery([0, 1, 2])
    colours, valid = looks.look(image, boxes[0], np.float32(WIDE[0]))
    assert 0 < valid.sum() < valid.size, "the look reaches past the tile's right and bottom edges"
    beside = image.copy()
    beside[:, 200:] = 255  # the neighbours' tiles and the gutter change
    assert looks.distance((colours, valid), looks.look(beside, boxes[0], np.float32(WIDE[0]))) == 0


def test_unnamed_people_whose_tiles_swap_keep_their_tracks_by_their_looks():
    moves: list[dict[int, int]] = []
    track = looks_track(moves)
    first = look_step(track, 0.0, [0, 1, 2])
    assert look_step(track, 0.2, [0, 1, 2]) == first
    swapped = look_step(track, 0.4, [2, 1, 0])  # the app moved the third person to the front
    assert swapped == [first[2], first[1], first[0]]
    assert moves == [{first[0]: first[2], first[2]: first[0]}], "the landmarks are told, to move their state"
    assert look_step(track, 0.6, [2, 1, 0]) == swapped, "and the boxes follow them from then on"


def test_a_newcomer_in_a_tile_gets_a_new_track_and_the_one_who_left_gets_theirs_back_on_return():
    track = looks_track()
    first = look_step(track, 0.0, [0, 1, 2])
    joined = look_step(track, 0.2, [0, 1, 5])  # the third left; a newcomer took the tile
    assert joined[:2] == first[:2] and joined[2] not in first
    back = look_step(track, 5.0, [0, 1, 2])  # within GONE_S
    assert back == first
