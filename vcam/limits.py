"""The allowed sizes, rates, ports and run lengths, written once for the whole of vcam.

``Config`` (so the config file and ``vcam run``'s flags), the outputs, and the sources that take a size or a
rate (demo, screen, window) all check against these ranges, so an error about a value quotes the same range
wherever it is raised. Every range is closed: both ends are allowed.

============  ===================  =========================================================================
range         allowed              why
============  ===================  =========================================================================
WIDTH         16 to 7680 pixels    16 is one H.264 macroblock, and a smaller frame holds no face worth
                                   finding; 7680 is the width of 8K UHD (7680×4320), a frame H.264's
                                   largest level (6.2) still takes.
HEIGHT        16 to 4320 pixels    the same for the height: 8K UHD is 4320 high. (Outputs once allowed a
                                   height of 7680, which ``Config`` refused and no meeting app takes.)
FPS           1 to 120 per second  the rate vcam is asked to make: ``fps`` in the config, and the demo,
                                   screen and window sources. Below 1 frame a second video is a slide
                                   show; meeting apps take 30 or 60, and 120 leaves room for a fast
                                   screen; more only costs CPU for frames nobody sees.
STREAM_FPS    1 to 240 per second  the rate vcam is handed and passes on: a video file plays at its own
                                   rate (240 fps slow-motion clips are common; a file claiming a rate
                                   outside this range is mislabelled and plays at 30), and an output runs
                                   at the rate of its source. So outputs take this range, not ``FPS``: a
                                   240 fps clip must not stop at the output. It contains ``FPS``, so any
                                   rate ``Config`` allows is one every output takes.
PORT          0 to 65535           a TCP port; 0 asks the system for any free one.
FRAMES        1 to 10**9           frames in one run (``--frames``): about a year at 30 fps.
SECONDS       0.1 to 10**7         seconds in one run (``--seconds``): about 115 days.
PIXELS        up to 50 000 000     pixels in one image or video frame read from a user's file (a photo to
                                   enroll, a video to analyse or play), checked from the file's header
                                   before anything is decoded: 50 MP holds the largest phone and camera
                                   photos (48-50 MP) and 8K video (33 MP), and decodes in about 150 MB; a
                                   small file can claim a far larger image (a 1.2 MB PNG of 20000×20000
                                   takes 3.6 GB decoded), so a larger one is refused (:func:`check_pixels`).
============  ===================  =========================================================================

The outgoing video's width and height must also be even (:func:`check_even`, :func:`check_even_size`):
H.264's 4:2:0 colour halves both axes. ``Config`` refuses an odd size, so the video a user gets is the size
they asked for; a :class:`~vcam.outputs.file.FileOutput` made directly rounds an odd size down instead, and
sources may deliver frames of any size (outputs letterbox them).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from vcam.errors import ConfigError

__all__ = ["FPS", "FRAMES", "HEIGHT", "MAX_PIXELS", "PORT", "SECONDS", "STREAM_FPS", "WIDTH", "Range", "check_even",
           "check_even_size", "check_pixels"]

_EVEN_WHY = "video encoders need it"


@dataclass(frozen=True)
class Range:
    """A closed range ``lo`` to ``hi`` one value must fall in.

    Attributes:
        name: the value's name in messages, e.g. ``"width"``.
        lo, hi: the smallest and the largest value allowed.
        whole: only whole numbers are allowed (an ``int``, never a ``bool``).
    """

    name: str
    lo: int | float
    hi: int | float
    whole: bool = False

    @property
    def between(self) -> str:
        """The range in words, as errors quote it: ``"between 16 and 7680"``."""
        return f"between {self.lo} and {self.hi}"

    @property
    def span(self) -> str:
        """The range in words, as help texts quote it: ``"from 16 to 7680"``."""
        return f"from {self.lo} to {self.hi}"

    def __contains__(self, value: object) -> bool:
        kind = numbers.Integral if self.whole else numbers.Real
        return isinstance(value, kind) and not isinstance(value, bool) and self.lo <= value <= self.hi

    def check(self, value: object, name: str | None = None) -> None:
        """Return if ``value`` is in the range; else raise ConfigError naming it, the range and the value.

        Args:
            name: the value's name in the message (default :attr:`name`), e.g. ``"output width"``.
        """
        if value in self:
            return
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        fits_kind = number and (not self.whole or isinstance(value, numbers.Integral))
        kind = "" if fits_kind else ("a whole number " if self.whole else "a number ")
        raise ConfigError(f"{name or self.name} must be {kind}{self.between}, got {value!r}")


WIDTH = Range("width", 16, 7680, whole=True)
"""Width of a frame vcam makes or sends, pixels."""
HEIGHT = Range("height", 16, 4320, whole=True)
"""Height of a frame vcam makes or sends, pixels."""
FPS = Range("fps", 1, 120)
"""A rate vcam is asked to make, frames per second."""
STREAM_FPS = Range("fps", 1, 240)
"""A rate vcam is handed and passes on (a video file's own rate, an output's), frames per second."""
PORT = Range("port", 0, 65535, whole=True)
"""The live feed's TCP port; 0: any free one."""
FRAMES = Range("frames", 1, 10**9, whole=True)
"""Frames in one run."""
SECONDS = Range("seconds", 0.1, 10**7)
"""Seconds in one run."""


MAX_PIXELS = 50_000_000
"""The most pixels (width × height) of one image or video frame vcam decodes from a user's file."""


def check_pixels(width: int, height: int, what: str, error: type[Exception] = ConfigError,
                 limit: int = MAX_PIXELS) -> None:
    """Raise ``error`` naming ``what``, its size and the limit unless ``width`` × ``height`` is within ``limit``.

    Args:
        width, height: the image's size in pixels, as its file's header states it (before decoding).
        what: the file, as the message names it, e.g. ``"photo me.png"``.
        error: the VcamError kind the caller reports (GalleryError for a photo, SourceError for a video).
        limit: the most pixels allowed; higher takes larger photos and costs memory (3 bytes a pixel, and more
            while decoding).
    """
    if width < 1 or height < 1 or width * height > limit:
        raise error(f"{what} is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels); vcam reads images "
                    f"of at most {limit / 1e6:g} megapixels: scale it down (e.g. to 4000×3000) and try again")


def check_even(name: str, value: int) -> None:
    """Raise ConfigError naming ``name`` unless ``value`` (a width or height, pixels) is even."""
    if value % 2:
        raise ConfigError(f"{name} must be even ({_EVEN_WHY}), got {value}")


def check_even_size(width: int, height: int) -> None:
    """Raise ConfigError quoting the size unless ``width`` and ``height`` (pixels) are both even."""
    if width % 2 or height % 2:
        raise ConfigError(f"width and height must be even ({_EVEN_WHY}), got {width}x{height}")
