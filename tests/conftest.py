"""Shared fixtures: the fake virtual camera (tests/fakecam.py) and the real face media in tests/data."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvirtualcam

from fakecam import FakeDevice, make_backend


@pytest.fixture(autouse=True)
def private_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh VCAM_RUNTIME_DIR per test (vcam.instance's lock and socket), so tests, concurrent
    runs and a real daemon never meet. Short (/tmp/vcam-rt-*): Unix socket paths are limited."""
    folder = Path(tempfile.mkdtemp(prefix="vcam-rt-"))
    monkeypatch.setenv("VCAM_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def private_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VCAM_CONFIG at a config file that does not exist yet, per test: a developer's own
    settings never change a test, and a test's ``config set`` never changes theirs."""
    path = tmp_path_factory.mktemp("config") / "config.toml"
    monkeypatch.setenv("VCAM_CONFIG", str(path))
    return path


@pytest.fixture(autouse=True)
def x11_session_and_private_state(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An X11 session (a test run from a Wayland desktop still captures with mss and Xvfb; the Wayland tests
    set their own) and XDG_STATE_HOME in a fresh folder, where vcam keeps the portal's restore token."""
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


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
