"""Hand-built faces for the overlay tests: boxes, landmarks, pose and gaze with fixed values.

The suite runs with ``--import-mode=importlib``, so test modules cannot import
helpers from here; they get them through the ``scene`` fixture.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vcam.types import N_LANDMARKS, Analysis, Faces, Layout


def face_landmarks(box: tuple[float, float, float, float], seed: int = 0) -> np.ndarray:
    """``(478, 3) float32`` px: points spread over an ellipse inside ``box`` ``[x, y, w, h]``.

    Not a real mesh, but the three points the overlay reads sit where a face has
    them: the nose tip (1) at the centre, the irises (468, 473) at eye height.
    """
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    rng = np.random.default_rng(seed)
    angle, radius = rng.uniform(0, 2 * np.pi, N_LANDMARKS), np.sqrt(rng.uniform(0, 1, N_LANDMARKS))
    pts = np.zeros((N_LANDMARKS, 3), np.float32)
    pts[:, 0] = cx + 0.38 * w * radius * np.cos(angle)
    pts[:, 1] = cy + 0.46 * h * radius * np.sin(angle)
    pts[1, :2] = cx, cy + 0.06 * h
    pts[468, :2] = cx - 0.17 * w, cy - 0.1 * h
    pts[473, :2] = cx + 0.17 * w, cy - 0.1 * h
    return pts


def make_faces(
    boxes: list[tuple[float, float, float, float]],
    looking: list[bool | None],
    poses: list[tuple[float, float, float]] | None = None,
    landmarks: bool = True,
    reasons: list[str | None] | None = None,
) -> Faces:
    """Faces with ``boxes`` ``[x, y, w, h]`` px; ``looking`` None means the gaze is unknown (NaN confidence);
    ``reasons`` the gaze stage's ``away_reason`` per face (None: it gave none)."""
    n = len(boxes)
    bbox = np.array(boxes, np.float32).reshape(n, 4)
    missing = np.full((N_LANDMARKS, 3), np.nan)
    lm = [face_landmarks(b, i) if landmarks and np.isfinite(b).all() else missing for i, b in enumerate(boxes)]
    return Faces.from_boxes(bbox, np.full(n, 0.9, np.float32)).replace(
        track_id=np.arange(1, n + 1),
        landmarks=np.array(lm, np.float32).reshape(n, N_LANDMARKS, 3),
        pose=np.array(poses if poses is not None else [(0, 0, 0)] * n, np.float32).reshape(n, 3),
        gaze=np.full((n, 2), 0.5, np.float32),
        on_screen=np.array([bool(v) for v in looking]),
        on_screen_conf=np.array([np.nan if v is None else 0.8 for v in looking], np.float32),
        away_reason=np.array(reasons if reasons is not None else [None] * n, object),
    )


def make_analysis(faces: Faces, size: tuple[int, int]) -> Analysis:
    """An Analysis of a ``size`` ``(width, height)`` frame holding ``faces``."""
    return Analysis(frame_index=0, t=0.0, size=size, faces=faces, captured=0.0, finished=0.01, features=("gaze",))


def golden_scene() -> tuple[np.ndarray, Analysis]:
    """The fixed scene of the golden test: 640×360 grey, one face looking and one away."""
    faces = make_faces(
        [(90, 110, 150, 170), (390, 90, 140, 160)],
        [True, False],
        poses=[(-12.0, 6.0, 3.0), (35.0, -15.0, -8.0)],
        reasons=[None, "head turned"],
    )
    return np.full((360, 640, 3), 96, np.uint8), make_analysis(faces, (640, 360))


PARTICIPANTS = (
    "José García", "Zoë Ng", "Łukasz Wiśniewski", "Ana Müller", "Chloé Dubois", "Søren Østergaard",
    "Maximiliano Hernández-Villalobos de la Cruz", "Renée O'Brien", "Björk Guðmundsdóttir", "Nuño Peña",
    "François Noël", "Antonín Dvořák", "Ayşe Yılmaz", "Đorđe Petrović", "İlkay Çelik", "Bao Trần",
)
"""Names on the gallery's tiles: accents, a long one that must be cut with "…"."""
STATES = ("looking", "looking", "away", "looking", "unknown")
"""Gaze state of the face in tile i: STATES[i % 5]."""
REASONS = ("eyes closed", "looking down", "head turned", "looking up", "looking aside")
"""Why the k-th face judged away is away: REASONS[k % 5]."""
CAMERA_OFF = (4, 15, 26, 37)
"""Tiles with the camera off (and no face), where the gallery has that many."""
SHARED = 1
"""The tile holding two faces (a room camera)."""
IDENTITIES = {0: "Grace Hopper", 2: "Łukasz Wiśniewski", 5: "Eileen Collins"}
"""Enrolled names found per tile: tile 0 and 5 disagree with the participant, tile 2 agrees."""


def face_box(tile: tuple[int, int, int, int], part: int = 0, parts: int = 1) -> tuple[float, float, float, float]:
    """``[x, y, w, h]`` px of the ``part``-th of ``parts`` faces in a demo ``tile``, about where the face is."""
    x, y, w, h = tile
    fw, fh = 0.27 * w / parts ** 0.5, 0.62 * h / parts ** 0.5
    cx = x + w * (part + 1) / (parts + 1)
    return cx - fw / 2, y + 0.3 * h - fh / 2 + 0.1 * h, fw, fh


def gallery_faces(tiles: list[tuple[int, int, int, int]]) -> Faces:
    """One face per tile (two in :data:`SHARED`, none in :data:`CAMERA_OFF`), states, reasons, names and pose mixed."""
    rows = []
    for i, tile in enumerate(tiles):
        if i in CAMERA_OFF:
            continue
        for part in range(2 if i == SHARED else 1):
            rows.append((i, part, face_box(tile, part, 2 if i == SHARED else 1)))
    states = [STATES[(i + p) % len(STATES)] for i, p, _ in rows]
    looking = [None if s == "unknown" else s == "looking" for s in states]
    poses = [(-20.0 + 7 * (k % 7), 12.0 - 5 * (k % 5), 4.0 - 3 * (k % 3)) for k in range(len(rows))]
    away = np.cumsum([s == "away" for s in states]) - 1
    reasons = [REASONS[k % len(REASONS)] if s == "away" else None for s, k in zip(states, away)]
    faces = make_faces([b for _, _, b in rows], looking, poses=poses, reasons=reasons)
    emotion = np.full((len(rows), 7), np.nan, np.float32)
    emotion[::3] = (0.02, 0.01, 0.02, 0.7, 0.05, 0.05, 0.15)
    return faces.replace(
        tile=np.array([i for i, _, _ in rows], np.int64),
        participant=np.array([PARTICIPANTS[i % len(PARTICIPANTS)] for i, _, _ in rows], object),
        shared=np.array([i == SHARED for i, _, _ in rows]),
        name=np.array([IDENTITIES.get(i) if p == 0 else None for i, p, _ in rows], object),
        emotion=emotion,
    )


def gallery_scene(rows: int, cols: int, size: tuple[int, int] = (1280, 720)) -> tuple[np.ndarray, Analysis]:
    """The demo meeting's first frame, ``rows`` × ``cols`` at ``size``, and a fixed analysis of it with a layout."""
    from vcam.sources.demo import DemoSource

    with DemoSource(rows=rows, cols=cols, width=size[0], height=size[1], realtime=False) as demo:
        image, tiles = demo.render(0), demo.tile_rects()
    n = len(tiles)
    layout = Layout.of("grid", np.array(tiles, np.float32)).replace(
        participant=np.array([PARTICIPANTS[i % len(PARTICIPANTS)] for i in range(n)], object),
        camera_off=np.array([i in CAMERA_OFF for i in range(n)]),
    )
    for i in CAMERA_OFF:  # a camera-off tile shows a flat backdrop, not a face
        if i < n:
            x, y, w, h = tiles[i]
            image[y : y + h, x : x + w] = (60, 52, 48)
    analysis = make_analysis(gallery_faces(tiles), size)
    return image, dataclasses.replace(analysis, layout=layout, features=("gaze", "names", "identity", "emotion"))


class Scene:
    """The helpers above, handed to tests by the ``scene`` fixture."""

    faces = staticmethod(make_faces)
    analysis = staticmethod(make_analysis)
    golden = staticmethod(golden_scene)
    gallery = staticmethod(gallery_scene)


@pytest.fixture
def scene() -> type[Scene]:
    """Builders for hand-made faces and analyses: ``scene.faces(...)``, ``scene.analysis(...)``, ``scene.golden()``."""
    return Scene
