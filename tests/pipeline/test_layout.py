"""The layout stage on drawn meeting screens made of real portraits (tests/galleries.py): tiles, camera-off,
screens with no gallery, and the finder following a meeting that re-flows, resizes or scrolls."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

import galleries as g
from vcam.pipeline.detect import Detect
from vcam.pipeline import Stage
from vcam.pipeline.layout import LABEL_MIN_PX, LayoutFinder, find_layout, regions_for
from vcam.pipeline.track import iou_matrix
from vcam.types import Faces, Frame

FPS = 15


def assert_tiles_match(screen: g.Screen, layout) -> None:
    """Same kind, same count, and each tile (both in reading order) at IoU >= 0.8 with the truth's."""
    assert layout is not None, f"no layout found; expected {screen.kind} of {len(screen.tiles)}"
    assert (layout.kind, len(layout)) == (screen.kind, len(screen.tiles))
    iou = np.diag(iou_matrix(screen.tiles, layout.tiles))
    assert iou.min() >= 0.8, f"tile IoUs {np.round(iou, 2)}"


@pytest.mark.parametrize("rows, cols, count, theme", [
    (1, 1, None, "zoom-dark"), (2, 2, None, "teams-light"), (3, 3, None, "meet"), (5, 5, None, "webex"),
    (7, 7, None, "zoom-light"), (3, 4, 10, "teams-dark"), (2, 3, 5, "zoom-dark"), (4, 4, 13, "meet"),
])
def test_a_gallery_grid_is_found_tile_for_tile(rows, cols, count, theme):
    screen = g.grid(rows, cols, theme, count=count, seed=rows)
    assert_tiles_match(screen, find_layout(screen.image))


@pytest.mark.parametrize("side, theme", [("top", "zoom-dark"), ("bottom", "teams-light"), ("right", "meet")])
def test_a_speaker_view_is_its_filmstrip_and_the_large_tile(side, theme):
    screen = g.speaker(5, theme, side=side)
    assert_tiles_match(screen, find_layout(screen.image))


@pytest.mark.parametrize("side, theme", [("right", "zoom-light"), ("top", "webex"), ("right", "teams-dark")])
def test_a_screen_share_is_read_as_the_strip_of_thumbnails(side, theme):
    screen = g.strip(4, theme, side=side)
    assert_tiles_match(screen, find_layout(screen.image))


@pytest.mark.parametrize("size", [(1280, 720), (3840, 2160)])
def test_small_and_4k_screens_are_read_alike(size):
    screen = g.grid(3, 3, "teams-light", size=size)
    assert_tiles_match(screen, find_layout(screen.image))


@pytest.mark.parametrize("gutter, size", [(1, (1920, 1080)), (2, (3840, 2160))])
def test_hairline_gutters_survive_the_shrink(gutter, size):
    theme = dataclasses.replace(g.THEMES["teams-light"], gutter=gutter)  # px at 1080p, scaled with the screen
    screen = g.grid(4, 4, theme, size=size)
    assert_tiles_match(screen, find_layout(screen.image))


@pytest.mark.parametrize("screen", [g.slide, g.document, g.photo, g.webcam], ids=lambda f: f.__name__)
def test_a_screen_with_no_gallery_has_no_layout(screen):
    assert find_layout(screen().image) is None


@pytest.mark.parametrize("image", [np.zeros((1080, 1920, 3), np.uint8), np.zeros((1, 1, 3), np.uint8),
                                   np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)],
                         ids=["black", "one-pixel", "noise"])
def test_blank_tiny_and_noisy_frames_have_no_layout(image):
    assert find_layout(image) is None


def test_a_wrong_image_is_refused_at_the_boundary():
    with pytest.raises(TypeError, match="uint8"):
        find_layout(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        find_layout(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize("theme", ["zoom-dark", "meet", "teams-light"])
def test_a_compressed_recording_is_still_read(theme):
    screen = g.grid(3, 3, theme, off=(2,))
    ok, buf = cv2.imencode(".jpg", screen.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert_tiles_match(screen, find_layout(cv2.imdecode(buf, cv2.IMREAD_COLOR)))


@pytest.mark.parametrize("theme", ["zoom-dark", "teams-light", "meet", "webex"])
def test_camera_off_tiles_are_told_from_cameras(theme):
    screen = g.grid(3, 4, theme, off=(0, 5, 11), seed=4)
    layout = find_layout(screen.image)
    assert_tiles_match(screen, layout)
    assert layout.camera_off.tolist() == screen.camera_off.tolist()


def test_a_speaker_with_the_camera_off_is_still_a_speaker_view():
    screen = g.speaker(3, "teams-dark", off=(3,))  # the large tile: a disc with initials
    layout = find_layout(screen.image)
    assert_tiles_match(screen, layout)
    assert layout.camera_off.tolist() == screen.camera_off.tolist() and layout.camera_off.sum() == 1


def test_label_bands_are_the_bottom_left_of_each_tile():
    layout = find_layout(g.grid(7, 7, "zoom-dark").image)
    x, y, w, h = layout.tiles.T
    lx, ly, lw, lh = layout.labels.T
    assert np.allclose(lx, x) and np.allclose(ly + lh, y + h)
    assert np.all(lw < w) and np.all(lh >= np.minimum(h, LABEL_MIN_PX)) and np.all(lh < h / 2)


def test_the_regions_hold_their_tiles_inside_the_frame():
    screen = g.grid(3, 3, "meet")
    layout = find_layout(screen.image)
    regions = np.array(regions_for(layout, (1920, 1080)), np.float32)
    assert len(regions) == 9
    assert np.all(regions[:, :2] <= layout.tiles[:, :2]) and np.all(regions[:, :2] >= 0)
    assert np.all(regions[:, :2] + regions[:, 2:] >= layout.tiles[:, :2] + layout.tiles[:, 2:])
    assert np.all(regions[:, 0] + regions[:, 2] <= 1920) and np.all(regions[:, 1] + regions[:, 3] <= 1080)


def test_the_detector_finds_one_face_per_portrait_tile_in_its_regions_and_faces_get_their_tiles():
    screen = g.grid(3, 3, "zoom-dark", seed=3)
    finder = LayoutFinder()
    frame = Frame(screen.image, 0, 0.0, "screen:0")
    finder(frame, Faces.empty())
    detect = Detect()
    try:
        faces = finder.assign(frame, detect.find(screen.image, regions_for(finder.current, frame.size), tiles=True))
    finally:
        detect.close()
    portraits = [i for i, name in enumerate(screen.names) if not name.startswith("Room")]
    per_tile = np.bincount(faces.tile[faces.tile >= 0], minlength=9)
    assert per_tile[portraits].tolist() == [1] * len(portraits)
    assert not faces.shared[np.isin(faces.tile, portraits)].any()


def test_the_finder_and_its_steps_are_stages():
    finder = LayoutFinder()
    assert all(isinstance(s, Stage) for s in (finder, finder.assign))
    with pytest.raises(ValueError, match="min_interval"):
        LayoutFinder(min_interval=5.0)


def test_faces_sharing_a_tile_are_marked_and_the_participant_is_left_to_the_names_stage():
    finder = LayoutFinder()
    finder(Frame(g.grid(2, 2, "teams-dark").image, 0, 0.0, "screen"), Faces.empty())
    finder.name_tiles(np.array(["Ann", "Bo", None, "Cy"], object))
    x, y, w, h = finder.current.tiles[1]
    boxes = np.array([[x + 10, y + 10, 50, 50], [x + w - 60, y + 10, 50, 50], [*finder.current.tiles[3, :2] + 5, 40, 40],
                      [1, 1, 2, 2]], np.float32)
    faces = finder.assign(Frame(g.grid(2, 2, "teams-dark").image, 1, 0.1, "screen"), Faces.from_boxes(boxes))
    assert faces.tile.tolist() == [1, 1, 3, -1]
    assert faces.shared.tolist() == [True, True, False, False]
    assert faces.participant.tolist() == [None] * 4  # names off: no participant names, even known ones
    with pytest.raises(ValueError, match=r"\(4,\) names"):
        finder.name_tiles(np.array(["Ann"], object))


def run(finder: LayoutFinder, images: list[np.ndarray], seconds: float, start: float = 0.0,
        source: str = "screen") -> list[int]:
    """Feed ``images`` in turn at FPS for ``seconds`` of frame time; the tile count after each frame."""
    counts = []
    for i in range(int(seconds * FPS)):
        frame = Frame(images[i % len(images)], i, start + i / FPS, source)
        finder(frame, Faces.empty())
        counts.append(len(finder.current) if finder.current is not None else 0)
    return counts


def test_the_finder_follows_a_reflow_within_a_second_and_looks_rarely_while_nothing_moves():
    finder = LayoutFinder()
    nine = [g.grid(3, 3, "zoom-dark", seed=s).image for s in range(3)]  # the same tiles, other videos
    sixteen = [g.grid(4, 4, "zoom-dark", seed=s).image for s in range(3)]
    assert run(finder, nine, 6.0)[-1] == 9
    assert finder.finds <= 3, "a still layout is looked at once, then every few seconds"
    counts = run(finder, sixteen, 2.0, start=6.0)
    assert counts.index(16) < FPS and counts[-1] == 16
    assert not finder.unstable


def test_the_finder_follows_a_resized_window_within_a_second():
    finder = LayoutFinder()
    desktop = np.full((1080, 1920, 3), (90, 60, 30), np.uint8)
    big = g.grid(3, 3, "teams-light", size=(1800, 1000))
    small = g.grid(3, 3, "teams-light", size=(1200, 700))
    images = []
    for screen in (big, small):
        image = desktop.copy()
        h, w = screen.image.shape[:2]
        image[40:40 + h, 60:60 + w] = screen.image
        images.append(image)
    run(finder, images[:1], 2.0)
    run(finder, images[1:], 1.0, start=2.0)
    truth = small.tiles + np.array([60, 40, 0, 0], np.float32)
    assert len(finder.current) == 9 and np.diag(iou_matrix(truth, finder.current.tiles)).min() >= 0.8


def test_a_layout_that_moves_every_frame_is_rate_limited_and_called_unstable():
    finder = LayoutFinder()
    base = g.grid(5, 5, "meet").image
    scrolled = [np.roll(base, 9 * i, axis=0) for i in range(40)]
    run(finder, scrolled, 8.0)
    assert finder.finds <= 8.0 / finder.min_interval / 2, f"{finder.finds} finds in 8 s"
    assert finder.unstable
    assert finder.usable is None, "an unstable layout is not used: detection searches the whole frame"
    faces = finder.assign(Frame(scrolled[0], 0, 8.0, "screen"), Faces.from_boxes(np.array([[10, 10, 50, 50]])))
    assert faces.tile.tolist() == [-1]


def test_a_webcam_source_is_never_read_as_a_layout():
    finder = LayoutFinder()
    run(finder, [g.grid(3, 3, "zoom-dark").image], 2.0, source="webcam:0")
    assert finder.current is None and finder.finds == 0


def test_a_slide_show_has_no_layout_and_is_not_looked_at_every_frame():
    finder = LayoutFinder()
    counts = run(finder, [g.slide().image], 6.0)
    assert max(counts) == 0 and finder.finds <= 3


def test_a_gallery_that_replaces_a_slide_is_found_within_a_second():
    finder = LayoutFinder()
    run(finder, [g.slide().image], 4.0)
    counts = run(finder, [g.grid(2, 3, "webex").image], 2.0, start=4.0)
    assert counts.index(6) < FPS and counts[-1] == 6


def test_a_share_that_replaces_the_gallery_is_read_as_a_strip_within_a_second():
    finder = LayoutFinder()
    run(finder, [g.grid(3, 3, "meet").image], 2.0)
    share = g.strip(4, "meet")
    counts = run(finder, [share.image], 2.0, start=2.0)
    assert counts.index(4) < FPS and finder.current.kind == "strip"


@pytest.mark.parametrize("theme", ["zoom-dark", "teams-light", "meet"])
def test_a_window_over_the_gallery_leaves_the_uncovered_tiles_or_no_layout(theme):
    screen = g.grid(3, 3, theme)
    layout = find_layout(g.covered(screen, 0.35))
    if layout is not None:
        uncovered = screen.tiles[screen.tiles[:, 0] + screen.tiles[:, 2] < 1920 * 0.65]
        found = (iou_matrix(uncovered, layout.tiles).max(axis=1) >= 0.8).sum()
        assert found >= len(uncovered) / 2
