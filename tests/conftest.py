"""Shared fixtures: the fake virtual camera (tests/fakecam.py) and the real face media in tests/data."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvirtualcam

from fakecam import FakeDevice, make_backend

def _registered(name: str):
    devices: list[FakeDevice] = []
    pyvirtualcam.register_backend(name, make_backend(devices))
    yield name, devices
    pyvirtualcam.camera.BACKENDS.pop(name, None)


@pytest.fixture
def fake_cam() -> tuple[str, list[FakeDevice]]:
    """``(backend name, devices opened)`` for a fake backend registered for this test only."""
    yield from _registered("vcam-test-fake")



# -- real face media (tests/data, see SOURCES.md) ---------------------------------
DATA = Path(__file__).parent / "data"


def _load_image(name: str) -> np.ndarray:
    image = cv2.imread(str(DATA / name))
    assert image is not None, f"missing test image {name}"
    return image


@pytest.fixture(scope="session")
def load_image():
    """``load_image(name)``: a committed test image as ``(H, W, 3) uint8`` BGR."""
    return _load_image


@pytest.fixture(scope="session")
def face_counts() -> dict[str, int]:
    """Faces a person sees in each committed test image (tests/data/faces.json)."""
    return {name: entry["faces"] for name, entry in json.loads((DATA / "faces.json").read_text()).items()}
