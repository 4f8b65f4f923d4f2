"""An H.264 ``.mp4`` recording, encoded with PyAV (libx264, yuv420p).

Frames are stamped by their index at a constant ``fps``, so the file plays at
the rate the caller says it sends at. ``close()`` flushes the encoder and
finishes the container; a file that was never closed has no index and will
not play.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vcam.errors import OutputError
from vcam.outputs.base import Output

log = logging.getLogger(__name__)


def even(n: int) -> int:
    """``n`` rounded down to an even number (yuv420p halves both axes for colour)."""
    return max(2, n - n % 2)


def frame_rate(fps: float) -> Fraction:
    """``fps`` as an exact rate: 30.0 → 30, 29.97 → 2997/100, 30000/1001 stays."""
    return Fraction(fps).limit_denominator(1001)


class FileOutput(Output):
    """Frames to an H.264 mp4 file.

    Args:
        path: where to write; an existing file is replaced.
        preset: libx264 speed preset. Faster presets ("ultrafast", "veryfast")
            keep up with live video on two cores but make bigger files; slower
            ones ("medium") make smaller files but may fall behind at 1280×720.
        crf: libx264 constant quality, 0 (lossless) .. 51; lower is better and bigger.
        width, height, fps, mirror: see :class:`~vcam.outputs.base.Output`. An
            odd width or height is rounded down to even, as H.264 4:2:0 needs.
    """

    def __init__(
        self, path: str | Path, name: str | None = None, *, preset: str = "ultrafast", crf: int = 23,
        width: int = 1280, height: int = 720, fps: float = 30.0, mirror: bool = False,
    ) -> None:
        super().__init__(name or f"file:{path}", width=even(width), height=even(height), fps=fps, mirror=mirror)
        self.path = Path(path).expanduser()
        self.preset = preset
        self.crf = crf
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None

    def _open(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            raise OutputError(f"cannot write {self.path}: the folder {folder} does not exist; create it or choose another path")
        if self.path.is_dir():
            raise OutputError(f"cannot write {self.path}: it is a folder; give a file name ending in .mp4")
        try:
            self._start()
        except (OSError, av.error.FFmpegError) as err:
            self._abandon()
            reason = getattr(err, "strerror", None) or str(err)
            raise OutputError(f"cannot write {self.path}: {reason}; choose a path in a folder you can write to") from err
        log.info("recording to %s (H.264 %s, crf %d)", self.path, self.preset, self.crf)

    def _start(self) -> None:
        """Open the container, add the H.264 stream and write the header (where path errors surface)."""
        self._container = av.open(str(self.path), "w")
        stream = self._container.add_stream("libx264", rate=frame_rate(self.fps))
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.options = {"preset": self.preset, "crf": str(self.crf)}
        self._stream = stream
        self._container.start_encoding()

    def _abandon(self) -> None:
        """Drop a half-opened container after a failed open."""
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            try:
                container.close()
            except (OSError, av.error.FFmpegError):
                log.debug("ignored an error closing the half-opened %s", self.path)

    def _write(self, frame: np.ndarray) -> None:
        video = av.VideoFrame.from_ndarray(frame, format="bgr24")
        video.pts = self.frames_sent
        video.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(video))

    def _release(self) -> None:
        container, stream = self._container, self._stream
        self._container = self._stream = None
        try:
            container.mux(stream.encode(None))  # flush the frames the encoder still holds
        finally:
            container.close()
        log.info("wrote %d frames to %s", self.frames_sent, self.path)
