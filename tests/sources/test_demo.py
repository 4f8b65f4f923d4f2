"""The demo source: a generated meeting gallery of real portraits."""

from __future__ import annotations

import itertools
import time

import cv2
import mediapipe as mp
import numpy as np
import pytest

from vcam.errors import ConfigError, SourceError
from vcam.limits import FPS, HEIGHT, WIDTH
from vcam.sources import make_source
from vcam.sources.demo import DemoSource


def frames_at(source: DemoSource, indices: set[int]) -> dict[int, np.ndarray]:
    """Read ``source`` in order and keep the images of the frames at ``indices``."""
    kept = {}
    for frame in source:
        if frame.index in indices:
            kept[frame.index] = frame.image
        if len(kept) == len(indices):
            return kept
    raise AssertionError("the demo source ended")


def tile(image: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = rect
    return image[y:y + h, x:x + w]


def test_frames_are_1920x1080_bgr_by_default():
    with DemoSource(realtime=False) as src:
        frame = src.read()
        assert src.size == (1920, 1080)
    assert frame.image.shape == (1080, 1920, 3)
    assert frame.image.dtype == np.uint8
    assert frame.index == 0 and frame.source == "demo"


def test_size_follows_the_constructor_arguments():
    with DemoSource(rows=2, cols=2, width=1280, height=720, realtime=False) as src:
        image = src.read().image
        assert src.size == (1280, 720)
        assert len(src.tile_rects()) == 4
    assert image.shape == (720, 1280, 3)


def test_make_source_demo_gives_a_demo_source():
    assert isinstance(make_source("demo", realtime=False), DemoSource)


def test_two_sources_give_identical_frame_17():
    with DemoSource(realtime=False) as a, DemoSource(realtime=False) as b:
        first, second = frames_at(a, {17})[17], frames_at(b, {17})[17]
    np.testing.assert_array_equal(first, second)


def test_rendering_a_frame_out_of_order_gives_the_same_pixels():
    with DemoSource(realtime=False) as src:
        in_order = frames_at(src, {17})[17]
        src.render(40)
        np.testing.assert_array_equal(src.render(17), in_order)


def test_another_seed_moves_the_faces_differently():
    with DemoSource(realtime=False, seed=0) as a, DemoSource(realtime=False, seed=1) as b:
        assert not np.array_equal(a.render(17), b.render(17))


def test_faces_move_over_time_inside_every_tile():
    with DemoSource(realtime=False) as src:
        frames = frames_at(src, {0, 30})
        rects = src.tile_rects()
    for rect in rects:
        change = np.abs(tile(frames[0], rect).astype(int) - tile(frames[30], rect)).mean()
        assert change > 2.0, f"tile {rect} barely changed between frames 0 and 30 (mean |diff| {change:.2f})"


def test_every_frame_changes_something():
    with DemoSource(realtime=False) as src:
        frames = frames_at(src, {10, 11})
    assert not np.array_equal(frames[10], frames[11])


def test_tile_rects_tile_the_frame_row_major_without_overlap():
    with DemoSource(realtime=False) as src:
        rects, (width, height) = src.tile_rects(), src.size
    assert len(rects) == 9
    assert len({(w, h) for _, _, w, h in rects}) == 1, "tiles differ in size"
    for x, y, w, h in rects:
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        assert abs(w / h - 16 / 9) < 0.02
    for (ax, ay, aw, ah), (bx, by, bw, bh) in itertools.combinations(rects, 2):
        assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, "tiles overlap"
    assert rects == sorted(rects, key=lambda r: (r[1], r[0])), "tiles are not row-major"
    assert sum(w * h for _, _, w, h in rects) > 0.9 * width * height, "tiles leave too much of the frame empty"


def test_tiles_are_named_after_their_portraits():
    with DemoSource(realtime=False) as src:
        names = src.tile_names()
    assert names[0] == "Grace Hopper"
    assert len(names) == 9 and len(set(names)) == 9, "the 3x3 default should show nine different people"


def test_portraits_are_reused_when_there_are_more_tiles_than_people():
    with DemoSource(rows=5, cols=5, realtime=False) as src:
        names = src.tile_names()
        src.read()
    assert len(names) == 25 and names[0] == "Grace Hopper"
    assert names.count("Grace Hopper") >= 2


def test_the_demo_never_ends():
    with DemoSource(realtime=False) as src:
        frames = list(itertools.islice(src, 120))
    assert [f.index for f in frames] == list(range(120))


def test_realtime_reading_of_15_frames_takes_at_least_half_a_second():
    with DemoSource(realtime=True) as src:
        start = time.monotonic()
        frames = list(itertools.islice(src, 15))
        elapsed = time.monotonic() - start
    assert len(frames) == 15
    assert elapsed >= 0.45, f"15 frames at 30 fps came in {elapsed:.3f} s"


def test_a_missing_portrait_folder_says_what_is_missing_and_how_to_fix_it(tmp_path):
    src = DemoSource(realtime=False, portrait_dir=tmp_path / "portraits")
    with pytest.raises(SourceError, match=r"demo portraits not found.*portraits.*reinstall vcam"):
        src.open()


def test_an_empty_portrait_folder_is_an_error_too(tmp_path):
    with pytest.raises(SourceError, match="no .jpg files.*reinstall vcam"):
        DemoSource(realtime=False, portrait_dir=tmp_path).open()


@pytest.mark.parametrize("arg, value", [("rows", 0), ("cols", -1), ("width", 10), ("height", 0), ("fps", 0.0)])
def test_out_of_range_arguments_name_the_argument(arg, value):
    with pytest.raises(ConfigError, match=arg):
        DemoSource(**{arg: value})


@pytest.mark.parametrize("arg, limit, value", [("width", WIDTH, 7682), ("height", HEIGHT, 4322), ("fps", FPS, 121.0)])
def test_size_and_rate_are_refused_outside_the_limits_the_config_shares(arg, limit, value):
    with pytest.raises(ConfigError, match=f"DemoSource {arg} must be {limit.between}, got {value}"):
        DemoSource(**{arg: value})


def test_a_grid_too_small_for_its_frame_says_how_small_and_what_to_do():
    with pytest.raises(ConfigError, match=r"10x10 tiles in 320x180 pixels are too small \(\d+x\d+\); use fewer"):
        DemoSource(rows=10, cols=10, width=320, height=180)


def test_mediapipe_finds_exactly_one_face_in_every_tile():
    indices = {0, 15, 45, 90}
    detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    with detector, DemoSource(realtime=False) as src:
        frames, rects, names = frames_at(src, indices), src.tile_rects(), src.tile_names()
        for index in sorted(indices):
            for rect, name in zip(rects, names):
                found = detector.process(cv2.cvtColor(tile(frames[index], rect), cv2.COLOR_BGR2RGB)).detections
                assert len(found or []) == 1, f"frame {index}, tile of {name}: {len(found or [])} faces"
