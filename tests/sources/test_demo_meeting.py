"""The demo meeting simulator: its ground truth matches its pixels, repeats, re-flows on churn, and its faces are real."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.pipeline.detect import Detect
from vcam.sources import make_source, tiles
from vcam.sources.demo import DemoSource
from vcam.sources.demo_people import CHURN_S, SPEAK_S
from vcam.sources.demo_theme import ELLIPSIS, LABEL_WIDTH, THEMES
from vcam.types import Layout

FPS = 30.0


def crop(image: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = rect
    return image[y:y + h, x:x + w]


def inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    (ix, iy, iw, ih), (ox, oy, ow, oh) = inner, outer
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


def opened(spec: str) -> DemoSource:
    src = make_source(spec, realtime=False)
    assert isinstance(src, DemoSource)
    return src.open()


@pytest.fixture(scope="module")
def zoom23() -> tuple[DemoSource, np.ndarray]:
    """A Zoom-like meeting of 23 people, 3 with their camera off, and its frame 100."""
    src = opened("demo:zoom:n=23:off=3")
    yield src, src.render(100)
    src.close()


def test_23_people_fill_a_5x5_grid_with_an_uneven_last_row_centred(zoom23):
    src, image = zoom23
    rects = [t.rect for t in src.truth(100).tiles]
    assert len(rects) == 23
    rows = sorted({y for _, y, _, _ in rects})
    assert len(rows) == 5
    last = [r for r in rects if r[1] == rows[-1]]
    assert len(last) == 3
    left, right = last[0][0], src.size[0] - (last[-1][0] + last[-1][2])
    assert abs(left - right) <= 1, f"the last row is not centred: {left} px left, {right} px right"
    x, y, w, h = last[0]
    window = np.array(THEMES["zoom"].window, np.uint8)
    assert (image[y + h // 2, :x] == window).all(), "left of the last row is not the window"


def test_camera_off_tiles_are_flat_but_for_their_avatar_and_label(zoom23):
    src, image = zoom23
    off = [t for t in src.truth(100).tiles if t.camera_off]
    assert len(off) == 3
    for tile in off:
        x, y, w, h = tile.rect
        flat = np.ones((h, w), bool)
        lx, ly, lw, lh = tile.label
        flat[ly - y:ly - y + lh, lx - x:lx - x + lw] = False
        flat[int(h * 0.2):int(h * 0.8), int(w * 0.3):int(w * 0.7)] = False  # the disc with the initials
        if tile.speaking:
            flat[:8], flat[-8:], flat[:, :8], flat[:, -8:] = False, False, False, False
        pixels = crop(image, tile.rect)
        assert (pixels[flat] == THEMES["zoom"].camera_off).all(), f"{tile.name}'s camera-off tile is not flat"
        assert not (pixels[~flat] == THEMES["zoom"].camera_off).all(), f"{tile.name}'s tile shows no avatar"


def test_camera_on_tiles_show_a_picture(zoom23):
    src, image = zoom23
    for tile in src.truth(100).tiles:
        if not tile.camera_off:
            assert crop(image, tile.rect).std() > 20, f"{tile.name}'s tile looks flat"


def test_every_label_is_inside_its_tile_and_drawn_in_the_themes_text_colour(zoom23):
    src, image = zoom23
    text = np.array(THEMES["zoom"].text)
    for tile in src.truth(100).tiles:
        assert inside(tile.label, tile.rect), f"{tile.name}'s label leaves its tile"
        x, y, w, h = tile.rect
        assert tile.label[1] + tile.label[3] > y + h * 0.8 and tile.label[0] < x + w * 0.1, "label not bottom-left"
        near_text = np.abs(crop(image, tile.label).astype(int) - text).max(axis=2) < 40
        assert near_text.sum() >= 10, f"no text drawn in {tile.name}'s label"


def test_long_names_are_truncated_with_an_ellipsis_to_fit_their_tile(zoom23):
    src, _ = zoom23
    cut = [t for t in src.truth(100).tiles if t.name != t.full_name]
    assert cut, "the meeting has long names; some should be truncated in a 5x5 grid"
    for tile in cut:
        assert tile.name.endswith(ELLIPSIS) and tile.full_name.startswith(tile.name[:-1].rstrip())
        assert tile.label[2] <= tile.rect[2] * LABEL_WIDTH
    accented = [t.name for t in src.truth(100).tiles if any(ord(c) > 127 for c in t.name.replace(ELLIPSIS, ""))]
    assert len(accented) >= 10


def test_the_speaker_has_the_themes_border_and_nobody_else(zoom23):
    src, image = zoom23
    colour = THEMES["zoom"].speaking
    speaking = [t for t in src.truth(100).tiles if t.speaking]
    assert len(speaking) == 1
    for tile in src.truth(100).tiles:
        x, y, w, h = tile.rect
        top_edge = image[y, x + w // 4:x + 3 * w // 4]
        assert (top_edge == colour).all() == tile.speaking, f"{tile.name}: border does not match speaking"


def test_the_speaker_moves_between_tiles_over_time():
    src = DemoSource(rows=3, cols=3, theme="zoom", realtime=False)

    def speaker(index: int) -> int:
        return next(t.participant for t in src.truth(index).tiles if t.speaking)

    turn = int(SPEAK_S * FPS)
    assert len({speaker(k * turn) for k in range(8)}) >= 3
    assert {speaker(i) for i in range(3 * turn, 4 * turn)} == {speaker(3 * turn)}, "the speaker changed within a turn"


def test_teams_tiles_have_rounded_corners_and_wider_gaps_than_zoom():
    with DemoSource(rows=3, cols=3, theme="teams", realtime=False) as teams:
        image, rects = teams.render(5), teams.tile_rects()
    zoom_rects = DemoSource(rows=3, cols=3, theme="zoom", realtime=False).tile_rects()
    x, y, w, h = rects[0]
    assert (image[y, x] == THEMES["teams"].window).all() and (image[y + h - 1, x + w - 1] == THEMES["teams"].window).all()
    assert rects[1][0] - (rects[0][0] + rects[0][2]) > zoom_rects[1][0] - (zoom_rects[0][0] + zoom_rects[0][2]) >= 2


def test_the_same_index_gives_the_same_pixels_and_truth_in_any_order():
    spec = "demo:teams:n=14:off=2:churn:seed=5"
    a, b = opened(spec), opened(spec)
    try:
        late = int(3 * CHURN_S * FPS) + 7
        first = a.render(late)
        for i in (0, 31, late + 200, 5):
            b.render(i)
        np.testing.assert_array_equal(b.render(late), first)
        assert a.truth(late) == b.truth(late)
    finally:
        a.close()
        b.close()


def test_churn_changes_one_person_at_each_announced_time_and_the_gallery_reflows():
    src = opened("demo:zoom:n=12:churn")
    try:
        for k in range(1, 7):
            at = int(round(k * CHURN_S * FPS))
            before, after = src.truth(at - 1), src.truth(at)
            was, now = [t.participant for t in before.tiles], [t.participant for t in after.tiles]
            joined, left = set(now) - set(was), set(was) - set(now)
            assert len(joined) + len(left) == 1, f"event {k}: joined {joined}, left {left}"
            assert [p for p in was if p not in left] == [p for p in now if p not in joined], "the order changed"
            if joined:
                assert now[-1] in joined, "a joiner goes to the end"
            rows, cols = tiles.app_grid(len(now))
            gap = margin = THEMES["zoom"].px(THEMES["zoom"].gap, 1080, 2)
            assert [t.rect for t in after.tiles] == tiles.gallery(len(now), rows, cols, 1920, 1080, gap, margin)
            image = src.render(at)
            for tile in after.tiles:
                assert not (crop(image, tile.rect) == THEMES["zoom"].window).all(axis=2).all(), "a tile is not drawn"
    finally:
        src.close()


def test_between_churn_events_nobody_comes_or_goes():
    src = DemoSource(rows=3, cols=4, theme="zoom", churn=True, realtime=False)
    start = int(2 * CHURN_S * FPS)
    present = {tuple(t.participant for t in src.truth(i).tiles) for i in range(start, start + int(CHURN_S * FPS))}
    assert len(present) == 1


def test_speaker_view_shows_the_speaker_large_and_a_filmstrip():
    with DemoSource(rows=3, cols=4, theme="zoom", speaker=True, realtime=False) as src:
        truth = src.truth(40)
        image = src.render(40)
    assert truth.kind == "speaker"
    big = max(truth.tiles, key=lambda t: t.rect[2])
    assert big.speaking and sum(t.speaking for t in truth.tiles) == 1
    strip = [t for t in truth.tiles if t is not big]
    assert len(strip) == tiles.FILMSTRIP_MAX and all(t.rect[1] + t.rect[3] <= big.rect[1] for t in strip)
    assert crop(image, big.rect).std() > 20


def test_truth_speaks_vcams_layout_vocabulary(zoom23):
    src, _ = zoom23
    truth = src.truth(100)
    layout = truth.layout()
    assert isinstance(layout, Layout) and layout.kind == "grid" and len(layout) == 23
    assert list(layout.participant) == [t.name for t in truth.tiles]
    assert layout.camera_off.sum() == 3
    centres = np.array([[x + w / 2, y + h / 2] for x, y, w, h in (t.rect for t in truth.tiles)])
    assert list(layout.tile_of(centres)) == list(range(23))


def test_classic_demo_keeps_portrait_names_for_repeats_and_draws_no_speaker():
    src = DemoSource(rows=5, cols=5, realtime=False)
    truth = src.truth(0)
    assert not any(t.speaking for t in truth.tiles)
    assert [t.full_name for t in truth.tiles][20] == "Grace Hopper" == truth.tiles[20].portrait
    assert truth.tiles[20].mirrored and not truth.tiles[0].mirrored


def test_themed_repeats_of_a_portrait_get_their_own_names_and_are_mirrored():
    truth = DemoSource(rows=7, cols=7, theme="zoom", realtime=False).truth(0)
    assert len({t.full_name for t in truth.tiles}) == 49
    repeats = [t for t in truth.tiles if t.portrait == truth.tiles[0].portrait]
    assert len(repeats) >= 2 and any(t.mirrored for t in repeats)


def test_mediapipe_finds_every_camera_on_face_and_none_on_camera_off_tiles():
    detect = Detect()
    with DemoSource(rows=5, cols=5, theme="zoom", off=3, realtime=False) as src:
        for index in (0, 200, 451):
            image, truth = src.render(index), src.truth(index)
            for tile in truth.tiles:
                found = len(detect.find(crop(image, tile.rect)))
                assert found == (0 if tile.camera_off else 1), f"frame {index}, {tile.full_name}: {found} faces"

