"""Why a face is away: the overlay's label and a 7×7 gallery tile say it in words (issue 16)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from overlay import Style, draw, gallery
from overlay.compose import _label_text, _prepare
from vcam.pipeline import Analyzer
from vcam.types import Analysis, Frame, Layout

W, H = 1280, 720
TILE_7X7 = (100.0, 100.0, 172.0, 97.0)
"""A tile of a 7×7 gallery sent at 1280×720: names and state, no face marks (``Detail.NAME``)."""


def tile_analysis(scene: type, looking: bool, reason: str | None, tile: tuple[float, ...] = TILE_7X7) -> Analysis:
    """One ``tile`` ``(x, y, w, h)`` px of a 1280×720 gallery holding one face judged ``looking`` or not, for ``reason``."""
    x, y, w, h = tile
    box = (x + 0.35 * w, y + 0.2 * h, 0.3 * w, 0.6 * h)
    faces = scene.faces([box], [looking], reasons=[reason]).replace(
        tile=np.array([0]), participant=np.array(["Ana Müller"], object))
    layout = Layout.of("grid", np.array([tile], np.float32)).replace(participant=np.array(["Ana Müller"], object))
    return dataclasses.replace(scene.analysis(faces, (W, H)), layout=layout, features=("gaze", "names"))


def drawn_rows(scene: type, reason: str, looking: bool = False) -> np.ndarray:
    """``(H, W) bool``: the pixels a tile's ``reason`` adds to the same tile drawn without one."""
    grey = np.full((H, W, 3), 96, np.uint8)
    with_reason = draw(grey, tile_analysis(scene, looking, reason))
    without = draw(grey, tile_analysis(scene, looking, None))
    return (with_reason != without).any(axis=2)


@pytest.fixture(scope="module")
def obama2(load_image) -> Analysis:
    """obama2.jpg through the real pipeline for a second: he looks up and to the image's right."""
    image = load_image("obama2.jpg")
    with Analyzer(("gaze",)) as analyzer:
        for i in range(10):
            analysis = analyzer.process(Frame(image, i, i / 10))
    return analysis


def test_a_real_face_looking_up_is_labelled_away_with_its_reason(obama2: Analysis) -> None:
    face = _prepare(obama2, *obama2.size)[0]
    assert face.state == "away"
    assert _label_text(face, Style()) == f"#{face.track_id} away: looking up"


def test_a_face_judged_looking_never_shows_a_reason(scene: type) -> None:
    analysis = scene.analysis(scene.faces([(100, 100, 120, 140)], [True], reasons=["looking up"]), (640, 360))
    assert _label_text(_prepare(analysis, 640, 360)[0], Style()) == "#1 looking"


def test_an_away_face_without_a_reason_is_simply_away(scene: type) -> None:
    analysis = scene.analysis(scene.faces([(100, 100, 120, 140)], [False]), (640, 360))
    assert _label_text(_prepare(analysis, 640, 360)[0], Style()) == "#1 away"


@pytest.mark.parametrize("reason", ["eyes closed", "looking down", "head turned", "looking aside"])
def test_a_7x7_tile_judged_away_shows_its_reason_under_the_name_in_the_away_colour(scene: type, reason: str) -> None:
    x, y, w, h = (round(v) for v in TILE_7X7)
    added = drawn_rows(scene, reason)
    ys, xs = np.nonzero(added)
    assert added.sum() > 150, "no reason chip"
    assert x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max() < y + h, "the chip leaves its tile"
    assert ys.max() - ys.min() + 1 >= 12, "a chip under 12 px high cannot be read at 7x7"
    assert ys.min() > y + 20, "the reason sits under the name chip, not over it"
    grey = np.full((H, W, 3), 96, np.uint8)
    out = draw(grey, tile_analysis(scene, False, reason))
    away = np.abs(out[added].astype(int) - Style().away).max(axis=1) <= 12
    assert away.mean() > 0.4, "the chip is in the away colour"


def test_a_tile_judged_looking_or_too_small_for_names_shows_no_reason(scene: type) -> None:
    assert not drawn_rows(scene, "looking up", looking=True).any()
    tiny = (100.0, 100.0, 119.0, 67.0)  # a 10x10 gallery's tile: state-coloured corners only
    grey = np.full((H, W, 3), 96, np.uint8)
    a, b = (draw(grey, tile_analysis(scene, False, r, tiny)) for r in ("eyes closed", None))
    assert gallery.detail_for(119, 67) == gallery.Detail.MARK and (a == b).all()


def test_a_shared_tile_lists_each_reason_once(scene: type) -> None:
    tile = (100.0, 100.0, 172.0, 97.0)
    boxes = [(130.0, 120.0, 40.0, 55.0), (200.0, 120.0, 40.0, 55.0), (150.0, 120.0, 20.0, 20.0)]
    faces = scene.faces(boxes, [False, False, False], reasons=["eyes closed", "eyes closed", "head turned"]).replace(
        tile=np.array([0, 0, 0]))
    layout = Layout.of("grid", np.array([tile], np.float32))
    analysis = dataclasses.replace(scene.analysis(faces, (W, H)), layout=layout, features=("gaze",))
    faces_drawn = _prepare(analysis, W, H)
    tiles = gallery._tiles(analysis, layout, {0: faces_drawn}, (1.0, 1.0), (H, W, 3), None)
    chips = gallery._reason_chips(tiles[0], 12, 160, Style(), Style().metrics(H))
    assert len(chips) == 2
