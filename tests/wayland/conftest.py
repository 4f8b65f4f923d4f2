"""Fixtures of the Wayland tests: a headless desktop with the ScreenCast portal (see :mod:`stack`)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stack import WaylandStack, build_portal_wlr  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "vcam-test-portal-wlr"


@pytest.fixture(scope="session")
def portal_backend() -> Path:
    """xdg-desktop-portal-wlr built from Debian's source so it casts without a GPU (see :mod:`stack`)."""
    return build_portal_wlr(CACHE)


@pytest.fixture(scope="module")
def desktop(portal_backend: Path) -> Iterator[WaylandStack]:
    """The running desktop, shared by a module's tests."""
    stack = WaylandStack(portal_backend).start()
    yield stack
    stack.stop()


@pytest.fixture
def on_desktop(desktop: WaylandStack, monkeypatch: pytest.MonkeyPatch) -> WaylandStack:
    """This test's process on the desktop's session: its bus, runtime folder and Wayland display."""
    for key in ("XDG_RUNTIME_DIR", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.setenv(key, desktop.env[key])
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.delenv("DISPLAY", raising=False)
    desktop.cancel_flag.unlink(missing_ok=True)
    return desktop
