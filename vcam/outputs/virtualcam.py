"""The virtual camera meeting apps pick up, through pyvirtualcam.

Backends come from pyvirtualcam's own registry: ``v4l2loopback`` on Linux,
``obs`` on Windows and macOS, ``unitycapture`` on Windows. Tests register a
fake one with ``pyvirtualcam.register_backend`` and name it with ``backend=``.
"""

from __future__ import annotations

import logging

import numpy as np
import pyvirtualcam

from vcam.errors import OutputError
from vcam.outputs.base import Output

log = logging.getLogger(__name__)

FIX = (
    "Linux: sudo apt install v4l2loopback-dkms, then "
    "sudo modprobe v4l2loopback exclusive_caps=1 card_label=vcam (Chrome needs exclusive_caps=1); "
    "Windows and macOS: install OBS Studio and start its Virtual Camera once. "
    "If one is installed, another program may be using it. "
    "Or send the video elsewhere: --output window, --output file:out.mp4 or --output none"
)


def no_camera_error(reason: str) -> OutputError:
    """The one error for "no virtual camera could be opened", with pyvirtualcam's reason and the fix."""
    said = "; ".join(line.strip() for line in reason.splitlines() if line.strip())
    return OutputError(f"no virtual camera found (pyvirtualcam said: {said}). Fix on {FIX}")


class VirtualCamOutput(Output):
    """Frames to a virtual camera device, BGR at ``width`` × ``height``.

    Args:
        backend: a pyvirtualcam backend name (``"v4l2loopback"``, ``"obs"``,
            ``"unitycapture"`` or one registered by the caller); None tries each
            one registered for this OS.
        width, height, fps, mirror: see :class:`~vcam.outputs.base.Output`.
            Keep 1280×720: some apps show a green frame at other sizes.

    Attributes:
        device: the device name pyvirtualcam opened (e.g. ``/dev/video2``), after open.
    """

    def __init__(
        self, name: str = "vcam", *, backend: str | None = None,
        width: int = 1280, height: int = 720, fps: float = 30.0, mirror: bool = False,
    ) -> None:
        super().__init__(name, width=width, height=height, fps=fps, mirror=mirror)
        self.backend = backend
        self.device: str | None = None
        self._cam: pyvirtualcam.Camera | None = None

    def _open(self) -> None:
        known = pyvirtualcam.camera.BACKENDS
        if self.backend is not None and self.backend not in known:
            raise no_camera_error(f"no backend named {self.backend!r}; registered: {', '.join(known) or 'none'}")
        try:
            self._cam = pyvirtualcam.Camera(
                self.width, self.height, self.fps,
                fmt=pyvirtualcam.PixelFormat.BGR, backend=self.backend, print_fps=False,
            )
        except RuntimeError as err:
            raise no_camera_error(str(err) or "no backend is registered for this OS") from err
        self.device = self._cam.device
        log.info("virtual camera %s via %s backend", self.device, self._cam.backend)

    def _write(self, frame: np.ndarray) -> None:
        self._cam.send(frame)  # no pacing here: the caller sends at the source's rate

    def _release(self) -> None:
        cam, self._cam = self._cam, None
        cam.close()
