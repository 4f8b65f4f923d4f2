"""A real X server (Xvfb) for screen capture and windows."""

from __future__ import annotations

import pytest
from xserver import xvfb_server


@pytest.fixture(scope="module")
def xvfb():
    """Xvfb at 1920×1080 for this module, with DISPLAY pointing at it."""
    with pytest.MonkeyPatch.context() as mp, xvfb_server("1920x1080") as display:
        mp.setenv("DISPLAY", display)
        yield display
