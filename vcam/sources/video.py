"""A recording: any video file OpenCV can decode (H.264 included)."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import cv2
import numpy as np

from vcam.errors import SourceError
from vcam.limits import MAX_PIXELS, STREAM_FPS, check_pixels
from vcam.sources.base import Source

log = logging.getLogger(__name__)


class VideoSource(Source):
    """Frames of a video file, in order.

    Args:
        path: the file.
        realtime: deliver at the file's frame rate (``vcam run``) or as fast as
            decoding allows (``vcam analyze``).
        loop: start again at the first frame after the last.
        threads: FFmpeg's decoding threads; None lets OpenCV choose (one per core). ``vcam batch``'s
            workers use 1: each has one core.

    A file that ends early (truncated) simply ends: every frame that decodes is delivered.
    :meth:`skip` passes over a frame without converting it to BGR (``vcam analyze --sample``).
    """

    def __init__(self, path: Path, realtime: bool = True, loop: bool = False, threads: int | None = None) -> None:
        super().__init__(str(path), realtime=realtime)
        self.path = Path(path)
        self.loop = loop
        self.threads = threads
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
        check_pixels(*frame_size(self.path), f"the video {self.path}", SourceError)
        params = [cv2.CAP_PROP_N_THREADS, self.threads] if self.threads else []
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_ANY, params)
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
            check_pixels(image.shape[1], image.shape[0], f"frame {self._index} of the video {self.path}", SourceError)
            return image
        if self.loop and self._index > 0:
            return self._restart()
        if self.frame_count and self._index < self.frame_count - 1:
            log.warning("%s ended after %d of %d frames (truncated?)", self.path, self._index, self.frame_count)
        return None

    def seek(self, index: int) -> None:
        """Make frame ``index`` (0-based) the next one read or skipped, with its own index and media time. FFmpeg
        seeks to the keyframe before it and decodes forward, so the frame is exact (``vcam batch``'s segments).

        Raises SourceError when the file cannot go there (``index`` past its end, or a stream that cannot seek).
        """
        if index == self._index:
            return
        self._first = None
        if index < 0 or not self._cap.set(cv2.CAP_PROP_POS_FRAMES, index) or \
                int(self._cap.get(cv2.CAP_PROP_POS_FRAMES)) != index:
            raise SourceError(f"cannot seek to frame {index} of the video {self.path} ({self.frame_count} frames); "
                              "re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4), or analyse it whole")
        self._index = index

    def upcoming(self) -> tuple[int, float]:
        """``(index, media time in seconds)`` the next frame will have, whether read or skipped."""
        return self._index, self._media_time()

    def skip(self) -> bool:
        """Pass over the next frame: it is decoded (an H.264 frame needs the ones before it) but neither
        converted to BGR nor checked: at 1080p ~1.6 ms of CPU against ~2.9 ms for :meth:`read` (one thread).
        It counts as read, so the frames after it keep their index and media time. Returns False at the end
        of the file (a looping source starts again)."""
        if not self._opened or self._closed:
            raise SourceError(f"source {self.spec!r} is not open; use it in a 'with' block")
        if self._first is not None:
            self._first = None
        elif not self._cap.grab() and not (self.loop and self._index > 0 and self._restart() is not None):
            return False
        self._index += 1
        return True

    def _restart(self) -> np.ndarray | None:
        self._loops += 1
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, image = self._cap.read()
        return image if ok else None

    def _release(self) -> None:
        self._cap.release()


def frame_size(path: Path, limit: int = MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` of the first video stream of ``path``, read without decoding a frame over ``limit`` pixels.

    The container's header usually states the size. When it does not (an image, or a stream whose size shows
    only once a frame decodes), FFmpeg decodes the first frame to find it, with its ``max_pixels`` set to
    ``limit``: a larger frame is refused before its memory is taken.
    Raises SourceError when FFmpeg cannot open the file, it holds no video, or its size cannot be told without
    decoding more than ``limit`` pixels.
    """
    try:
        with av.open(str(path), stream_options=[{"max_pixels": str(limit)}]) as container:
            if not container.streams.video:
                raise SourceError(f"{path} holds no video stream; pass a video file (e.g. .mp4)")
            context = container.streams.video[0].codec_context
            size = context.width, context.height
    except av.FFmpegError as err:
        raise SourceError(f"cannot read video {path}: {err}; check the file plays in a video player, or re-encode "
                          f"it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)") from None
    if size[0] < 1 or size[1] < 1:
        raise SourceError(f"the video {path} has frames over {limit / 1e6:g} megapixels, or none that decode; vcam "
                          "reads videos up to 8K (7680×4320): scale it down (e.g. ffmpeg -i IN -vf scale=1920:-2 OUT.mp4)")
    return size
