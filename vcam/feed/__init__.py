"""The live engagement feed: events (:mod:`vcam.feed.events`), their JSON Schema, and the server.

::

    analysis thread: FeedBuilder.on_snapshot(snapshot) -> [events] -> FeedServer.publish(event)
    feed thread:     asyncio loop, websockets server: /feed (WebSocket), /health, / and static files

The schema file ``schema.json`` next to this module is the one definition the
tests and the dashboard read; :func:`validate` checks an event against it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from vcam.feed.events import SCHEMA_PATH, SCHEMA_VERSION, FeedBuilder
from vcam.files import write_text_atomic

if TYPE_CHECKING:
    from vcam.feed.server import FeedServer

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "FeedBuilder", "FeedServer", "schema", "validate", "read_dashboard_url",
           "remove_dashboard_url", "write_dashboard_url"]

@cache
def schema() -> dict:
    """The parsed JSON Schema of feed events."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(event: dict) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` is a valid feed event."""
    import jsonschema

    jsonschema.Draft202012Validator(schema(), format_checker=None).validate(event)


def __getattr__(name: str) -> object:
    if name == "FeedServer":  # imported on first use: events need no websockets
        try:
            from vcam.feed.server import FeedServer
        except ImportError as err:
            raise ImportError(f"the feed server needs the websockets package ({err}); "
                              "install it with: pip install websockets==17.4") from err
        return FeedServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dashboard_url_file() -> Path:
    """Where a running daemon leaves its dashboard URL (with the token) for ``vcam dashboard``; mode 0600."""
    import warnings

    import platformdirs

    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR (a headless box): platformdirs falls back to /tmp/runtime-UID
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir("vcam")) / "dashboard.url"


def write_dashboard_url(url: str) -> None:
    """Leave ``url`` for ``vcam dashboard``, readable by this user only.

    Raises UnsafePathError when something other than a regular file (a planted link) is in its place.
    """
    path = dashboard_url_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text_atomic(path, url + "\n", advice="remove it; vcam writes this file itself whenever it starts")


def remove_dashboard_url(url: str) -> None:
    """Remove the left URL if it is still ``url`` (another vcam may have replaced it)."""
    if read_dashboard_url() == url:
        dashboard_url_file().unlink(missing_ok=True)


def read_dashboard_url() -> str | None:
    """The URL a running daemon left, or None when none is running."""
    try:
        return dashboard_url_file().read_text().strip() or None
    except FileNotFoundError:
        return None
