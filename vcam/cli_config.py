"""The ``vcam config`` command: a thin shell over :mod:`vcam.config` and :mod:`vcam.config_file`.

::

    vcam config show              every setting, its value, and whether it comes from the file or the defaults
    vcam config path              where the config file is ($VCAM_CONFIG, else the user config folder)
    vcam config set KEY VALUE     check VALUE and write it into the file
    vcam config unset KEY...      remove keys from the file: back to their defaults

:mod:`vcam.cli` owns the parser's top level and the error handling.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vcam import config, config_file

log = logging.getLogger("vcam")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``config`` and its actions to the top-level subparsers."""
    p = sub.add_parser("config", help="show or change the settings vcam run starts with",
                       description=f"Settings kept in a TOML file; flags given to vcam run override them. "
                                   f"{config_file.ENV_VAR}=PATH uses another file.")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("show", help="every setting, its value, and where it comes from (file or default)")
    actions.add_parser("path", help="print where the config file is")
    set_ = actions.add_parser("set", help="check a value and write it into the file", epilog=_keys_help(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    set_.add_argument("key", help="a setting, e.g. identity (listed below)")
    set_.add_argument("value", help="its value, e.g. true, 30, screen:1")
    unset = actions.add_parser("unset", help="remove settings from the file, so they go back to their defaults")
    unset.add_argument("keys", nargs="+", metavar="key")
    p.set_defaults(handler=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    """``vcam config show|path|set|unset``."""
    path = config_file.config_path()
    if args.action == "path":
        sys.stdout.write(f"{path}\n")
    elif args.action == "show":
        sys.stdout.write(format_settings(path, config_file.load_settings(path)))
    elif args.action == "set":
        value = config.parse_value(args.key, args.value)
        config_file.update_file({args.key: value}, path)
        log.info("set %s = %s in %s", args.key, _shown(value), path)
    else:
        config_file.update_file(dict.fromkeys(args.keys), path)
        log.info("%s back to the default in %s", ", ".join(args.keys), path)
    return 0


def format_settings(path: Path, settings: dict[str, object]) -> str:
    """The ``config show`` table: one row per setting with its effective value and ``file`` or ``default``."""
    state = f"{len(settings)} set there" if path.exists() else "not created yet: 'vcam config set' creates it"
    rows = [("setting", "value", "from")]
    for key, spec in config.SETTINGS.items():
        rows.append((key, _shown(settings.get(key, spec.default)), "file" if key in settings else "default"))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{key:<{width[0]}}  {value:<{width[1]}}  {origin}" for key, value, origin in rows]
    return f"config file: {path} ({state})\n" + "\n".join(lines) + "\n"


def _shown(value: object) -> str:
    if value is None:
        return "(unset)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _keys_help() -> str:
    lines = ["settings:"]
    for key, spec in config.SETTINGS.items():
        lines.append(f"  {key:<15} {spec.help}\n  {'':<15} {spec.allowed}; default {_shown(spec.default)}")
    return "\n".join(lines)
