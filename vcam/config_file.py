"""The config file: where it is, reading it, and writing changes to it, with errors that name its line.

Layers, lowest first: the ``Config`` defaults < the config file < flags given to ``vcam run``
(``load_config(**overrides)``).

The file is ``platformdirs.user_config_dir("vcam")/config.toml``, or the path in the ``VCAM_CONFIG``
environment variable. It holds flat keys, one per setting in :data:`vcam.config.SETTINGS`::

    source = "screen:1"
    identity = true
    port = 8800

Per-run settings (frames, seconds, record) are flags only. A broken file (bad TOML, an unknown key, a value
of the wrong type or out of range) is never silently replaced by the defaults: reading it raises one
ConfigError naming the file, the line and the fix, and ``update_file`` refuses to overwrite it unless the
change fixes it. ``update_file`` rewrites the whole file with tomli_w, keeping the keys and their order, so
comments in a hand-edited file are lost on the next write. Writers take no lock: two writing at the same
moment may lose one change, never the file (it is replaced atomically).

What each setting allows, and checking one value, is :mod:`vcam.config`; this module only adds the file.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import tomllib
from pathlib import Path

from vcam.config import DEFAULTS, SETTINGS, Config, setting, validate
from vcam.errors import ConfigError
from vcam.features import EU_MODE_REFUSAL

log = logging.getLogger(__name__)

ENV_VAR = "VCAM_CONFIG"
"""Environment variable naming another config file (tests, or several set-ups side by side)."""


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
        if key not in DEFAULTS:
            raise ConfigError(f"unknown setting {key!r}: known settings are {', '.join(DEFAULTS)}")
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


MAX_BYTES = 1 << 20
"""The largest config file read, bytes: a file of flat keys is a few hundred; a larger one is not vcam's."""


def _read(path: Path) -> str | None:
    """The file's text, or None when there is none. A FIFO, a folder or a device is refused, never waited on."""
    try:
        return _read_regular(path).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(f"cannot read the config file {path}: {reason}; make it a readable UTF-8 TOML file, "
                          f"or point {ENV_VAR} at another one") from None


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path``; OSError unless it is a regular file of at most :data:`MAX_BYTES`.

    Opened without blocking (a FIFO with no writer would hang a plain open) and checked on the open file, so
    what is checked is what is read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file (a folder, a FIFO or a device)")
        if info.st_size > MAX_BYTES:
            raise OSError(errno.EFBIG, f"it is {info.st_size} bytes, over the {MAX_BYTES} a config file may have")
        return f.read(MAX_BYTES + 1)


def _parse_toml(path: Path, text: str, *, refusing: bool = False) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except RecursionError:
        not_written = " Nothing was written." if refusing else ""
        raise ConfigError(f"the config file {path} nests tables or arrays too deeply to read; vcam's settings are flat "
                          f"keys (key = value): fix it in an editor, or move it away to start from the defaults."
                          f"{not_written}") from None
    except ValueError as err:  # TOMLDecodeError, or an integer of over 4300 digits (int's own limit)
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
