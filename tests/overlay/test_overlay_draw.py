"""overlay.draw: what it paints, where, and what it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest

from overlay import Style, draw
from overlay import marks, sprite

W, H = 1280, 720
GREY = 96


def grey_image(w: int = W, h: int = H) -> np.ndarray:
    """A flat mid-grey ``(h, w, 3) uint8`` image."""
    return np.full((h, w, 3), GREY, np.uint8)


def is_green(px: np.ndarray) -> bool:
    """Green clearly above red and blue."""
    b, g, r = (int(v) for v in px)
    return g > r + 60 and g > b + 60


def is_amber(px: np.ndarray) -> bool:
    """Red high, green medium, blue low."""
    b, g, r = (int(v) for v in px)
    return r > 200 and g > b + 80 and r > g + 30


def is_red(px: np.ndarray) -> bool:
    """Red clearly above green and blue."""
    b, g, r = (int(v) for v in px)
    return r > g + 100 and r > b + 100


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(H, W) bool``: pixels that differ between ``a`` and ``b``."""
    return (a != b).any(axis=2)


BOX = (300.0, 200.0, 240.0, 260.0)  # x, y, w, h in px


# --- the contract -------------------------------------------------------------


def test_draw_leaves_the_input_image_untouched(scene: type) -> None:
    image = grey_image()
    before = image.copy()
    draw(image, scene.analysis(scene.faces([BOX], [True]), (W, H)))
    assert np.array_equal(image, before)


def test_draw_returns_a_new_uint8_image_of_the_same_shape(scene: type) -> None:
    image = grey_image()
    out = draw(image, scene.analysis(scene.faces([BOX], [False]), (W, H)))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, image)


def test_draw_accepts_a_non_contiguous_view(scene: type) -> None:
    image = np.full((H, 2 * W, 3), GREY, np.uint8)[:, ::2]
    out = draw(image, scene.analysis(scene.faces([BOX], [True]), (W, H)))
    assert out.shape == (H, W, 3)


def test_draw_rejects_a_float_image_with_type_error() -> None:
    with pytest.raises(TypeError, match="uint8"):
        draw(np.zeros((H, W, 3), np.float32), None)


def test_draw_rejects_a_grey_image_with_value_error() -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        draw(np.zeros((H, W), np.uint8), None)


def test_draw_rejects_an_analysis_of_zero_size(scene: type) -> None:
    with pytest.raises(ValueError, match="Analysis.size"):
        draw(grey_image(), scene.analysis(scene.faces([BOX], [True]), (0, 0)))


# --- the badge ----------------------------------------------------------------


def badge_bbox() -> tuple[slice, slice]:
    """Rows and columns the badge covers at 1280×720, from a render on grey."""
    ys, xs = np.nonzero(changed(draw(grey_image(), None), grey_image()))
    return slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)


def test_the_badge_is_a_red_pill_in_the_top_left_corner() -> None:
    rows, cols = badge_bbox()
    assert rows.stop < H // 10 and cols.stop < W // 5
    pixels = draw(grey_image(), None)[rows, cols].reshape(-1, 3)
    assert np.mean([is_red(px) for px in pixels]) > 0.5


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (40, 30, 215)], ids=["black", "white", "red"])
def test_the_badge_stands_out_on_any_background(colour: tuple[int, int, int]) -> None:
    image = np.full((H, W, 3), colour, np.uint8)
    rows, cols = badge_bbox()
    diff = changed(draw(image, None), image)[rows, cols]
    assert diff.mean() > 0.15  # on red, the white rim, dot and text carry it
    assert diff[:, 0].any() and diff[:, -1].any() and diff[0].any() and diff[-1].any()  # the outline shows


def test_draw_without_analysis_draws_only_the_badge() -> None:
    image = grey_image()
    diff = changed(draw(image, None), image)
    ys, xs = np.nonzero(diff)
    assert len(ys) > 0
    assert ys.max() < H // 10 and xs.max() < W // 5


def test_the_badge_can_be_switched_off_and_says_what_it_is_told() -> None:
    image = grey_image()
    assert np.array_equal(draw(image, None, Style(badge=False)), image)
    short, long = draw(image, None, Style(badge_text="ON")), draw(image, None, Style(badge_text="FACE ANALYSIS ON"))
    assert np.nonzero(changed(long, image))[1].max() > np.nonzero(changed(short, image))[1].max()


# --- boxes and state colours ----------------------------------------------------


def left_edge_pixel(out: np.ndarray, box: tuple[float, float, float, float] = BOX, k: float = 1.0) -> np.ndarray:
    """The pixel half-way down the box's left edge, for a box drawn at scale ``k``."""
    x, y, _, h = (v * k for v in box)
    return out[round(y + h / 2), round(x)]


def test_a_looking_face_gets_a_green_box(scene: type) -> None:
    out = draw(grey_image(), scene.analysis(scene.faces([BOX], [True]), (W, H)))
    assert is_green(left_edge_pixel(out))
    assert is_green(out[round(BOX[1]), round(BOX[0] + BOX[2] / 2)])  # top edge


def test_an_away_face_gets_an_amber_box(scene: type) -> None:
    out = draw(grey_image(), scene.analysis(scene.faces([BOX], [False]), (W, H)))
    assert is_amber(left_edge_pixel(out))


def test_a_face_with_unknown_gaze_gets_a_grey_box(scene: type) -> None:
    out = draw(grey_image(), scene.analysis(scene.faces([BOX], [None]), (W, H)))
    b, g, r = (int(v) for v in left_edge_pixel(out))
    assert max(b, g, r) - min(b, g, r) < 10 and b > GREY + 40


def test_the_label_sits_above_the_box_in_the_state_colour(scene: type) -> None:
    out = draw(grey_image(), scene.analysis(scene.faces([BOX], [True]), (W, H)))
    above = out[int(BOX[1]) - 30 : int(BOX[1]) - 2, int(BOX[0]) : int(BOX[0]) + 80].reshape(-1, 3)
    assert np.mean([is_green(px) for px in above]) > 0.4


def test_the_label_moves_inside_the_box_when_there_is_no_room_above(scene: type) -> None:
    box = (300.0, 2.0, 240.0, 260.0)
    out = draw(grey_image(), scene.analysis(scene.faces([box], [True]), (W, H)), Style(badge=False))
    inside = out[6:30, 302:380].reshape(-1, 3)
    assert np.mean([is_green(px) for px in inside]) > 0.4


def test_faces_with_a_nan_box_are_skipped(scene: type) -> None:
    nan = (np.nan, np.nan, np.nan, np.nan)
    image = grey_image()
    both = scene.faces([nan, BOX], [True, False]).replace(track_id=np.array([7, 1]))
    out = draw(image, scene.analysis(both, (W, H)))
    alone = draw(image, scene.analysis(scene.faces([BOX], [False]), (W, H)))
    assert np.array_equal(out, alone)


def test_a_face_with_only_nan_boxes_draws_like_no_face(scene: type) -> None:
    nan = (np.nan, 10.0, 20.0, 20.0)
    image = grey_image()
    out = draw(image, scene.analysis(scene.faces([nan], [True]), (W, H)))
    assert np.array_equal(out, draw(image, None))


@pytest.mark.parametrize(
    "box",
    [
        (-150, -120, 300, 300),
        (W - 100, H - 80, 400, 400),
        (-1e9, -1e9, 2e9, 2e9),
        (5e9, 5e9, 10, 10),
        (10, 10, np.inf, 50),
        (10, 10, -5, 5),
    ],
    ids=["top-left", "bottom-right", "huge", "far-off", "infinite", "negative-size"],
)
def test_boxes_off_the_image_are_clipped_without_error(scene: type, box: tuple[float, float, float, float]) -> None:
    out = draw(grey_image(), scene.analysis(scene.faces([box], [True], poses=[(30, 20, 10)]), (W, H)))
    assert out.shape == (H, W, 3)


def test_a_box_partly_off_the_image_still_shows_its_visible_edges(scene: type) -> None:
    out = draw(grey_image(), scene.analysis(scene.faces([(-150, 300, 300, 200)], [True]), (W, H)))
    assert is_green(out[500, 75])  # bottom edge, on the image


def test_coordinates_scale_when_the_image_is_twice_the_analysis_size(scene: type) -> None:
    analysis = scene.analysis(scene.faces([BOX], [True]), (W // 2, H // 2))
    out = draw(grey_image(), analysis, Style(badge=False))
    assert is_green(left_edge_pixel(out, k=2.0))
    assert not is_green(left_edge_pixel(out, k=1.0))


def test_coordinates_scale_each_axis_on_its_own(scene: type) -> None:
    analysis = scene.analysis(scene.faces([BOX], [True]), (W, H // 2))
    out = draw(grey_image(), analysis, Style(badge=False))
    x, y, _, h = BOX
    assert is_green(out[round(2 * (y + h / 2)), round(x)])


def test_switching_every_mark_off_returns_a_plain_copy(scene: type) -> None:
    off = Style(boxes=False, ids=False, pose=False, gaze=False, landmarks=False, badge=False)
    image = grey_image()
    out = draw(image, scene.analysis(scene.faces([BOX], [True]), (W, H)), off)
    assert np.array_equal(out, image)


# --- pose, gaze and landmarks -----------------------------------------------------


def test_the_pose_tip_goes_right_for_positive_yaw_and_up_for_positive_pitch() -> None:
    x, y = marks.pose_tip((100.0, 100.0), yaw=30.0, pitch=20.0, length=50.0)
    assert x > 110 and y < 90
    x, y = marks.pose_tip((100.0, 100.0), yaw=-30.0, pitch=-20.0, length=50.0)
    assert x < 90 and y > 110


def test_a_face_looking_into_the_camera_gets_no_pose_arrow_length() -> None:
    assert marks.pose_tip((100.0, 100.0), yaw=0.0, pitch=0.0, length=50.0) == (100.0, 100.0)


def accent_pixels(out: np.ndarray, region: tuple[slice, slice], style: Style = Style()) -> int:
    """How many pixels in ``region`` are close to the accent colour."""
    diff = np.abs(out[region].astype(int) - np.array(style.accent)).sum(axis=2)
    return int((diff < 60).sum())


def test_the_pose_arrow_is_drawn_from_the_nose_towards_the_turn(scene: type) -> None:
    faces = scene.faces([BOX], [True], poses=[(40.0, 0.0, 0.0)])
    out = draw(grey_image(), scene.analysis(faces, (W, H)), Style(gaze=False))
    nose_x, nose_y = (round(v) for v in faces.landmarks[0, 1, :2])
    right = accent_pixels(out, (slice(nose_y - 15, nose_y + 15), slice(nose_x + 10, nose_x + 80)))
    left = accent_pixels(out, (slice(nose_y - 15, nose_y + 15), slice(nose_x - 80, nose_x - 10)))
    assert right > 30 and left == 0


def test_the_pose_read_out_is_printed_under_the_box(scene: type) -> None:
    faces = scene.faces([BOX], [True], poses=[(10.0, -5.0, 2.0)])
    image = grey_image()
    with_pose = draw(image, scene.analysis(faces, (W, H)), Style(badge=False))
    without = draw(image, scene.analysis(faces, (W, H)), Style(badge=False, pose=False))
    below = slice(int(BOX[1] + BOX[3]) + 3, int(BOX[1] + BOX[3]) + 30)
    assert changed(with_pose[below], without[below]).sum() > 200


@pytest.mark.parametrize("pose", [(np.nan, np.nan, np.nan), (10.0, np.inf, 0.0)], ids=["nan", "infinite"])
def test_a_face_without_a_usable_pose_gets_no_pose_marks(scene: type, pose: tuple[float, float, float]) -> None:
    faces = scene.faces([BOX], [True], poses=[pose])
    image = grey_image()
    on, off = (draw(image, scene.analysis(faces, (W, H)), Style(pose=p)) for p in (True, False))
    assert np.array_equal(on, off)


def test_irises_get_circles_when_landmarks_exist(scene: type) -> None:
    faces = scene.faces([BOX], [True])
    out = draw(grey_image(), scene.analysis(faces, (W, H)), Style(pose=False))
    for i in (468, 473):
        x, y = (round(v) for v in faces.landmarks[0, i, :2])
        assert accent_pixels(out, (slice(y - 10, y + 11), slice(x - 10, x + 11))) > 5


def test_faces_without_landmarks_still_get_box_pose_and_gaze_tile(scene: type) -> None:
    faces = scene.faces([BOX], [True], poses=[(30, 0, 0)], landmarks=False)
    out = draw(grey_image(), scene.analysis(faces, (W, H)))
    assert is_green(left_edge_pixel(out))
    cx, cy = round(BOX[0] + BOX[2] / 2), round(BOX[1] + BOX[3] / 2)
    assert accent_pixels(out, (slice(cy - 15, cy + 15), slice(cx + 10, cx + 80))) > 30


def gaze_tile_region(out: np.ndarray) -> np.ndarray:
    """The inside of :data:`BOX`'s top-right corner, where the eye tile sits, as ``(K, 3)``."""
    x, y, w, _ = (int(v) for v in BOX)
    return out[y + 3 : y + 40, x + w - 45 : x + w - 3].reshape(-1, 3)


def test_the_gaze_tile_shows_green_for_looking_and_amber_for_away(scene: type) -> None:
    looking = draw(grey_image(), scene.analysis(scene.faces([BOX], [True]), (W, H)), Style(boxes=False))
    away = draw(grey_image(), scene.analysis(scene.faces([BOX], [False]), (W, H)), Style(boxes=False))
    assert sum(is_green(px) for px in gaze_tile_region(looking)) > 20
    assert sum(is_amber(px) for px in gaze_tile_region(away)) > 10
    assert sum(is_green(px) for px in gaze_tile_region(away)) == 0


def test_the_confidence_bar_grows_with_confidence(scene: type) -> None:
    faces = scene.faces([BOX], [True])
    counts = []
    for conf in (0.2, 0.9):
        out = draw(grey_image(), scene.analysis(faces.replace(on_screen_conf=np.array([conf], np.float32)), (W, H)))
        counts.append(sum(is_green(px) for px in gaze_tile_region(out)))
    assert counts[1] > counts[0]


def test_landmark_dots_are_off_by_default_and_drawn_when_asked(scene: type) -> None:
    faces = scene.faces([BOX], [True])
    image = grey_image()
    bare = dict(boxes=False, ids=False, pose=False, gaze=False)
    off = draw(image, scene.analysis(faces, (W, H)), Style(**bare))
    on = draw(image, scene.analysis(faces, (W, H)), Style(**bare, landmarks=True))
    assert changed(off, image)[100:].sum() == 0
    assert changed(on, image)[100:].sum() > 300


# --- style ----------------------------------------------------------------------


def test_lines_and_text_grow_with_image_height() -> None:
    small, hd, full = (Style().metrics(h) for h in (360, 720, 1080))
    assert small.line <= hd.line < full.line
    assert small.font <= hd.font < full.font
    assert hd.font >= 0.45 and full.font >= 0.65  # readable at 720p and 1080p


@pytest.mark.parametrize(
    "kwargs", [{"line_width": 0}, {"font_scale": -1.0}, {"looking": (0, 300, 0)}, {"away": "amber"}]
)
def test_style_rejects_values_out_of_range_naming_the_field(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=f"Style.{next(iter(kwargs))}"):
        Style(**kwargs)


def test_style_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Style().boxes = False  # type: ignore[misc]


# --- sprites ---------------------------------------------------------------------


def test_the_fast_sprite_paste_matches_a_full_alpha_blend() -> None:
    s = marks._chip_sprite("#12 looking", Style().looking, Style(), Style().metrics(1080))
    rng = np.random.default_rng(0)
    fast = rng.integers(0, 256, (80, 300, 3), np.uint8)
    full = fast.copy()
    sprite.blit(fast, s, (10, 10))  # wholly inside: the fast path
    sprite._paste_clipped(full, s, (10, 10))
    assert np.abs(fast.astype(int) - full).max() <= 1


def test_a_sprite_partly_off_the_image_is_clipped() -> None:
    s = marks._chip_sprite("#1 away", Style().away, Style(), Style().metrics(720))
    image = grey_image(100, 100)
    sprite.blit(image, s, (-20, 90))
    sprite.blit(image, s, (500, 500))
    assert changed(image, grey_image(100, 100)).any()


@pytest.mark.parametrize("size", [(1, 1), (16, 9), (64, 36)])
def test_draw_works_on_images_smaller_than_its_marks(scene: type, size: tuple[int, int]) -> None:
    w, h = size
    analysis = scene.analysis(scene.faces([(0.1 * w, 0.1 * h, 0.5 * w, 0.6 * h)], [True], poses=[(20, 10, 0)]), size)
    out = draw(grey_image(w, h), analysis)
    assert out.shape == (h, w, 3)
