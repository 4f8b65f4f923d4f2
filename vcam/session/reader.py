"""Reading a session back: :func:`load_session` turns a recorded folder into a :class:`Session` of typed arrays.

The folder is written by :class:`~vcam.session.recorder.Recorder`; its files and columns are
described in :mod:`vcam.session.recorder`, which owns the column lists, and this module only
reads them. A partly written last line (a crash mid-write) is skipped with a warning. A file
written before a column was added reads back with that column empty (NaN or ''); columns a
newer vcam added are ignored. A line whose ``t`` is not a finite time, or whose id does not fit
in 64 bits, is skipped the same way. A ``session.json`` that is not what the recorder writes (not an object, a
key of the wrong type, an ``every`` that is not a positive number of seconds) is a SessionError naming the key.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs

from vcam.errors import SessionError
from vcam.session.recorder import FLOAT_COLUMNS, INT_COLUMNS, ROOM_COLUMNS, TIMELINE_COLUMNS

log = logging.getLogger(__name__)


@dataclass
class Session:
    """A recorded session, read back.

    Attributes:
        folder: where it was read from.
        metadata: ``session.json`` (``{}`` if missing); ``ended`` is absent after a crash.
        timeline: ``TIMELINE_COLUMNS`` -> ``(R,)`` arrays: float64 for numbers (NaN for empty
            cells), int64 for ``track_id``, str objects ('' for empty) for the rest.
        room: ``ROOM_COLUMNS`` -> ``(S,)`` arrays, typed the same way.
        skipped: lines that could not be read (a crash mid-write leaves at most one per file).
    """

    folder: Path
    metadata: dict
    timeline: dict[str, np.ndarray]
    room: dict[str, np.ndarray]
    skipped: int = 0
    features: tuple[str, ...] = field(init=False)
    _names: dict[str, dict[int, str]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.features = tuple(self.metadata.get("features", ()))

    @property
    def crashed(self) -> bool:
        """True when the recorder never closed the session (``ended`` missing)."""
        return "ended" not in self.metadata

    @property
    def duration(self) -> float:
        """Seconds from the first to the end of the last recorded slot (0 with no rows)."""
        t = self.room["t"]
        return float(t[-1] - t[0] + self.metadata.get("every", 1.0)) if len(t) else 0.0

    @property
    def track_ids(self) -> list[int]:
        """Every track id seen, ascending."""
        return sorted(set(self.timeline["track_id"].tolist()))

    def name_of(self, track_id: int, column: str = "name") -> str:
        """The name most often given to ``track_id`` ('' if none); ``column`` ``"participant"``: the meeting
        tile's name instead of the enrolled one ('' also for a session recorded before 1.3)."""
        if column not in self.timeline:
            return ""
        if column not in self._names:
            self._names[column] = _most_common(self.timeline["track_id"], self.timeline[column])
        return self._names[column].get(int(track_id), "")


def _most_common(track_ids: np.ndarray, names: np.ndarray) -> dict[int, str]:
    """``{track id: its most frequent non-empty name}``, in one pass over the rows (ties: the first in order)."""
    counts: dict[int, Counter] = {}
    for tid, name in zip(track_ids.tolist(), names.tolist()):
        if name:
            counts.setdefault(tid, Counter())[name] += 1
    return {tid: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for tid, c in counts.items()}


def load_session(folder: str | Path) -> Session:
    """Read a session folder written by :class:`~vcam.session.recorder.Recorder`.

    A partly written or unreadable line (a crash mid-write) is skipped with a warning. Raises
    SessionError when the folder or its ``timeline.csv`` is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SessionError(f"no session folder at {folder}; pass a folder that `vcam` recorded into "
                           f"(sessions are under {Path(platformdirs.user_data_dir('vcam')) / 'sessions'})")
    if not (folder / "timeline.csv").is_file():
        raise SessionError(f"{folder} holds no timeline.csv, so it is not a vcam session; pass the folder "
                           "that holds session.json and timeline.csv")
    skipped = [0]
    timeline = _read_csv(folder / "timeline.csv", TIMELINE_COLUMNS, skipped)
    room = _read_csv(folder / "room.csv", ROOM_COLUMNS, skipped) if (folder / "room.csv").is_file() else None
    return Session(folder, _read_meta(folder / "session.json"), timeline,
                   room if room is not None else _room_from(timeline), skipped[0])


def _read_meta(path: Path) -> dict:
    """``session.json`` checked (:func:`_check_meta`); ``{}`` with a warning when it is missing or not JSON."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError) as err:
        log.warning("cannot read %s (%s); going on without session metadata", path, err)
        return {}
    _check_meta(path, meta)
    return meta


_META_TYPES: dict[str, tuple[type, ...]] = {"started": (str,), "ended": (str,), "source": (str,), "version": (str,),
                                            "schema_version": (str,), "features": (list,), "every": (int, float),
                                            "columns": (dict,)}
"""The type each ``session.json`` key the reader or the report uses must have, when present."""


def _check_meta(path: Path, meta: object) -> None:
    """Raise SessionError naming ``path`` and the key unless ``meta`` is what the recorder writes."""
    fix = "it is not one vcam wrote: restore it, or delete it to read the session without its metadata"
    if not isinstance(meta, dict):
        raise SessionError(f"{path} must hold a JSON object, got {type(meta).__name__}; {fix}")
    for key, kinds in _META_TYPES.items():
        value = meta.get(key)
        if key in meta and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise SessionError(f"{path}: {key!r} must be {' or '.join(k.__name__ for k in kinds)}, got {value!r}; {fix}")
    every = meta.get("every", 1.0)
    if not 0 < every <= 3600:  # False for NaN; compared, not converted: a huge int overflows a float
        raise SessionError(f"{path}: 'every' must be a number of seconds between 0 and 3600, got {every!r}; {fix}")
    if not all(isinstance(f, str) for f in meta.get("features", ())):
        raise SessionError(f"{path}: 'features' must be a list of names, got {meta['features']!r}; {fix}")


def _read_csv(path: Path, columns: tuple[str, ...], skipped: list[int]) -> dict[str, np.ndarray]:
    """``columns`` of a CSV file as typed arrays, read by its header.

    Columns the file lacks (it was written before they were added) are empty: NaN or ''. Columns
    it has that are not in ``columns`` (a newer vcam wrote it) are ignored.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise SessionError(f"cannot read {path}: {err.strerror}; check the folder's permissions") from err
    lines = text.split("\n")
    if lines and lines[-1] != "":
        log.warning("%s: skipping the partly written last line (the recording stopped mid-write)", path)
        skipped[0] += 1
    lines = [line for line in lines[:-1] if line]
    header = lines[0].split(",") if lines else []
    if not lines or not set(_REQUIRED) & set(columns) <= set(header):
        if lines:
            log.warning("%s: unexpected header %r; expected %s", path, lines[0], ",".join(columns))
        return _columns([], columns)
    records = []
    for n, fields in enumerate(csv.reader(lines[1:]), start=2):
        record = _parse(dict(zip(header, fields)) if len(fields) == len(header) else None, columns)
        if record is None:
            log.warning("%s: skipping unreadable line %d", path, n)
            skipped[0] += 1
        else:
            records.append(record)
    return _columns(records, columns)


_REQUIRED = (*TIMELINE_COLUMNS[:11], *ROOM_COLUMNS[:5])
"""The columns every session has had since the first version."""


def _parse(cells: dict[str, str] | None, columns: tuple[str, ...]) -> list | None:
    if cells is None:
        return None
    try:
        return [_value(c, cells.get(c, "")) for c in columns]
    except ValueError:
        return None


def _value(column: str, cell: str) -> float | int | str:
    """One cell typed; ValueError (the line is skipped) for a time that is not a finite number."""
    if column in FLOAT_COLUMNS:
        value = float(cell) if cell else math.nan
        if column == "t" and not 0 <= value <= MAX_T:
            raise ValueError(f"t must be seconds between 0 and {MAX_T}, got {cell!r}")
        return value if math.isfinite(value) else math.nan
    if column in INT_COLUMNS:
        value = int(cell)
        if not -2**63 <= value < 2**63:
            raise ValueError(f"{column} must fit in 64 bits, got {cell!r}")
        return value
    return cell


MAX_T = 1e9
"""The latest ``t`` (seconds into a session) read back, about 32 years; a line with a later one is skipped."""


def _columns(records: list[list], columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {}
    for j, c in enumerate(columns):
        values = [r[j] for r in records]
        dtype = np.float64 if c in FLOAT_COLUMNS else np.int64 if c in INT_COLUMNS else object
        out[c] = np.array(values, dtype=dtype) if values else np.zeros(0, dtype)
    return out


def _room_from(timeline: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Room rows rebuilt from the timeline, for a folder whose room.csv is missing."""
    log.warning("room.csv is missing; rebuilding the room from timeline.csv (seconds with nobody present are lost)")
    records = []
    for t in np.unique(timeline["t"]):
        at = timeline["t"] == t
        looking, attention, engagement = (timeline[c][at] for c in ("looking", "attention", "engagement"))
        records.append([float(t), float(at.sum()), float(np.nansum(looking)), _nanmean(attention, 100.0),
                        _nanmean(engagement), math.nan, "", math.nan])
    return _columns(records, ROOM_COLUMNS)


def _nanmean(values: np.ndarray, scale: float = 1.0) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) * scale if finite.size else math.nan
