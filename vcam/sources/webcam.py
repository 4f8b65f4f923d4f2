"""A webcam through OpenCV's VideoCapture."""

from __future__ import annotations

import logging
import sys

import cv2
import numpy as np

from vcam.errors import SourceError, SourceLost
from vcam.sources.base import Source

log = logging.getLogger(__name__)


class WebcamSource(Source):
    """Camera ``index`` (0 = the first), paced by the device itself.

    Args:
        index: the OpenCV camera index.
        width, height: the capture size to ask the camera for, in pixels.
        fps: the rate to ask for; the camera may deliver another.
    """

    self_paced = True

    def __init__(self, index: int = 0, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        super().__init__(f"webcam:{index}", fps=fps, realtime=True)
        self.index = index
        self._want = (width, height)
        self._cap: cv2.VideoCapture | None = None
        self._size = (width, height)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _open(self) -> None:
        cap = cv2.VideoCapture(self.index)
        ok = cap.isOpened() and cap.read()[0]
        if not ok:
            cap.release()
            raise SourceError(
                f"no camera at index {self.index}: it does not exist or another program is using it. "
                f"Plug a camera in, close other apps that use it, or try another index (webcam:1); "
                f"{_no_camera_hint()}"
            )
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._want[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._want[1])
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.fps = cap.get(cv2.CAP_PROP_FPS) or self.fps
        self._cap = cap

    def _grab(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok:
            raise SourceLost(f"camera {self.index} stopped sending frames (unplugged?); plug it back in and restart")
        return image

    def _release(self) -> None:
        self._cap.release()


def _no_camera_hint() -> str:
    if sys.platform.startswith("linux"):
        return "list cameras with 'ls /dev/video*', or use --source demo, screen or a video file"
    return "or use --source demo, screen or a video file"
