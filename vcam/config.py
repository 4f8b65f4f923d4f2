"""One ``Config`` for a vcam run, checked on creation, and the TOML file that keeps its settings between runs.

Layers, lowest first: the ``Config`` defaults < the config file < flags given to ``vcam run``
(``load_config(**overrides)``).

The file is ``platformdirs.user_config_dir("vcam")/config.toml``, or the path in the ``VCAM_CONFIG``
environment variable. It holds flat keys, one per setting in ``SETTINGS``::

    source = "screen:1"
    identity = true
    port = 8800

Per-run settings (frames, seconds, record) are flags only. A broken file (bad TOML, an unknown key, a value
of the wrong type or out of range) is never silently replaced by the defaults: reading it raises one
ConfigError naming the file, the line and the fix, and ``update_file`` refuses to overwrite it unless the
change fixes it. ``update_file`` rewrites the whole file with tomli_w, keeping the keys and their order, so
comments in a hand-edited file are lost on the next write. Writers take no lock: two writing at the same
moment may lose one change, never the file (it is replaced atomically).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vcam.errors import ConfigError, VcamError
from vcam.features import EU_MODE_REFUSAL, FEATURES
from vcam.limits import FPS, FRAMES, HEIGHT, PORT, SECONDS, WIDTH, Range, check_even, check_even_size

log = logging.getLogger(__name__)

ENV_VAR = "VCAM_CONFIG"
"""Environment variable naming another config file (tests, or several set-ups side by side)."""


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
        return _DEFAULTS[self.key]


_DEFAULTS = {f.name: f.default for f in fields(Config)}
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


# -- the file ---------------------------------------------------------------------------------------------------

_HEADER = ("# vcam settings: 'vcam config show' lists them all, 'vcam config set KEY VALUE' changes one.\n"
           "# vcam rewrites this file when settings change: comments added here are not kept.\n")


def config_path() -> Path:
    """The config file: ``$VCAM_CONFIG`` when set, else ``user_config_dir("vcam")/config.toml``."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("vcam")) / "config.toml"


def load_settings(path: Path | None = None) -> dict[str, object]:
    """The validated settings in the config file, by key, in file order; ``{}`` when there is no file.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or holds an unknown key, a bad value or a
            forbidden combination; the message names the file, the line and how to fix it.
    """
    path = Path(path) if path is not None else config_path()
    text = _read(path)
    if text is None:
        return {}
    return _validated(path, text, _parse_toml(path, text))


def load_config(path: Path | None = None, **overrides: object) -> Config:
    """Defaults < the config file < ``overrides`` (those whose value is None are ignored).

    ``overrides`` may name any ``Config`` field, per-run ones too. EU mode given as an override turns off
    an emotion setting that came from the file; emotion given while the file has EU mode on is refused.
    """
    path = Path(path) if path is not None else config_path()
    settings = load_settings(path)
    given = {key: value for key, value in overrides.items() if value is not None}
    for key in given:
        if key not in _DEFAULTS:
            raise ConfigError(f"unknown setting {key!r}: known settings are {', '.join(_DEFAULTS)}")
    if given.get("eu_mode") and "emotion" not in given and settings.get("emotion"):
        log.info("EU mode: emotion from %s is off for this run", path)
        settings["emotion"] = False
    if given.get("emotion") and "eu_mode" not in given and settings.get("eu_mode"):
        raise ConfigError(f"{EU_MODE_REFUSAL}: EU mode is on in {path} ('vcam config set eu_mode false')")
    return Config(**{**settings, **given})


def update_file(changes: dict[str, object], path: Path | None = None) -> None:
    """Validate ``changes`` and write them into the config file atomically (mode 0600), keeping other keys.

    Args:
        changes: key → new value. Text is parsed as on a command line ("true", "30"); bools and numbers
            are taken as they are; ``None`` removes the key, so it goes back to its default.
        path: the file; default ``config_path()``.

    Raises:
        ConfigError: a bad change (unknown key, wrong type, out of range, emotion in EU mode), or a
            broken file that this change does not fix. Nothing is written then.
    """
    path = Path(path) if path is not None else config_path()
    text = _read(path)
    data = {} if text is None else _parse_toml(path, text, refusing=True)
    kept = {key: value for key, value in data.items() if key not in changes}
    valid = _validated(path, text, kept, refusing=True) if text is not None else {}
    new = {key: valid.get(key) for key in data}  # file order; changed keys are replaced below
    for key, value in changes.items():
        if value is not None:
            new[key] = validate(key, value, text=True)
        elif key in new:
            del new[key]
        else:
            setting(key)  # unknown: an error; known but not in the file: already its default
    Config(**new)  # the combination, e.g. emotion with EU mode
    if new != data:  # unchanged: leave the file (and its comments) alone
        _write(path, new)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(f"cannot read the config file {path}: {reason}; make it a readable UTF-8 TOML file, "
                          f"or point {ENV_VAR} at another one") from None


def _parse_toml(path: Path, text: str, *, refusing: bool = False) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        not_written = " Nothing was written." if refusing else ""
        raise ConfigError(f"the config file {path} is not valid TOML: {err}; fix that line in an editor, or move "
                          f"the file away to start from the defaults ('vcam config path' prints where it is)."
                          f"{not_written}") from None


def _validated(path: Path, text: str, data: dict[str, object], *, refusing: bool = False) -> dict[str, object]:
    """``data`` with every value checked, and the combination checked as a ``Config``."""
    values = {}
    for key, value in data.items():
        try:
            values[key] = validate(key, value)
        except ConfigError as err:
            raise _file_error(path, text, key, err, refusing) from None
    try:
        Config(**values)
    except ConfigError as err:
        raise _file_error(path, text, "emotion" if values.get("emotion") else None, err, refusing) from None
    return values


def _file_error(path: Path, text: str, key: str | None, err: ConfigError, refusing: bool) -> ConfigError:
    """One error naming the file, the key's line and the fixes."""
    line = _line_of(text, key) if key else None
    where = f"{path}, line {line}" if line else str(path)
    if key is None:
        fix = "edit the file"
    elif key in SETTINGS:
        fix = f"run 'vcam config set {key} VALUE' or 'vcam config unset {key}', or edit the file"
    else:
        fix = f"run 'vcam config unset {key}', or edit the file"
    not_written = "; nothing was written" if refusing else ""
    return ConfigError(f"bad config file {where}: {err}; fix: {fix} ('vcam config path' prints where it is)"
                       f"{not_written}")


def _line_of(text: str, key: str) -> int | None:
    """The 1-based line where ``key`` is assigned at the top of a TOML text, or None."""
    pattern = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def _write(path: Path, values: dict[str, object]) -> None:
    import tomli_w

    from vcam.files import write_text_atomic

    try:
        write_text_atomic(path, _HEADER + tomli_w.dumps(values))
    except OSError as err:
        raise ConfigError(f"cannot write the config file {path}: {err.strerror or err}; check that its folder is "
                          f"writable, or point {ENV_VAR} at another file") from None
    log.debug("wrote %s", path)
