"""The gallery view: with a meeting layout, marks stay in their tile and grow with it.

The golden scenes (``conftest.gallery_scene``) are the demo meeting's first
frame at 1280×720 in 3×3, 5×5 and 7×7, with one face per tile (two in tile 1,
none in the camera-off tiles), mixed gaze states, accented participant names
(one too long for a 5×5 tile) and enrolled names that agree or disagree.
Regenerate them as the single-face golden is (see ``test_overlay_golden.py``)::

    VCAM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/overlay
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from overlay import Style, draw, gallery, marks, text
from overlay.face import _prepare
from overlay.gallery import Detail
from vcam.types import Analysis, Layout

W, H = 1280, 720
GOLDEN_DIR = Path(__file__).parent / "golden"
MAX_MEAN_ABS_DIFF = 1.0
"""Mean absolute difference over all pixels and channels, 0..255 (as for the single-face golden)."""
MAX_SHARE_FAR_OFF = 0.005
"""Share of pixels whose largest channel difference is above FAR_OFF."""
FAR_OFF = 40


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(H, W) bool``: pixels that differ between ``a`` and ``b``."""
    return (a != b).any(axis=2)


def near(px: np.ndarray, colour: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.abs(px.astype(int) - colour).max() <= tol)


def one_tile(scene: type, w: int, h: int, looking: bool | None = True, **layout: object):
    """A grey 1280×720 image and an analysis with one ``w`` × ``h`` tile at (100, 100) holding one face."""
    tile = (100.0, 100.0, float(w), float(h))
    box = (100 + 0.35 * w, 100 + 0.2 * h, 0.3 * w, 0.6 * h)
    faces = scene.faces([box], [looking], poses=[(20.0, 5.0, 0.0)]).replace(
        tile=np.array([0]), participant=np.array(["Zoë Ng"], object))
    fields = {"participant": np.array(["Zoë Ng"], object), **layout}
    lay = Layout.of("grid", np.array([tile], np.float32)).replace(**fields)
    analysis = dataclasses.replace(scene.analysis(faces, (W, H)), layout=lay, features=("gaze", "names"))
    return np.full((H, W, 3), 96, np.uint8), analysis, box


def gallery_tiles(analysis: Analysis) -> list:
    """The gallery's prepared tiles of ``analysis`` drawn at its own size, with no badge to avoid."""
    faces = _prepare(analysis, *analysis.size)
    by_tile = gallery._group(faces, analysis.faces.tile, len(analysis.layout))
    return gallery._tiles(analysis, analysis.layout, by_tile, (1.0, 1.0), (H, W, 3), None)


# --- goldens ---------------------------------------------------------------------


@pytest.mark.parametrize("grid", [3, 5, 7], ids=["3x3", "5x5", "7x7"])
def test_each_gallery_scene_matches_its_golden_picture(scene: type, grid: int) -> None:
    image, analysis = scene.gallery(grid, grid)
    out = draw(image, analysis)
    path = GOLDEN_DIR / f"gallery_{grid}x{grid}_1280x720.png"
    if os.environ.get("VCAM_REGEN_GOLDEN"):
        cv2.imwrite(str(path), out, [cv2.IMWRITE_PNG_COMPRESSION, 9])  # photos: ~0.8 MB each, not 1 MB
        pytest.fail(f"regenerated {path}; look at it, commit it, and rerun without VCAM_REGEN_GOLDEN")
    golden = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert golden is not None, f"{path} is missing; create it with VCAM_REGEN_GOLDEN=1"
    diff = np.abs(out.astype(np.int16) - golden.astype(np.int16))
    far_off = (diff.max(axis=2) > FAR_OFF).mean()
    assert diff.mean() < MAX_MEAN_ABS_DIFF, f"mean abs diff {diff.mean():.3f}"
    assert far_off < MAX_SHARE_FAR_OFF, f"{far_off:.2%} of pixels differ by more than {FAR_OFF}"


# --- marks stay in their tile ----------------------------------------------------------


def outside_tiles(layout: Layout, shape: tuple[int, ...], k: float = 1.0) -> np.ndarray:
    """``(H, W) bool``: pixels in no tile of ``layout`` drawn at scale ``k``."""
    mask = np.ones(shape[:2], bool)
    for x, y, w, h in (layout.tiles * k).tolist():
        mask[max(0, round(y)) : round(y + h), max(0, round(x)) : round(x + w)] = False
    return mask


def box_mask(shape: tuple[int, ...], *rects: tuple[int, int, int, int]) -> np.ndarray:
    """``(H, W) bool``: True inside the ``(x0, y0, x1, y1)`` rectangles."""
    mask = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in rects:
        mask[y0:y1, x0:x1] = True
    return mask


@pytest.mark.parametrize("grid,size", [(3, (1280, 720)), (5, (1280, 720)), (7, (1280, 720)), (7, (640, 360))],
                         ids=["3x3", "5x5", "7x7", "7x7-at-640x360"])
def test_marks_stay_inside_their_tile_except_the_badge_and_the_summary(scene: type, grid: int,
                                                                       size: tuple[int, int]) -> None:
    _, analysis = scene.gallery(grid, grid)
    boxes = analysis.faces.bbox.copy()
    boxes[0, 0] += 0.6 * analysis.layout.tiles[0, 2]  # a face box sticking out of its tile's right edge
    analysis = dataclasses.replace(analysis, faces=analysis.faces.replace(bbox=boxes))
    black = np.zeros((size[1], size[0], 3), np.uint8)
    out = draw(black, analysis)
    m = Style().metrics(size[1])
    allowed = box_mask(black.shape, marks.badge_rect(Style().badge_text, Style(), m),
                       gallery.summary_rect(black.shape, gallery.room_counts(analysis), Style(), m))
    stray = changed(out, black) & outside_tiles(analysis.layout, black.shape, size[0] / W) & ~allowed
    assert stray.sum() == 0, f"{stray.sum()} pixels drawn outside every tile, e.g. at {np.argwhere(stray)[:3]}"


def test_a_face_in_no_tile_is_still_drawn(scene: type) -> None:
    image, analysis, _ = one_tile(scene, 420, 236)
    loose = scene.faces([(800.0, 300.0, 150.0, 180.0)], [True]).replace(tile=np.array([-1]))
    faces = type(analysis.faces).concat([analysis.faces, loose])
    out = draw(image, dataclasses.replace(analysis, faces=faces))
    assert changed(out, image)[300:480, 800:950].sum() > 200


# --- level of detail ---------------------------------------------------------------------


@pytest.mark.parametrize("size,detail", [((119, 67), Detail.MARK), ((172, 97), Detail.NAME), ((245, 138), Detail.FACE),
                                         ((414, 233), Detail.FULL), ((414, 100), Detail.NAME)],
                         ids=["10x10", "7x7", "5x5", "3x3", "wide-and-short"])
def test_the_detail_follows_the_tile_size_in_output_pixels(size: tuple[int, int], detail: Detail) -> None:
    assert gallery.detail_for(*size) == detail


def test_larger_text_needs_a_larger_tile_for_the_same_detail() -> None:
    assert gallery.detail_for(258, 145, text_scale=1.5) == Detail.NAME  # 7x7 sent at 1080 p: as at 720 p
    assert gallery.detail_for(86, 48, text_scale=0.7) == Detail.MARK  # 7x7 at 640x360, text at its minimum
    assert gallery.detail_for(621, 349, text_scale=1.5) == Detail.FULL  # 3x3 at 1080 p


def test_a_7x7_gallery_shown_at_half_size_drops_its_names(scene: type) -> None:
    _, analysis = scene.gallery(7, 7)
    x, y, w, h = (int(v) for v in analysis.layout.tiles[2])
    full = draw(np.zeros((H, W, 3), np.uint8), analysis, Style(badge=False))
    half = draw(np.zeros((H // 2, W // 2, 3), np.uint8), analysis, Style(badge=False))
    def name_band(img: np.ndarray, k: float) -> np.ndarray:
        """Where tile 2's name chip is, right of its corner marks, in an image drawn at scale ``k``."""
        return img[round(y * k) + 8 : round((y + h / 3) * k), round((x + w / 3) * k) : round((x + w / 2) * k)]

    assert name_band(full, 1).any() and not name_band(half, 0.5).any()


def test_each_level_adds_its_marks(scene: type) -> None:
    looks = {}
    for w, h in ((100, 56), (172, 97), (245, 138), (420, 236)):
        image, analysis, box = one_tile(scene, w, h)
        out = draw(image, analysis, Style(badge=False))
        bx, by, bw, bh = (round(v) for v in box)
        looks[w] = {
            "corner": near(out[101, 101], Style().looking, 40),
            "name": changed(out, image)[104 : 104 + 18, 110 : 110 + 30].mean() > 0.3,
            "box": near(out[by + bh // 2, bx], Style().looking, 40),
            "read-out": changed(out, image)[by + bh + 4 : by + bh + 24, bx : bx + bw].sum() > 50,
        }
    assert looks[100] == {"corner": True, "name": False, "box": False, "read-out": False}
    assert looks[172] == {"corner": True, "name": True, "box": False, "read-out": False}
    assert looks[245] == {"corner": True, "name": True, "box": True, "read-out": False}
    assert looks[420] == {"corner": True, "name": True, "box": True, "read-out": True}


def test_a_shared_tile_gives_each_face_its_share_of_the_detail(scene: type) -> None:
    _, analysis = scene.gallery(3, 3)
    tiles = gallery_tiles(analysis)
    assert tiles[1].detail == Detail.FULL and tiles[1].face_detail == Detail.FACE and len(tiles[1].faces) == 2
    assert tiles[0].face_detail == Detail.FULL


# --- camera off, names, summary -------------------------------------------------------------


def test_a_camera_off_tile_gets_the_grey_camera_off_mark_without_a_face(scene: type) -> None:
    image, analysis, _ = one_tile(scene, 245, 138, camera_off=np.array([True]))
    analysis = dataclasses.replace(analysis, faces=analysis.faces.select([]))
    out = draw(image, analysis, Style(badge=False))
    style = Style()
    assert near(out[101, 101], style.camera_off) and not near(out[101, 101], style.away, 60)
    centre = out[100 + 138 // 2 - 6 : 100 + 138 // 2 + 6, 100 + 20 : 100 + 225].reshape(-1, 3)
    assert np.mean([near(px, style.camera_off) for px in centre]) > 0.3


def test_the_camera_off_mark_shows_at_every_size(scene: type) -> None:
    for w, h in ((100, 56), (420, 236)):
        image, analysis, _ = one_tile(scene, w, h, camera_off=np.array([True]))
        out = draw(image, dataclasses.replace(analysis, faces=analysis.faces.select([])), Style(badge=False))
        cy, cx = 100 + h // 2, 100 + w // 2
        assert near(out[cy - 6, cx - 2], Style().camera_off) or near(out[cy + 6, cx + 2], Style().camera_off)


def test_the_summary_counts_faces_with_gaze_and_camera_off_tiles_apart(scene: type) -> None:
    _, analysis = scene.gallery(7, 7)
    f = analysis.faces
    read = np.isfinite(f.on_screen_conf)
    counts = gallery.room_counts(analysis)
    assert counts == (int((read & f.on_screen).sum()), int(read.sum()), 4)
    assert gallery.summary_text(counts) == f"{counts.looking} of {counts.read} looking · 4 camera off"
    assert gallery.summary_text(gallery.RoomCounts(3, 5, 0)) == "3 of 5 looking"
    assert gallery.summary_text(gallery.RoomCounts(0, 0, 2)) == "no gaze read · 2 camera off"


def test_a_face_in_a_camera_off_tile_is_not_counted(scene: type) -> None:
    image, analysis, _ = one_tile(scene, 245, 138, camera_off=np.array([True]))
    assert gallery.room_counts(analysis) == (0, 0, 1)


def test_the_summary_chip_sits_in_the_bottom_right_corner_clear_of_the_badge(scene: type) -> None:
    image, analysis = scene.gallery(5, 5)
    m = Style().metrics(H)
    x0, y0, x1, y1 = gallery.summary_rect(image.shape, gallery.room_counts(analysis), Style(), m)
    bx0, by0, bx1, by1 = marks.badge_rect(Style().badge_text, Style(), m)
    assert x0 > W // 2 and y0 > H // 2 and x1 <= W and y1 <= H and bx1 < x0
    assert changed(draw(image, analysis), draw(image, analysis, Style(badge=False)))[by0:by1, bx0:bx1].any()


def test_the_badge_stays_on_with_a_layout_and_the_first_tile_name_moves_below_it(scene: type) -> None:
    image, analysis = scene.gallery(7, 7)
    m = Style().metrics(H)
    _, _, bx1, by1 = marks.badge_rect(Style().badge_text, Style(), m)
    out, bare = draw(image, analysis), draw(image, None)
    assert np.array_equal(out[:by1, :bx1], bare[:by1, :bx1]) or changed(out, bare)[:by1, :bx1].mean() < 0.05
    x0, y0 = (int(v) for v in analysis.layout.tiles[0, :2])
    band = changed(out, image)[by1 + 1 : by1 + 20, x0 + 10 : x0 + 60]
    assert band.mean() > 0.3  # the name chip, just below the badge


def test_the_participant_comes_first_and_a_differing_enrolled_name_is_a_small_second_chip(scene: type) -> None:
    _, analysis = scene.gallery(3, 3)
    tiles = gallery_tiles(analysis)
    m = Style().metrics(H)
    assert tiles[0].name == "José García" and tiles[0].identities == ["Grace Hopper"]
    chips = gallery._header_chips(tiles[0], "looking", 380, Style(), m)
    assert len(chips) == 2 and chips[1].mask.shape[0] < chips[0].mask.shape[0]
    assert tiles[2].identities == [None]  # the enrolled name agrees with the tile's
    assert len(gallery._header_chips(tiles[2], "looking", 380, Style(), m)) == 1
    small = tiles[0]._replace(detail=Detail.NAME)
    assert len(gallery._header_chips(small, "looking", 150, Style(), m)) == 1


def test_without_a_participant_the_enrolled_name_is_the_name(scene: type) -> None:
    image, analysis, _ = one_tile(scene, 245, 138, participant=np.array([None], object))
    faces = analysis.faces.replace(participant=np.array([None], object), name=np.array(["Ada"], object))
    analysis = dataclasses.replace(analysis, faces=faces, features=("gaze", "names", "identity"))
    tile = gallery_tiles(analysis)[0]
    assert tile.name == "Ada" and tile.identities == [None]


def test_participant_names_show_only_when_the_names_feature_ran(scene: type) -> None:
    image, analysis, _ = one_tile(scene, 245, 138)
    assert gallery_tiles(analysis)[0].name == "Zoë Ng"
    off = dataclasses.replace(analysis, features=("gaze",))
    assert gallery_tiles(off)[0].name is None
    on, without = draw(image, analysis, Style(badge=False)), draw(image, off, Style(badge=False))
    assert changed(on, without)[104:122, 110:140].any()


def test_blank_participant_names_count_as_none(scene: type) -> None:
    _, analysis, _ = one_tile(scene, 245, 138, participant=np.array(["  "], object))
    faces = analysis.faces.replace(participant=np.array(["  Zoë   Ng "], object))
    assert gallery_tiles(dataclasses.replace(analysis, faces=faces))[0].name == "Zoë Ng"


def test_a_long_name_is_cut_with_an_ellipsis_to_fit() -> None:
    name = "Maximiliano Hernández-Villalobos de la Cruz"
    cut = text.fit(name, 15, 150)
    assert cut.endswith("…") and name.startswith(cut[:-1]) and text.width(cut, 15) <= 150
    assert text.fit("Zoë", 15, 150) == "Zoë"
    assert text.fit(name, 15, 5) == ""


def test_accented_names_are_drawn_with_their_accents() -> None:
    assert not np.array_equal(text.coverage("Zoë", 15), text.coverage("Zoe", 15))
    assert text.coverage("Łukasz", 15).any()


def test_names_fold_to_ascii_for_the_fallback_font() -> None:
    assert text.fold("Łukasz Wiśniewski") == "Lukasz Wisniewski"
    assert text.fold("Zoë Søren Müller…") == "Zoe Soren Muller..."


@pytest.fixture
def no_font(monkeypatch: pytest.MonkeyPatch):
    """DejaVuSans.ttf made missing, with the text caches emptied before and after."""
    caches = (text._font, text.width, text.fit, text.coverage, text.chip, gallery._camera_off_sprite)

    def clear() -> None:
        for cache in caches:
            cache.cache_clear()

    clear()
    monkeypatch.setattr(text, "font_path", lambda: None)
    yield
    monkeypatch.undo()
    clear()


def test_without_the_font_names_are_drawn_in_ascii(scene: type, no_font: None) -> None:
    image, analysis = scene.gallery(5, 5)
    out = draw(image, analysis)
    assert changed(out, image).mean() > 0.02
    assert text.coverage("Łukasz", 15).any()


def test_a_missing_font_is_logged_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                       tmp_path: Path) -> None:
    class Spec:
        origin = str(tmp_path / "__init__.py")

    text.font_path.cache_clear()
    monkeypatch.setattr(text.importlib.util, "find_spec", lambda name: Spec())
    try:
        with caplog.at_level(logging.WARNING, logger="overlay.text"):
            assert text.font_path() is None and text.font_path() is None
        assert len([r for r in caplog.records if "DejaVuSans" in r.message]) == 1
    finally:
        monkeypatch.undo()
        text.font_path.cache_clear()


def test_the_font_is_found_without_importing_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys; from overlay import text; assert text.font_path(); print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_layout_with_no_tiles_still_draws_the_faces_and_the_summary(scene: type) -> None:
    faces = scene.faces([(400.0, 200.0, 200.0, 240.0)], [True])
    analysis = dataclasses.replace(scene.analysis(faces, (W, H)), layout=Layout.of("grid", np.zeros((0, 4))))
    image = np.full((H, W, 3), 96, np.uint8)
    out = draw(image, analysis)
    assert changed(out, image)[200:440, 400:600].sum() > 200
    assert gallery.room_counts(analysis) == (1, 1, 0)
    x0, y0, x1, y1 = gallery.summary_rect(image.shape, gallery.room_counts(analysis), Style(), Style().metrics(H))
    assert changed(out, image)[y0:y1, x0:x1].mean() > 0.5


def test_a_tile_at_the_image_corner_puts_its_name_below_the_badge(scene: type) -> None:
    image, analysis, _ = one_tile(scene, 420, 236)
    lay = analysis.layout.replace(tiles=np.array([[0, 0, 420, 236]], np.float32))
    analysis = dataclasses.replace(analysis, layout=lay, faces=analysis.faces.select([]))
    m = Style().metrics(H)
    _, _, bx1, by1 = marks.badge_rect(Style().badge_text, Style(), m)
    out = draw(image, analysis)
    assert changed(out, image)[by1 + 2 : by1 + 18, 12:40].mean() > 0.3  # the name chip, just below the badge


@pytest.mark.parametrize(("enrolled", "participant", "shown"), [
    ("Zoë Müller", "Zoe Muller", None), ("ada  LOVELACE", "Ada Lovelace", None),
    ("Ada Lovelace", "Grace Hopper", "Ada Lovelace"), ("unknown", "Grace Hopper", None), ("Ada Lovelace", None, None)])
def test_an_enrolled_name_is_marked_as_different_only_when_it_is_another_name(enrolled, participant, shown) -> None:
    """The label reader often drops accents: "Zoe Muller" read from the tile is the enrolled "Zoë Müller"."""
    assert gallery._identity(enrolled, participant) == shown
