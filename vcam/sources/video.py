"""A recording: any video file OpenCV can decode (H.264 included)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import SourceError
from vcam.limits import STREAM_FPS
from vcam.sources.base import Source

log = logging.getLogger(__name__)


class VideoSource(Source):
    """Frames of a video file, in order.

    Args:
        path: the file.
        realtime: deliver at the file's frame rate (``vcam run``) or as fast as
            decoding allows (``vcam analyze``).
        loop: start again at the first frame after the last.

    A file that ends early (truncated) simply ends: every frame that decodes is delivered.
    """

    def __init__(self, path: Path, realtime: bool = True, loop: bool = False) -> None:
        super().__init__(str(path), realtime=realtime)
        self.path = Path(path)
        self.loop = loop
        self.frame_count = 0
        self._cap: cv2.VideoCapture | None = None
        self._size = (0, 0)
        self._media_t = 0.0
        self._loops = 0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def _open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}; check the path")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot read video {self.path}: not a video format OpenCV can decode, or the file "
                              f"is damaged; re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps in STREAM_FPS else 30.0  # outside: a mislabelled file
        self.frame_count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self._size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._cap = cap
        self._first = self._read_first()

    def _read_first(self) -> np.ndarray:
        ok, image = self._cap.read()
        if not ok or image is None:
            self._cap.release()
            raise SourceError(f"cannot read video {self.path}: no frame decodes (empty or truncated file); "
                              f"check the file plays in a video player, or re-encode it")
        return image

    def _grab(self) -> np.ndarray | None:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        ok, image = self._cap.read()
        if ok and image is not None:
            return image
        if self.loop and self._index > 0:
            return self._restart()
        if self.frame_count and self._index < self.frame_count - 1:
            log.warning("%s ended after %d of %d frames (truncated?)", self.path, self._index, self.frame_count)
        return None

    def _restart(self) -> np.ndarray | None:
        self._loops += 1
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, image = self._cap.read()
        return image if ok else None

    def _release(self) -> None:
        self._cap.release()
