"""The gallery: enrolled people, their face descriptors, and where each came from.

Stored in one SQLite file, private to the user (mode 0600), by default
``platformdirs.user_data_dir("vcam")/gallery.sqlite3``::

    people(id, name UNIQUE, created)
    descriptors(id, person -> people.id, vector BLOB (128 float32, little-endian), source, created)

``source`` says where a descriptor came from: the file path, or the source spec
and frame index, plus the augmentation (``"me.jpg"``, ``"me.jpg #flip"``).
Every change is one transaction: it happens whole or not at all. Deleted rows
are overwritten on disk (``secure_delete``), since these are biometric data.

Enrollment (photos and frames to descriptors) is :mod:`vcam.enroll`; the demo's
own people, and which people identity may name on a source, are :mod:`vcam.demo_gallery`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import platformdirs

from vcam.errors import GalleryError, UnsafePathError
from vcam.files import create_private, make_private, write_text_atomic

log = logging.getLogger(__name__)

DESCRIPTOR_SIZE = 128
_SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS descriptors (
    id INTEGER PRIMARY KEY, person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector BLOB NOT NULL, source TEXT NOT NULL, created TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS descriptors_person ON descriptors(person);
"""


def default_path() -> Path:
    """``<user data dir>/vcam/gallery.sqlite3`` (platformdirs)."""
    return Path(platformdirs.user_data_dir("vcam")) / "gallery.sqlite3"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_kind(path: Path) -> None:
    """Raise GalleryError unless ``path`` is a regular file (through a link, if any) or nothing at all."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise GalleryError(f"the gallery {path} is a link to {os.readlink(path)}, which does not exist; remove the "
                               "link, or pass --gallery with the gallery file itself") from None
        return
    except (OSError, ValueError) as err:
        raise GalleryError(f"cannot open the gallery {path}: {getattr(err, 'strerror', None) or err}; check the path "
                           "and its folder's permissions") from None
    if not stat.S_ISREG(info.st_mode):
        raise GalleryError(f"the gallery {path} is {'a folder' if stat.S_ISDIR(info.st_mode) else 'not a regular file'}"
                           "; pass --gallery with a gallery file (e.g. gallery.sqlite3), or nothing for the default")


def _private(path: Path) -> None:
    """Create ``path`` with mode 0600, or tighten an existing file that others can read (with a warning).

    Raises GalleryError when ``path`` is a link (even to a gallery), a folder or any other non-regular
    file, or a file of another user: vcam never opens its gallery through a link it did not make.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        try:
            os.close(create_private(path))
            return
        except UnsafePathError:
            pass  # it exists: use it if it is a regular file of ours
        if make_private(path):
            log.warning("gallery %s was readable by others; set it to 0600", path)
    except UnsafePathError as err:
        raise GalleryError(f"cannot open the gallery {path}, nothing was changed: {err}") from err


class Gallery:
    """The enrolled people in one SQLite file. A context manager; ``close()`` is idempotent.

    Args:
        path: the file; default :func:`default_path`. Created (0600) if missing.
        timeout: seconds to wait for another process's write lock before
            :class:`GalleryError`. Longer rides out a slow writer; shorter
            reports a stuck one sooner.

    Raises GalleryError when the file is not a SQLite database or is damaged
    (the file is left untouched), or when another process holds the lock.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 1.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        _check_kind(self.path)
        try:
            _private(self.path)
        except OSError as err:
            raise GalleryError(f"cannot create the gallery {self.path}: {err.strerror or err}; pass --gallery with a "
                               "path in a folder you can write to") from None
        with self._guard():
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            with self._guard():
                self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self._db.execute("PRAGMA foreign_keys = ON")
                self._db.execute("PRAGMA secure_delete = ON")
                if not self._has_tables():
                    self._write(lambda db: [db.execute(sql) for sql in _SCHEMA.split(";") if sql.strip()])
        except GalleryError:
            self._db.close()
            raise

    # -- plumbing --------------------------------------------------------------------
    def _has_tables(self) -> bool:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {"people", "descriptors"} <= {r[0] for r in rows}

    def _guard(self):
        return _Guard(self.path)

    def _write(self, change: Callable[[sqlite3.Connection], object]) -> object:
        """Run ``change`` in one write transaction (all or nothing)."""
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = change(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    def _person(self, db: sqlite3.Connection, name: str) -> tuple[int, int] | None:
        row = db.execute("SELECT p.id, count(d.id) FROM people p LEFT JOIN descriptors d ON d.person = p.id "
                         "WHERE p.name = ? GROUP BY p.id", (name,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    # -- changes ---------------------------------------------------------------------
    def add(self, name: str, descriptors: np.ndarray, sources: Sequence[str], *, replace: bool = False) -> None:
        """Enroll ``name`` with ``(K, 128)`` descriptors and one source string each.

        An enrolled name is an error unless ``replace`` (which drops its old descriptors).
        """
        name, vectors = _check(name, descriptors, sources)

        def change(db: sqlite3.Connection) -> None:
            found = self._person(db, name)
            if found and not replace:
                raise GalleryError(f"{name} is already enrolled with {found[1]} descriptors; use --replace to start over "
                                   "or --add to add images")
            if found:
                db.execute("DELETE FROM people WHERE id = ?", (found[0],))
            person = db.execute("INSERT INTO people (name, created) VALUES (?, ?)", (name, _now())).lastrowid
            _insert(db, person, vectors, sources)

        self._write(change)
        log.info("gallery: enrolled %s with %d descriptors%s", name, len(vectors), " (replaced)" if replace else "")

    def add_images(self, name: str, descriptors: np.ndarray, sources: Sequence[str]) -> None:
        """Append ``(K, 128)`` descriptors to an enrolled person."""
        name, vectors = _check(name, descriptors, sources)

        def change(db: sqlite3.Connection) -> None:
            found = self._person(db, name)
            if not found:
                raise GalleryError(f"{name} is not enrolled (enrolled: {self._listing(db)}); enroll without --add first")
            _insert(db, found[0], vectors, sources)

        self._write(change)
        log.info("gallery: added %d descriptors to %s", len(vectors), name)

    def remove(self, name: str) -> None:
        """Delete ``name`` and all their descriptors."""
        def change(db: sqlite3.Connection) -> None:
            if db.execute("DELETE FROM people WHERE name = ?", (name,)).rowcount == 0:
                raise GalleryError(f"{name} is not enrolled; enrolled: {self._listing(db)}")

        self._write(change)
        log.info("gallery: removed %s", name)

    def delete_all(self) -> None:
        """Delete every person and descriptor (overwritten on disk, then the file is compacted)."""
        self._write(lambda db: db.execute("DELETE FROM people"))
        with self._guard():
            self._db.execute("VACUUM")
        log.info("gallery: deleted everyone")

    # -- reading ---------------------------------------------------------------------
    def people(self) -> dict[str, np.ndarray]:
        """``{name: (K, 128) float32}`` for everyone enrolled."""
        with self._guard():
            rows = self._db.execute("SELECT p.name, d.vector FROM descriptors d JOIN people p ON p.id = d.person "
                                    "ORDER BY p.name, d.id").fetchall()
        out: dict[str, list[np.ndarray]] = {}
        for name, blob in rows:
            name = _text(self.path, name, "a name")
            out.setdefault(name, []).append(_vector(self.path, name, blob))
        return {name: np.stack(v).astype(np.float32) for name, v in out.items()}

    def names(self) -> list[tuple[str, int, str]]:
        """``[(name, descriptor count, created ISO-8601 UTC)]`` sorted by name."""
        with self._guard():
            rows = self._db.execute("SELECT p.name, count(d.id), p.created FROM people p LEFT JOIN descriptors d "
                                    "ON d.person = p.id GROUP BY p.id ORDER BY p.name").fetchall()
        return [(_text(self.path, n, "a name"), int(c), _text(self.path, t, f"the date of {n}")) for n, c, t in rows]

    def _listing(self, db: sqlite3.Connection) -> str:
        names = [r[0] for r in db.execute("SELECT name FROM people ORDER BY name")]
        return ", ".join(names) if names else "nobody"

    def export(self, path: str | Path) -> None:
        """Write everything as JSON to ``path`` (atomically, mode 0600): names, sources, descriptors."""
        with self._guard():
            people = self._db.execute("SELECT id, name, created FROM people ORDER BY name").fetchall()
            doc = {"format": "vcam-gallery", "version": 1, "exported": _now(),
                   "people": [self._exported(pid, _text(self.path, name, "a name"), created) for pid, name, created in people]}
        write_text_atomic(path, json.dumps(doc, indent=1))

    def _exported(self, pid: int, name: str, created: object) -> dict:
        """One person of :meth:`export`: name, created and each image's source, created and descriptor."""
        rows = self._db.execute("SELECT vector, source, created FROM descriptors WHERE person = ? ORDER BY id", (pid,))
        return {"name": name, "created": _text(self.path, created, f"the date of {name}"), "images": [
            {"source": _text(self.path, src, f"a source of {name}"), "created": _text(self.path, made, f"a date of {name}"),
             "descriptor": _vector(self.path, name, blob).astype(float).tolist()} for blob, src, made in rows]}

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Guard:
    """Turns sqlite3 errors into GalleryError with the file, what happened and the fix."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, tb) -> None:
        if err is None or not isinstance(err, sqlite3.Error):
            return
        text = str(err)
        if "locked" in text or "busy" in text:
            raise GalleryError(f"the gallery {self.path} is locked: another vcam is writing to it; "
                               "retry when it has finished") from err
        if isinstance(err, sqlite3.DatabaseError):
            raise GalleryError(f"the gallery {self.path} is not a readable vcam gallery ({text}); it was NOT modified. "
                               "Move it aside (rename it) and enroll again, or restore a backup copy and "
                               "save its contents with `vcam gallery export`") from err
        raise GalleryError(f"the gallery {self.path} failed: {text}") from err


def _check(name: str, descriptors: np.ndarray, sources: Sequence[str]) -> tuple[str, np.ndarray]:
    name = str(name).strip()
    if not name:
        raise GalleryError("a person's name must not be empty")
    vectors = np.asarray(descriptors, np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != DESCRIPTOR_SIZE or len(vectors) == 0:
        raise GalleryError(f"descriptors must be (K, 128) with K >= 1, got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise GalleryError("descriptors must be finite numbers; got NaN or infinity")
    if len(sources) != len(vectors):
        raise GalleryError(f"need one source per descriptor: {len(vectors)} descriptors, {len(sources)} sources")
    return name, vectors


def _text(path: Path, value: object, what: str) -> str:
    """``value`` when it is text; GalleryError naming ``what`` when the row holds another type."""
    if not isinstance(value, str):
        raise GalleryError(f"the gallery {path} holds {what} that is not text ({type(value).__name__}): the file was "
                           "changed outside vcam; restore a backup copy, or move it aside and enroll again")
    return value


def _vector(path: Path, name: str, blob: object) -> np.ndarray:
    """A stored descriptor as ``(128,) float32``; GalleryError naming the person unless it is 128 little-endian floats."""
    if not isinstance(blob, bytes) or len(blob) != DESCRIPTOR_SIZE * 4:
        size = f"{len(blob)} bytes" if isinstance(blob, bytes) else f"a {type(blob).__name__}"
        raise GalleryError(f"the gallery {path} holds a descriptor of {name} that is {size}, not {DESCRIPTOR_SIZE} "
                           f"numbers ({DESCRIPTOR_SIZE * 4} bytes): the file was changed outside vcam; run "
                           f"'vcam gallery remove {name}' and enroll {name} again")
    return np.frombuffer(blob, "<f4")


def _insert(db: sqlite3.Connection, person: int, vectors: np.ndarray, sources: Sequence[str]) -> None:
    now = _now()
    db.executemany("INSERT INTO descriptors (person, vector, source, created) VALUES (?, ?, ?, ?)",
                   [(person, v.astype("<f4").tobytes(), str(s), now) for v, s in zip(vectors, sources)])
