"""The live engagement feed: events (:mod:`vcam.feed.events`), their JSON Schema, and the server.

::

    analysis thread: FeedBuilder.on_analysis(analysis) -> [events] -> FeedServer.publish(event)
    feed thread:     asyncio loop, websockets server: /feed (WebSocket), /health, / and static files

The schema file ``schema.json`` next to this module is the one definition the
tests and the dashboard read; :func:`validate` checks an event against it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from vcam.feed.events import SCHEMA_VERSION, FeedBuilder

if TYPE_CHECKING:
    from vcam.feed.server import FeedServer

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "FeedBuilder", "FeedServer", "schema", "validate"]

SCHEMA_PATH = Path(__file__).with_name("schema.json")
"""The committed JSON Schema (draft 2020-12) of every feed event."""


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
