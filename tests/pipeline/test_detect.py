"""detect: every face a person sees in the committed real photos is found."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.pipeline.detect import SHORT_MAX, Detect, nms, tile_grid, tile_regions
from vcam.sources.demo import DemoSource
from vcam.types import Faces, Frame, Layout


@pytest.fixture(scope="module")
def detect():
    d = Detect()
    yield d
    d.close()


def test_every_face_in_the_committed_photos_is_found(detect, load_image, face_counts):
    found = {name: len(detect.find(load_image(name))) for name in face_counts}
    assert found == face_counts


def test_a_frame_with_no_face_gives_no_detections(detect):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    assert len(detect.find(noise)) == 0
    assert len(detect.find(np.zeros((1, 1, 3), np.uint8))) == 0


def test_tiles_cover_a_1080p_frame_with_overlap():
    tiles = tile_grid(1920, 1080, 640, 0.25)
    covered = np.zeros((1080, 1920), bool)
    for x, y, w, h in tiles:
        covered[y:y + h, x:x + w] = True
    assert covered.all()
    assert all(w == 640 and h == 640 for _, _, w, h in tiles)


def test_a_small_frame_is_searched_whole_only():
    assert tile_grid(640, 480, 640, 0.25) == []


def test_nms_keeps_the_best_of_overlapping_boxes_and_drops_contained_parts():
    boxes = np.array([[0, 0, 100, 100], [5, 5, 100, 100], [300, 300, 50, 50], [10, 10, 40, 40]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    assert nms(boxes, scores).tolist() == [0, 2]


def test_with_every_face_tracked_one_region_at_a_time_is_searched_once_per_sweep():
    d = Detect(min_interval=0.2, sweep=0.9)
    frame = Frame(np.zeros((1080, 1920, 3), np.uint8), 0, 0.0)
    tracked = Faces.from_boxes(np.array([[0, 0, 10, 10]], np.float32), np.ones(1, np.float32))
    d(frame, tracked)  # the first frame searches everything
    first = d.passes
    for i in range(1, 28):  # 0.9 s at 30 fps: 9 regions, one every 0.1 s
        d(Frame(frame.image, i, i / 30), tracked)
    assert first == len(d.regions(1920, 1080)) == 9
    assert d.passes - first == 9
    d.close()


def test_with_a_face_missing_every_region_is_searched_at_most_every_min_interval():
    d = Detect(min_interval=0.2)
    lost = Faces.from_boxes(np.array([[0, 0, 10, 10]], np.float32), np.zeros(1, np.float32))
    assert d.full_due(0.0, lost)
    d._last_full = 0.0
    assert not d.full_due(0.1, lost)
    assert d.full_due(0.2, lost) and d.full_due(0.2, Faces.empty())
    tracked = lost.replace(score=np.ones(1, np.float32))
    assert not d.full_due(5.0, tracked)
    d.close()


def test_detect_stage_appends_fresh_detections_with_no_track_id(detect, load_image):
    frame = Frame(load_image("obama.jpg"), 0, 0.0)
    faces = Detect()(frame, Faces.empty())
    assert len(faces) == 1 and faces.track_id.tolist() == [-1]


def demo_gallery(rows: int, cols: int, width: int = 1920, height: int = 1080) -> tuple[np.ndarray, Layout]:
    """Frame 0 of a rows×cols demo gallery of real portraits and its true layout."""
    with DemoSource(rows=rows, cols=cols, width=width, height=height, realtime=False) as demo:
        return demo.render(0), Layout.of("grid", demo.tile_rects())


@pytest.mark.parametrize("rows,width,height", [(7, 1920, 1080), (5, 1920, 1080), (7, 1280, 720)])
def test_with_the_layout_every_face_of_a_large_gallery_is_found_once(rows, width, height):
    image, layout = demo_gallery(rows, rows, width, height)
    d = Detect(layout=lambda: layout)
    faces = d(Frame(image, 0, 0.0), Faces.empty())
    d.close()
    centres = faces.bbox[:, :2] + faces.bbox[:, 2:] / 2
    assert sorted(layout.tile_of(centres).tolist()) == list(range(rows * rows))  # one face in every tile


def test_the_square_search_alone_misses_faces_of_a_7x7_gallery(detect):
    """Why the layout matters: the same frame searched in 640 px squares (the fallback) loses faces."""
    image, layout = demo_gallery(7, 7)
    assert len(detect.find(image)) < len(layout)


def test_small_tiles_go_to_the_short_range_detector_and_a_large_tile_is_also_cut_into_squares():
    layout = Layout.of("speaker", [[0, 0, 1600, 900], [1620, 0, 250, 140]])
    big, small = tile_regions(layout, 1920, 1080)
    assert len(big) > 1 and big[0] == (0, 0, 1604, 904)  # whole (padded) + squares
    assert small == [(1616, 0, 258, 144)] and max(small[0][2:]) <= SHORT_MAX


def test_after_the_first_search_only_tiles_without_a_face_are_searched_and_camera_off_ones_only_by_the_sweep():
    image, layout = demo_gallery(3, 3)
    layout = layout.replace(camera_off=np.array([False] * 8 + [True]))
    d = Detect(layout=lambda: layout, min_interval=0.2, sweep=100.0, per_frame=4)
    first = d(Frame(image, 0, 0.0), Faces.empty())
    assert d.passes == 9
    tracked = first.replace(score=np.ones(len(first), np.float32))
    centres = tracked.bbox[:, :2] + tracked.bbox[:, 2:] / 2
    without_tile_4 = tracked.select(layout.tile_of(centres) != 4)
    d.passes = 0
    for i in range(1, 7):  # 0.2 s at 30 fps
        d(Frame(image, i, i / 30), without_tile_4)
    assert d.passes == 1, "tile 4 searched once in 0.2 s; the camera-off tile 8 not at all"
    d(Frame(image, 7, 7 / 30), without_tile_4)
    assert d.passes == 2
    d.close()
