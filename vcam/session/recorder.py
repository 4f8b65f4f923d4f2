"""The session timeline: one row per person per second, written so that a crash loses at most one second.

A session folder (mode 0700, files 0600) holds::

    session.json     metadata: started, features, source, version, schema_version, every, columns;
                     at close also ended, duration, rows
    timeline.csv     one row per present person per second (TIMELINE_COLUMNS)
    timeline.jsonl   the same rows, one JSON object a line
    room.csv         one row per second for the whole room (ROOM_COLUMNS)

Rows are :class:`vcam.records.Person` and :class:`vcam.records.Room` records, only formatted
here (privacy was applied when they were built): the feed and the analyze JSON carry the
same values under the same names. Columns are only ever added, at the end; an older session
reads back with the newer columns empty.

The CSV and JSONL files are appended to and ``fsync``-ed after every second's batch, so a
crash, even SIGKILL, loses at most the second being written. ``session.json`` is replaced
atomically. NaN is an empty cell in CSV and null in JSON.

:func:`vcam.session.reader.load_session` reads a folder back; a partly written last line is skipped
with a warning.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TextIO

import platformdirs

import vcam
from vcam.errors import ConfigError, SessionError, UnsafePathError
from vcam.files import describe, open_private_text, write_text_atomic
from vcam.records import SPECS, Person, Room, Snapshot, published, version

log = logging.getLogger(__name__)

_PERSON_COLUMNS = {"track_id": "track_id", "name": "name", "looking": "looking", "attention": "attention",
                   "emotion": "emotion", "emotion_confidence": "emotion_confidence", "valence_est": "valence",
                   "arousal_est": "arousal", "engagement": "engagement"}
"""The 1.0 timeline columns and the Person field each holds; every other published field follows under its name."""
_PERSON_COLUMNS.update({key: key for key in published(exclude=_PERSON_COLUMNS.values())})

TIMELINE_COLUMNS = ("t", "wall_time", *_PERSON_COLUMNS)
"""Columns of ``timeline.csv`` and keys of each ``timeline.jsonl`` object.

t: seconds since the recording started (analysis time); wall_time: ISO 8601 with the UTC offset,
when the analysed frame was captured; then the :class:`~vcam.records.Person` fields: name: empty
unless identity was on (and the person known); looking: 1 if looking at the screen, else 0;
attention (the share of the last 10 s spent looking), engagement: 0..1; emotion: the top label or
empty when emotion was off or not classified yet; emotion_confidence: its probability, 0..1;
valence_est, arousal_est: -1..1, estimated from the emotion probabilities, not measured; and,
since 1.2, the later fields under their own names (see :class:`~vcam.records.Person`).
"""

ROOM_COLUMNS = ("t", "people", "attending", "attention_pct", "engagement", "camera_off", "layout", "tiles")
"""Columns of ``room.csv`` (a :class:`~vcam.room.Room`): people present, how many were looking at
the screen at that instant (empty while gaze is off), the room's attention in percent (the mean of
the people's attention; empty with nobody present), the mean engagement, 0..1; and, since 1.3, in a
meeting gallery, the tiles whose camera is off, the layout's kind (grid, speaker, strip) and the
tile count (all three empty outside a gallery). A reader takes older files without the last three."""

SCHEMA_VERSION = version("1.1", _PERSON_COLUMNS.values())
"""The timeline's version in ``session.json`` (absent before 1.2): the latest ``since`` of its Person fields."""

FLOAT_COLUMNS = ({"t", "people", "attention_pct", "engagement", "attending", "camera_off", "tiles"}
                 | {c for c, key in _PERSON_COLUMNS.items() if SPECS[key].kind in ("number", "boolean")})
"""Columns read back as float64 (NaN for an empty cell); the reader (:mod:`vcam.session.reader`) types by these.
The room's counts are among them, as they can be empty: all of a room that aggregate-only mode hides (under
its smallest group), ``attending`` while gaze is off, the meeting's outside a gallery."""
INT_COLUMNS = {"track_id"}
"""Columns read back as int64; every other column is read as str."""


def new_session_dir(root: str | Path | None = None) -> Path:
    """A fresh, not yet existing folder ``<root>/YYYYmmdd-HHMMSS`` (``-2``, ``-3``… on a clash).

    ``root`` defaults to ``platformdirs.user_data_dir("vcam")/sessions``.
    """
    root = Path(root) if root is not None else Path(platformdirs.user_data_dir("vcam")) / "sessions"
    base = root / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def write_json_atomic(document: dict, path: Path) -> None:
    """Replace ``path`` with ``document`` (mode 0600, fsync-ed): a crash leaves the old file or the new one."""
    write_text_atomic(path, json.dumps(document, indent=1))


def _now_iso(epoch: float | None = None) -> str:
    when = datetime.fromtimestamp(time.time() if epoch is None else epoch).astimezone()
    return when.isoformat(timespec="milliseconds")


def _cell(value: object) -> str:
    """One CSV cell: '' for None/NaN, 3 decimals for floats."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _json_value(value: object) -> object:
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    return None if value == "" else value


class Recorder:
    """Records a session's timeline into ``folder`` while analyses arrive.

    Use it as a context manager and call :meth:`on_snapshot` with every
    :class:`~vcam.records.Snapshot` from the analysis thread. A row batch is the first snapshot
    that starts a new ``every``-second slot of analysis time; the pipeline already smooths
    attention and emotion, so a snapshot is representative. What a snapshot may not publish
    (names with identity off, emotion in EU mode, any person in aggregate-only mode, a room of
    fewer than 3 in aggregate-only mode) is empty in it already, and so in the files.

    Args:
        folder: the session folder; created with mode 0700. It must be new or empty, and not a link.
        features: the features on at the start, e.g. ``("gaze", "emotion")``, for ``session.json``;
            at close it lists every feature published during the recording.
        every: seconds between batches, > 0. Lower gives a finer timeline, bigger files and more
            fsyncs; a crash loses at most one batch.
        source: the source spec, stored in ``session.json``.
    """

    def __init__(self, folder: str | Path, *, features: tuple[str, ...] = (), every: float = 1.0,
                 source: str = "") -> None:
        if not (isinstance(every, (int, float)) and math.isfinite(every) and every > 0):
            raise ConfigError(f"Recorder every must be a number of seconds > 0, got {every!r}")
        self.folder = Path(folder)
        self.features = tuple(features)
        self.every = float(every)
        self.source = source
        self.rows = {"timeline": 0, "room": 0}
        self.last_flushed: float | None = None
        """Session time ``t`` of the last batch that is safely on disk, or None."""
        self._lock = threading.Lock()
        self._files: dict[str, TextIO] = {}
        self._meta: dict = {}
        self._state = "new"
        self._t0: float | None = None  # session time of the first snapshot
        self._slot = -1

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Recorder:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Create the folder and files and write ``session.json``.

        Raises SessionError when the folder is not a new or empty folder (a link, a file, or a folder
        with something in it: vcam never writes into files it did not create) or cannot be written.
        """
        self._check_folder()
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._check_folder()  # again: nothing may have slipped in between
            os.chmod(self.folder, 0o700)
            self._files = {"timeline": self._open_csv("timeline.csv", TIMELINE_COLUMNS),
                           "jsonl": self._open_text("timeline.jsonl"),
                           "room": self._open_csv("room.csv", ROOM_COLUMNS)}
            self._meta = {"started": _now_iso(), "features": list(self.features), "source": self.source,
                          "version": vcam.__version__, "schema_version": SCHEMA_VERSION, "every": self.every,
                          "columns": {"timeline": list(TIMELINE_COLUMNS), "room": list(ROOM_COLUMNS)}}
            write_json_atomic(self._meta, self.folder / "session.json")
        except UnsafePathError as err:
            self._close_files()
            raise SessionError(f"cannot record into {self.folder}: {err}") from err
        except OSError as err:
            self._close_files()
            raise self._error("create", err) from err
        self._state = "open"
        log.info("recording session to %s", self.folder)

    def _check_folder(self) -> None:
        """Raise SessionError unless the folder is missing or an empty folder (not a link to one)."""
        found = describe(self.folder)
        if found == "nothing":
            return
        if found != "a folder":
            raise SessionError(f"cannot record into {self.folder}: it is {found}, not a folder; "
                               "record into a new folder (leave the folder out to get one under the user data dir)")
        names = sorted(os.listdir(self.folder))
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise SessionError(f"cannot record into {self.folder}: it is not empty (it holds {shown}); "
                               "record into a new folder or an empty one (leave the folder out to get a fresh "
                               "one under the user data dir)")

    def close(self) -> None:
        """Flush and close the files and record ``ended`` and the row counts. Runs once; later calls do nothing."""
        with self._lock:
            if self._state != "open":
                self._state = "closed"
                return
            self._state = "closed"
            self._close_files()
            self._meta.update(ended=_now_iso(), duration=self.last_flushed, rows=dict(self.rows),
                              features=list(self.features))
            try:
                write_json_atomic(self._meta, self.folder / "session.json")
            except OSError as err:
                raise self._error("finish", err) from err
        log.info("session %s closed: %d timeline rows", self.folder, self.rows["timeline"])

    def _open_text(self, name: str) -> TextIO:
        return open_private_text(self.folder / name, append=True)

    def _open_csv(self, name: str, columns: tuple[str, ...]) -> TextIO:
        f = self._open_text(name)
        f.write(",".join(columns) + "\n")
        f.flush()
        os.fsync(f.fileno())
        return f

    def _close_files(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def _error(self, verb: str, err: OSError) -> SessionError:
        return SessionError(f"cannot {verb} the session in {self.folder}: {err.strerror or err}; "
                            "choose a writable folder with free space")

    # -- recording ---------------------------------------------------------------------
    def on_snapshot(self, snapshot: Snapshot) -> None:
        """Take one snapshot; every ``every`` seconds of analysis time, write and fsync a batch.

        Called on the analysis thread. Does nothing once closed; raises RuntimeError before
        :meth:`open` and SessionError when the disk refuses the write.
        """
        with self._lock:
            if self._state == "closed":
                return
            if self._state != "open":
                raise RuntimeError("Recorder.on_snapshot called before open(); use it as a context manager")
            if self._t0 is None:
                self._t0 = snapshot.t
            t = snapshot.t - self._t0
            slot = math.floor(t / self.every + 1e-9)
            if slot <= self._slot:
                return
            self._slot = slot
            self.features += tuple(f for f in snapshot.features if f not in self.features)
            try:
                self._write_batch(round(t, 3), snapshot)
            except OSError as err:
                raise self._error("write", err) from err

    def _write_batch(self, t: float, snapshot: Snapshot) -> None:
        wall = _now_iso(time.time() - (time.monotonic() - snapshot.captured))
        rows = [timeline_row(t, wall, p) for p in snapshot.people]
        files = self._files
        for row in rows:
            files["timeline"].write(",".join(_csv_escape(_cell(row[c])) for c in TIMELINE_COLUMNS) + "\n")
            files["jsonl"].write(json.dumps({k: _json_value(v) for k, v in row.items()}) + "\n")
        files["room"].write(",".join(_cell(v) for v in room_row(t, snapshot.room)) + "\n")
        for f in files.values():
            f.flush()
            os.fsync(f.fileno())
        self.rows["timeline"] += len(rows)
        self.rows["room"] += 1
        self.last_flushed = t


def timeline_row(t: float, wall: str, person: Person) -> dict:
    """The ``TIMELINE_COLUMNS`` of ``person`` at ``t``: None and NaN become empty cells, booleans 1 or 0."""
    row: dict[str, object] = {"t": t, "wall_time": wall}
    for column, key in _PERSON_COLUMNS.items():
        value = person.value(key)
        if SPECS[key].kind == "string":
            value = value or ""
        elif SPECS[key].kind == "boolean":
            value = math.nan if value is None else int(value)
        row[column] = math.nan if value is None else value
    return row


def room_row(t: float, room: Room | None) -> tuple:
    """The ``ROOM_COLUMNS`` of ``room`` at ``t``; all empty but ``t`` when the room is hidden (None)."""
    values = room.published() if room is not None else {}
    return (t, *(math.nan if values.get(c) is None else values[c] for c in ROOM_COLUMNS[1:]))


def _csv_escape(cell: str) -> str:
    if any(c in cell for c in ',"\n\r'):
        return '"' + cell.replace('"', '""') + '"'
    return cell
