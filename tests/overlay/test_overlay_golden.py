"""The overlay against a committed picture of a fixed scene.

The scene (``conftest.golden_scene``): 640×360 grey, face #1 looking at the
screen, face #2 looking away, with fixed landmarks and pose. The drawing must
match ``golden/scene_640x360.png`` within a small tolerance, so anti-aliasing
differences between OpenCV builds pass but a moved, recoloured or missing mark
fails.

To accept a deliberate change of the look, regenerate the picture, look at it,
and commit it with the code::

    VCAM_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/overlay

With ``VCAM_REGEN_GOLDEN`` set the test rewrites the file and then fails on
purpose, so a run with the variable left on can never pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from overlay import draw

GOLDEN = Path(__file__).parent / "golden" / "scene_640x360.png"
MAX_MEAN_ABS_DIFF = 1.0
"""Mean absolute difference over all pixels and channels, 0..255."""
MAX_SHARE_FAR_OFF = 0.005
"""Share of pixels whose largest channel difference is above FAR_OFF."""
FAR_OFF = 40


def test_the_fixed_scene_matches_the_golden_picture(scene: type) -> None:
    image, analysis = scene.golden()
    out = draw(image, analysis)
    if os.environ.get("VCAM_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(GOLDEN), out)
        pytest.fail(f"regenerated {GOLDEN}; look at it, commit it, and rerun without VCAM_REGEN_GOLDEN")
    golden = cv2.imread(str(GOLDEN), cv2.IMREAD_COLOR)
    assert golden is not None, f"{GOLDEN} is missing; create it with VCAM_REGEN_GOLDEN=1"
    assert golden.shape == out.shape
    diff = np.abs(out.astype(np.int16) - golden.astype(np.int16))
    far_off = (diff.max(axis=2) > FAR_OFF).mean()
    assert diff.mean() < MAX_MEAN_ABS_DIFF, f"mean abs diff {diff.mean():.3f}"
    assert far_off < MAX_SHARE_FAR_OFF, f"{far_off:.2%} of pixels differ by more than {FAR_OFF}"


def test_the_golden_scene_is_not_blank(scene: type) -> None:
    image, analysis = scene.golden()
    assert (draw(image, analysis) != image).any(axis=2).mean() > 0.02
