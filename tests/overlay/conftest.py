"""Hand-built faces for the overlay tests: boxes, landmarks, pose and gaze with fixed values.

The suite runs with ``--import-mode=importlib``, so test modules cannot import
helpers from here; they get them through the ``scene`` fixture.
"""

from __future__ import annotations

import numpy as np
import pytest

from vcam.types import N_LANDMARKS, Analysis, Faces


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
) -> Faces:
    """Faces with ``boxes`` ``[x, y, w, h]`` px; ``looking`` None means the gaze is unknown (NaN confidence)."""
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
    )
    return np.full((360, 640, 3), 96, np.uint8), make_analysis(faces, (640, 360))


class Scene:
    """The helpers above, handed to tests by the ``scene`` fixture."""

    faces = staticmethod(make_faces)
    analysis = staticmethod(make_analysis)
    golden = staticmethod(golden_scene)


@pytest.fixture
def scene() -> type[Scene]:
    """Builders for hand-made faces and analyses: ``scene.faces(...)``, ``scene.analysis(...)``, ``scene.golden()``."""
    return Scene
