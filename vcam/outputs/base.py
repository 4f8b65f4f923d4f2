"""The contract every output keeps, and :func:`fit`, which sizes frames for it.

An output is a context manager that takes annotated images::

    with make_output("vcam") as out:
        for image in images:          # (H, W, 3) uint8 BGR, any H and W
            out.send(image)
            if not out.poll():        # the user closed the preview window
                break

Subclasses implement ``_open``, ``_write`` and ``_release`` (and ``poll`` when
the user can close them); the base class checks every image at the boundary,
letterboxes and mirrors it to the output's size, counts frames, and makes
``close()`` run exactly once. Outputs never sleep to pace frames: the caller
sends at the source's rate.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import cv2
import numpy as np

from vcam.errors import OutputError
from vcam.limits import HEIGHT, STREAM_FPS, WIDTH

log = logging.getLogger(__name__)

_AREA_BELOW = 0.5
"""Scale factor under which :func:`fit` resizes with INTER_AREA instead of INTER_LINEAR.

INTER_AREA avoids aliasing but costs ~11 ms for 1920×1080 → 1280×720 on these
machines, against ~3 ms for INTER_LINEAR; below half size, linear aliasing shows.
"""


def check_image(image: np.ndarray) -> None:
    """Raise unless ``image`` is an ``(H, W, 3) uint8`` array with H, W > 0.

    Raises:
        TypeError: not a numpy array, or not uint8.
        ValueError: any other shape (e.g. ``(H, W)`` grey or BGRA).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = getattr(image, "dtype", type(image).__name__)
        raise TypeError(f"output image must be a uint8 numpy array, got {got}")
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape[:2]:
        raise ValueError(f"output image must be (H, W, 3) BGR with H, W > 0, got shape {image.shape}")


def fit(image: np.ndarray, width: int, height: int, *, mirror: bool = False) -> np.ndarray:
    """Letterbox ``image`` into ``width`` × ``height`` pixels, then mirror it if asked.

    The aspect ratio is kept; the leftover rows or columns become black bars,
    split evenly (an odd pixel goes to the bottom or right before mirroring).

    Args:
        image: ``(H, W, 3) uint8`` BGR of any size.
        width, height: the size of the result in pixels.
        mirror: flip left-right, as meeting apps show a self-view.

    Returns:
        A C-contiguous ``(height, width, 3) uint8`` array. It may be ``image``
        itself when no resizing or flipping is needed.
    """
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = (new_w, new_h) != (w, h)
    if resized:
        interp = cv2.INTER_AREA if scale < _AREA_BELOW else cv2.INTER_LINEAR
        image = cv2.resize(image, (new_w, new_h), interpolation=interp)
    if mirror:  # in place on our own resized copy: a fresh 2.7 MB array costs more than the flip
        image = cv2.flip(image, 1, dst=image) if resized else cv2.flip(image, 1)
    return _pad(image, width, height, mirror)


def _pad(image: np.ndarray, width: int, height: int, mirror: bool) -> np.ndarray:
    """Add black bars around ``image`` to reach ``width`` × ``height``."""
    h, w = image.shape[:2]
    top, left = (height - h) // 2, (width - w) // 2
    bottom, right = height - h - top, width - w - left
    if mirror:  # bars as they would be after flipping the padded image
        left, right = right, left
    if top == bottom == left == right == 0:
        return np.ascontiguousarray(image)
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def check_size(width: int, height: int, fps: float) -> None:
    """Raise ConfigError naming the argument when a size or rate is out of its range in :mod:`vcam.limits`.

    The rate's range is :data:`~vcam.limits.STREAM_FPS`, wider than the ``fps`` a user may set: an output
    runs at the rate of its source, and a video file plays at its own rate.
    """
    WIDTH.check(width, "output width")
    HEIGHT.check(height, "output height")
    STREAM_FPS.check(fps, "output fps")


class Output(ABC):
    """Somewhere annotated video goes: a virtual camera, a window, a file, nowhere.

    Args:
        name: the spec this output was made from, e.g. ``"file:out.mp4"``.
        width, height: size of the frames it delivers, pixels; every image
            sent is letterboxed to this size.
        fps: the rate the caller sends at, frames per second (a hint for
            devices and the file's frame rate; outputs never sleep to keep it).
        mirror: flip frames left-right before delivering them.

    Attributes:
        frames_sent: images accepted by :meth:`send` so far.
    """

    def __init__(self, name: str, *, width: int = 1280, height: int = 720, fps: float = 30.0, mirror: bool = False) -> None:
        check_size(width, height, fps)
        self.name = name
        self.width = width
        self.height = height
        self.fps = float(fps)
        self.mirror = mirror
        self.frames_sent = 0
        self._opened = False
        self._closed = False

    @abstractmethod
    def _open(self) -> None:
        """Acquire the device, window or file; raise OutputError with a fix if impossible."""

    @abstractmethod
    def _write(self, frame: np.ndarray) -> None:
        """Deliver one ``(height, width, 3) uint8`` BGR frame, already fitted and mirrored."""

    def _release(self) -> None:
        """Release what ``_open`` acquired. Called exactly once, only after a successful open."""

    def poll(self) -> bool:
        """False once the output can take no more frames (e.g. the user closed the window)."""
        return self._opened and not self._closed

    def open(self) -> Output:
        """Open the output; returns ``self``. Opening twice does nothing."""
        if self._closed:
            raise OutputError(f"output {self.name!r} was closed; make a new one with make_output()")
        if not self._opened:
            self._open()
            self._opened = True
            log.info("opened output %s (%dx%d @ %.1f fps, mirror=%s)", self.name, self.width, self.height, self.fps, self.mirror)
        return self

    def close(self) -> None:
        """Release the output. Safe to call more than once; releases only once."""
        if self._opened and not self._closed:
            self._closed = True
            self._release()
            log.info("closed output %s after %d frames", self.name, self.frames_sent)

    def __enter__(self) -> Output:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, image: np.ndarray) -> None:
        """Fit ``image`` (``(H, W, 3) uint8`` BGR, any size) to this output and deliver it.

        Raises:
            TypeError: ``image`` is not uint8.
            ValueError: ``image`` is not ``(H, W, 3)``.
            OutputError: the output is not open.
        """
        if not self._opened or self._closed:
            raise OutputError(f"output {self.name!r} is not open; use it in a 'with' block")
        check_image(image)
        self._write(fit(image, self.width, self.height, mirror=self.mirror))
        self.frames_sent += 1
