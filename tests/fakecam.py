"""A fake virtual-camera device, plugged in through pyvirtualcam's own extension point.

v4l2loopback cannot exist on these machines (no kernel modules), so the device
is the one thing faked: ``pyvirtualcam.register_backend`` installs a backend
that keeps every frame it receives with a ``time.monotonic()`` stamp.
Everything above it (pyvirtualcam.Camera, vcam's output) is the real code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from pyvirtualcam.util import decode_fourcc


@dataclass
class FakeDevice:
    """What one fake camera saw: its settings, frames ``(H, W, 3) uint8`` with monotonic stamps, closes."""

    width: int
    height: int
    fps: float
    fourcc: str
    frames: list[np.ndarray] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    closes: int = 0


def make_backend(devices: list[FakeDevice]) -> type:
    """A pyvirtualcam backend class that appends a FakeDevice to ``devices`` per camera opened."""

    class FakeBackend:
        def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
            self.dev = FakeDevice(width, height, fps, decode_fourcc(fourcc))
            devices.append(self.dev)

        def send(self, frame: np.ndarray) -> None:
            # pyvirtualcam hands backends a flat C-contiguous uint8 array
            self.dev.frames.append(frame.reshape(self.dev.height, self.dev.width, 3).copy())
            self.dev.stamps.append(time.monotonic())

        def close(self) -> None:
            self.dev.closes += 1

        def device(self) -> str:
            return "/dev/fakecam0"

        def native_fourcc(self) -> None:
            return None

    return FakeBackend
