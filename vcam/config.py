"""One ``Config`` for a vcam run, checked on creation.

Flags build it today; the TOML file in the user's config dir (issue 5) will
load into the same dataclass. Every check names the setting, the value and
what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcam.errors import ConfigError


@dataclass
class Config:
    """Settings of one run.

    Attributes:
        source: a source spec (see :mod:`vcam.sources`), or ``auto``: the first webcam, else the demo.
        output: ``auto``, ``vcam``, ``window``, ``file:PATH.mp4`` or ``none``. ``auto``
            uses the virtual camera and falls back to a window, then to ``fallback_file``.
        width, height: size of the outgoing video in pixels (1280×720 is what meeting apps take best).
        fps: rate of the outgoing video; live sources deliver at this rate.
        mirror: flip the outgoing video left-right (meeting apps mirror the self-view).
        loop: restart a video file source at its end.
        frames: stop after this many frames (None: run until stopped).
        seconds: stop after this many seconds (None: run until stopped).
        gaze: run the gaze stage and show looking / away.
        identity: name enrolled people (off unless asked for: it is personal data).
        emotion: estimate each face's emotion (off unless asked for).
        gallery: the gallery file identity names people from (None: the user's default).
        feed: serve the live engagement feed and dashboard on 127.0.0.1.
        port: the feed's port; None: 8765, or any free port when that one is taken
            (``vcam dashboard`` finds it either way); 0: any free port.
        aggregate_only: the feed and dashboard show the room only, never a person,
            and nothing at all for fewer than 3 people.
        record: write the session timeline (once per second per person) to this
            folder, or to a new folder in the user's data dir with ``"auto"``; None: off.
        eu_mode: never infer emotion (the EU AI Act bans emotion recognition in
            workplaces and education); ``emotion`` cannot be switched on.
        overlay: draw the annotations (the "analysis on" badge is always drawn).
        fallback_file: where ``auto`` writes when there is neither a virtual camera nor a display.
    """

    source: str = "auto"
    output: str = "auto"
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    mirror: bool = False
    loop: bool = False
    frames: int | None = None
    seconds: float | None = None
    gaze: bool = True
    identity: bool = False
    emotion: bool = False
    eu_mode: bool = False
    gallery: str | None = None
    record: str | None = None
    feed: bool = True
    port: int | None = None
    aggregate_only: bool = False
    overlay: bool = True
    fallback_file: str = "vcam-out.mp4"

    def __post_init__(self) -> None:
        _check_range("width", self.width, 16, 7680)
        _check_range("height", self.height, 16, 4320)
        _check_range("fps", self.fps, 1, 120)
        if self.width % 2 or self.height % 2:
            raise ConfigError(f"width and height must be even (video encoders need it), got {self.width}x{self.height}")
        if self.frames is not None:
            _check_range("frames", self.frames, 1, 10**9)
        if self.seconds is not None:
            _check_range("seconds", self.seconds, 0.1, 10**7)
        if self.port is not None:
            _check_range("port", self.port, 0, 65535)
        if self.eu_mode and self.emotion:
            raise ConfigError(EU_MODE_REFUSAL)


EU_MODE_REFUSAL = ("emotion inference is off in EU mode (the EU AI Act bans emotion recognition in workplaces and "
                   "education); turn EU mode off to use it")


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value!r}")
