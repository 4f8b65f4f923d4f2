"""The JSON Schemas of vcam's documents, and how their people's fields are kept in step with the code.

Two committed files (package data) are the contracts:

- ``vcam/feed/schema.json``: every feed event (:mod:`vcam.feed.events`);
- ``vcam/schemas/analyze.schema.json``: what ``vcam analyze`` writes (:mod:`vcam.analyze`).

Each is written by hand except two parts made from the code: the properties of the
:class:`vcam.records.Person` fields that a writer carries under their own names (``PERSON_EXTRA``
of the feed, ``FACE_EXTRA`` of analyze), made from the fields' :class:`~vcam.records.Spec` by
:func:`updated`, which also raises the schema's version to the latest ``since`` among them; and the
feed ``hello``'s ``features``, one per switch of :data:`vcam.features.ANNOUNCED`. After adding a
Person field or a feature, run::

    python -m vcam.schemas          # rewrite both files
    python -m vcam.schemas --check  # exit 1 if either is out of date (a test does the same)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vcam.records import SPECS, Spec, version

FEED = Path(__file__).parents[1] / "feed" / "schema.json"
ANALYZE = Path(__file__).with_name("analyze.schema.json")
_WIDTH = 116
"""Longest line the files are written with; shorter objects and arrays stay on one line."""


def field_schema(spec: Spec) -> dict[str, Any]:
    """The JSON Schema of one Person field: its type or null, its range, its description."""
    out: dict[str, Any] = {"type": [spec.kind, "null"]}
    if spec.low is not None:
        out["minimum"] = spec.low
    if spec.high is not None:
        out["maximum"] = spec.high
    feature = f"; null while {spec.feature} is off" if spec.feature else ""
    out["description"] = f"since {spec.since}: {spec.doc}{feature}"
    return out


def switches_schema() -> dict[str, Any]:
    """The ``hello`` event's ``features``: one boolean per switch of :data:`vcam.features.ANNOUNCED`."""
    from vcam.features import ANNOUNCED, BY_NAME

    return {"type": "object", "required": list(ANNOUNCED), "additionalProperties": False,
            "properties": {name: {"type": "boolean", "description": BY_NAME[name].help} for name in ANNOUNCED}}


def updated(schema: dict, person: str, keys: tuple[str, ...], *, required: bool) -> dict:
    """``schema`` with ``keys`` (Person fields) in ``$defs[person]`` and its version raised to theirs."""
    definition = schema["$defs"][person]
    for key in keys:
        definition["properties"][key] = field_schema(SPECS[key])
        if required and key not in definition["required"]:
            definition["required"].append(key)
    schema["$defs"]["version"] = {"const": version(schema["$defs"]["version"]["const"], keys)}
    return schema


def documents() -> dict[Path, dict]:
    """Both schema files as they must be: read from disk, with the Person fields brought up to date."""
    from vcam.analyze import FACE_EXTRA
    from vcam.feed.events import PERSON_EXTRA

    feed = updated(_read(FEED), "person", PERSON_EXTRA, required=True)
    feed["$defs"]["hello"]["properties"]["features"] = switches_schema()
    feed["$id"] = f"https://vcam.local/feed/schema/{feed['$defs']['version']['const']}"
    return {FEED: feed, ANALYZE: updated(_read(ANALYZE), "face", FACE_EXTRA, required=False)}


def stale() -> list[Path]:
    """The schema files whose text differs from what :func:`write` would write."""
    return [path for path, doc in documents().items() if path.read_text(encoding="utf-8") != dumps(doc)]


def write() -> list[Path]:
    """Rewrite the stale schema files; returns them."""
    changed = stale()
    docs = documents()
    for path in changed:
        path.write_text(dumps(docs[path]), encoding="utf-8")
    return changed


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def dumps(value: Any) -> str:
    """``value`` as JSON, indented by 2, with objects and arrays that fit in ``_WIDTH`` on one line."""
    return _dump(value, 0) + "\n"


def _dump(value: Any, indent: int, lead: int = 0) -> str:
    """``value`` at ``indent`` spaces, after ``lead`` characters already on its first line."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or indent + lead + len(flat) <= _WIDTH:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: " + _dump(v, indent + 2, len(json.dumps(k)) + 2) for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(pad + _dump(v, indent + 2) for v in value) + "\n" + " " * indent + "]"
