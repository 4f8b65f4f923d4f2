"""The gallery: enrolled people, their face descriptors, and where each came from.

Stored in one SQLite file, private to the user (mode 0600), by default
``platformdirs.user_data_dir("vcam")/gallery.sqlite3``::

    people(id, name UNIQUE, created)
    descriptors(id, person -> people.id, vector BLOB (128 float32, little-endian), source, created)

``source`` says where a descriptor came from: the file path, or the source spec
and frame index, plus the augmentation (``"me.jpg"``, ``"me.jpg #flip"``).
Every change is one transaction: it happens whole or not at all. Deleted rows
are overwritten on disk (``secure_delete``), since these are biometric data.

Enrollment (:func:`enroll_images`, :func:`enroll_from_frames`) finds the one
face in each photo or frame with vcam's own detect and landmarks stages,
aligns it (:func:`vcam.pipeline.descriptor.face_chip`), and adds a few augmented
variants of each chip (:class:`Augment`) so one photo covers a little more of
the light and alignment a live camera will show.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import platformdirs

from vcam.errors import GalleryError
from vcam.files import write_text_atomic
from vcam.types import Faces, Frame

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


def _private(path: Path) -> None:
    """Create ``path`` with mode 0600, or tighten an existing file that others can read (with a warning)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return
    except FileExistsError:
        pass
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name != "nt" and mode & 0o077:
        log.warning("gallery %s was readable by others (mode %o); set it to 0600", path, mode)
        os.chmod(path, 0o600)


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
        _private(self.path)
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
            out.setdefault(name, []).append(np.frombuffer(blob, "<f4"))
        return {name: np.stack(v).astype(np.float32) for name, v in out.items()}

    def names(self) -> list[tuple[str, int, str]]:
        """``[(name, descriptor count, created ISO-8601 UTC)]`` sorted by name."""
        with self._guard():
            rows = self._db.execute("SELECT p.name, count(d.id), p.created FROM people p LEFT JOIN descriptors d "
                                    "ON d.person = p.id GROUP BY p.id ORDER BY p.name").fetchall()
        return [(str(n), int(c), str(t)) for n, c, t in rows]

    def _listing(self, db: sqlite3.Connection) -> str:
        names = [r[0] for r in db.execute("SELECT name FROM people ORDER BY name")]
        return ", ".join(names) if names else "nobody"

    def export(self, path: str | Path) -> None:
        """Write everything as JSON to ``path`` (atomically, mode 0600): names, sources, descriptors."""
        with self._guard():
            people = self._db.execute("SELECT id, name, created FROM people ORDER BY name").fetchall()
            doc = {"format": "vcam-gallery", "version": 1, "exported": _now(), "people": [
                {"name": name, "created": created, "images": [
                    {"source": src, "created": made, "descriptor": np.frombuffer(blob, "<f4").astype(float).tolist()}
                    for blob, src, made in self._db.execute(
                        "SELECT vector, source, created FROM descriptors WHERE person = ? ORDER BY id", (pid,))]}
                for pid, name, created in people]}
        write_text_atomic(path, json.dumps(doc, indent=1))

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


def _insert(db: sqlite3.Connection, person: int, vectors: np.ndarray, sources: Sequence[str]) -> None:
    now = _now()
    db.executemany("INSERT INTO descriptors (person, vector, source, created) VALUES (?, ?, ?, ?)",
                   [(person, v.astype("<f4").tobytes(), str(s), now) for v, s in zip(vectors, sources)])


# --- enrollment ------------------------------------------------------------------------


def still_faces(image: np.ndarray, detect=None) -> Faces:
    """Every face in a still ``(H, W, 3) uint8`` BGR image, with 478 landmarks each (frame pixels).

    Runs vcam's own detect stage (every region) and a fresh landmarks stage, so
    no tracking state carries over between photos. Pass a ``Detect`` to reuse it.
    """
    from vcam.pipeline.detect import Detect
    from vcam.pipeline.landmarks import Landmarks

    own = detect is None
    detect = detect or Detect()
    try:
        boxes = detect.find(image)
    finally:
        if own:
            detect.close()
    if len(boxes) == 0:
        return boxes
    landmarks = Landmarks(workers=1)
    try:
        return landmarks(Frame(image, 0, 0.0), boxes.replace(track_id=np.arange(1, len(boxes) + 1)))
    finally:
        landmarks.close()


AUGMENTATIONS = ("flip", "light", "rotate", "blur", "scale")


@dataclass(frozen=True)
class Augment:
    """How many augmented variants each enrolled face adds, and of which kinds.

    Applied to the aligned 150×150 chip, not the photo: it is cheaper (no new
    detection) and rotation and scale about the chip centre are exactly the
    alignment jitter a live chip shows. Variant ``i`` uses kind ``kinds[i %
    len(kinds)]`` with parameters drawn from a generator seeded by ``seed``, so
    enrollment is repeatable. Each variant is one more descriptor, with a source
    such as ``"me.jpg #rotate(-6.2deg)"``.

    Attributes:
        count: variants per image; 0 turns augmentation off.
        kinds: from ``flip`` (mirror), ``light`` (brightness ± ``brightness`` of
            full scale and contrast × 1 ± ``contrast``), ``rotate`` (± ``rotation``
            degrees), ``blur`` (Gaussian, sigma up to ``blur``), ``scale`` (zoom in ``scale``).
        More variants cover more conditions and also pull a person's descriptors
        apart; big ranges make variants that look like nobody.
    """

    count: int = 5
    kinds: tuple[str, ...] = AUGMENTATIONS
    brightness: float = 0.15
    contrast: float = 0.25
    rotation: float = 10.0
    blur: float = 1.5
    scale: tuple[float, float] = (0.8, 1.2)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(AUGMENTATIONS)
        if self.count < 0 or unknown or (self.count and not self.kinds):
            raise ValueError(f"Augment needs count >= 0 and kinds from {AUGMENTATIONS}; got count={self.count}, "
                             f"kinds={self.kinds}")

    def variants(self, chip: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """``[(label, chip)]``: ``count`` augmented copies of a ``(150, 150, 3) uint8`` chip."""
        rng = np.random.default_rng(self.seed)
        return [self._one(self.kinds[i % len(self.kinds)], chip, rng) for i in range(self.count)]

    def _one(self, kind: str, chip: np.ndarray, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        size = chip.shape[1], chip.shape[0]
        centre = (size[0] / 2.0, size[1] / 2.0)
        if kind == "flip":
            return "flip", np.ascontiguousarray(chip[:, ::-1])
        if kind == "light":
            b, c = rng.uniform(-self.brightness, self.brightness), rng.uniform(1 - self.contrast, 1 + self.contrast)
            out = (chip.astype(np.float32) - 128.0) * c + 128.0 + 255.0 * b
            return f"light(b{b:+.2f},c{c:.2f})", np.clip(out, 0, 255).astype(np.uint8)
        if kind == "blur":
            sigma = rng.uniform(0.5, max(self.blur, 0.5))
            return f"blur({sigma:.1f})", cv2.GaussianBlur(chip, (0, 0), sigma)
        angle = rng.uniform(-self.rotation, self.rotation) if kind == "rotate" else 0.0
        zoom = rng.uniform(*self.scale) if kind == "scale" else 1.0
        m = cv2.getRotationMatrix2D(centre, angle, zoom)
        out = cv2.warpAffine(chip, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return (f"rotate({angle:+.1f}deg)" if kind == "rotate" else f"scale({zoom:.2f})"), out


NO_AUGMENT = Augment(count=0)


def _read_image(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as err:
        raise GalleryError(f"cannot read {path}: {err.strerror}; check the path") from err
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise GalleryError(f"cannot read {path} as an image; use a JPEG or PNG photo")
    return image


def _one_face(faces: Faces, what: str) -> np.ndarray:
    """The ``(478, 3)`` landmarks of the only face, or GalleryError naming ``what``."""
    if len(faces) == 0:
        raise GalleryError(f"no face found in {what}; use a photo where the face is clearly visible")
    if len(faces) > 1:
        raise GalleryError(f"{len(faces)} faces in {what}; crop it to the one person")
    return faces.landmarks[0]


def _describe(descriptor, chips: list[np.ndarray]) -> np.ndarray:
    if descriptor is None:
        from vcam.pipeline.descriptor import Descriptor

        descriptor = Descriptor()
    return np.asarray(descriptor(np.stack(chips)), np.float32).reshape(len(chips), DESCRIPTOR_SIZE)


def _chips_of(image: np.ndarray, landmarks: np.ndarray, label: str, augment: Augment | None
              ) -> tuple[list[np.ndarray], list[str]]:
    from vcam.pipeline.descriptor import face_chip

    chip = face_chip(image, landmarks)
    variants = (augment or NO_AUGMENT).variants(chip)
    return [chip, *(c for _, c in variants)], [label, *(f"{label} #{name}" for name, _ in variants)]


def enroll_images(paths: Iterable[str | Path], descriptor: Callable[[np.ndarray], np.ndarray] | None = None,
                  detect_landmarks: Callable[[np.ndarray], Faces] = still_faces,
                  augment: Augment | None = Augment()) -> tuple[np.ndarray, list[str]]:
    """Descriptors of the one face in each photo, plus its augmented variants.

    Args:
        paths: photos, each holding exactly one face.
        descriptor: chips ``(B, 150, 150, 3)`` → ``(B, 128)``; default an in-process
            :class:`vcam.pipeline.descriptor.Descriptor`.
        detect_landmarks: image → Faces with landmarks; default :func:`still_faces`.
        augment: variants per photo; None or ``Augment(count=0)`` for none.

    Returns ``((M, 128) float32, M source strings)``, M = photos × (1 + count).
    Raises GalleryError naming the file for an unreadable photo, one without a
    face, or one with several.
    """
    chips, sources = [], []
    for path in map(Path, paths):
        image = _read_image(path)
        more, labels = _chips_of(image, _one_face(detect_landmarks(image), str(path)), str(path), augment)
        chips += more
        sources += labels
    if not chips:
        raise GalleryError("no photos given; name at least one image file")
    return _describe(descriptor, chips), sources


def enroll_from_frames(frames: Iterable[Frame], n: int, descriptor: Callable[[np.ndarray], np.ndarray] | None = None,
                       detect_landmarks: Callable[[np.ndarray], Faces] = still_faces,
                       augment: Augment | None = None, *, every: int = 5,
                       limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Descriptors from ``n`` frames that show exactly one face (``vcam enroll NAME --from SRC --frames N``).

    Args:
        frames: e.g. an open source.
        n: frames to collect.
        every: look at every ``every``-th frame only, so the frames differ a little.
        limit: frames looked at before giving up (default ``20 × n``).
        augment: variants per collected frame (default none: live frames vary already).

    Frames with no face or with several are skipped and counted. Raises
    GalleryError when fewer than ``n`` good frames came within ``limit``.
    """
    if n < 1 or every < 1:
        raise GalleryError(f"need --frames >= 1 (got {n}) and every >= 1 (got {every})")
    limit = limit or 20 * n
    chips, sources, looked, got, skipped = [], [], 0, 0, {"none": 0, "several": 0}
    for i, frame in enumerate(frames):
        if got >= n or looked >= limit:
            break
        if i % every:
            continue
        looked += 1
        faces = detect_landmarks(frame.image)
        if len(faces) != 1:
            skipped["none" if len(faces) == 0 else "several"] += 1
            continue
        label = f"{frame.source or 'frames'} frame {frame.index}"
        more, labels = _chips_of(frame.image, faces.landmarks[0], label, augment)
        chips, sources, got = chips + more, sources + labels, got + 1
    if got < n:
        raise GalleryError(f"got {got} of {n} frames with exactly one face in {looked} frames looked at "
                           f"({skipped['none']} had no face, {skipped['several']} had several); make sure only the "
                           "person to enroll is in view, facing the camera, and try again")
    log.info("enrollment: %d frames used, %d without a face, %d with several", got, *skipped.values())
    return _describe(descriptor, chips), sources


# --- the demo's own people ---------------------------------------------------------------


def people_for(source: str, gallery: str | Path | None = None) -> dict[str, np.ndarray]:
    """Who identity may name on ``source`` (a source spec): the demo's own portraits on the demo source (the
    user's gallery is never used there), else the people enrolled in ``gallery`` (None: the user's)."""
    if source.startswith("demo"):
        log.info("identity on the demo source: naming the demo's portraits (your gallery is not used)")
        return demo_people()
    with Gallery(gallery) as g:
        people = g.people()
    if not people:
        log.warning("identity is on but nobody is enrolled: everyone shows as unknown; add people with 'vcam enroll'")
    return people


def demo_people(cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """The demo gallery's participants, enrolled from the portraits shipped with vcam.

    This is what identity names on the ``demo`` source, so the demo shows names
    without touching the user's own gallery. One descriptor per portrait (the
    demo moves, tilts and turns them, so matching is still real work), computed
    in one batch (~0.1 s) and cached in the user's cache dir keyed by the
    portraits' bytes.

    Returns name -> ``(1, 128) float32``.
    """
    from vcam.sources.demo import load_portraits

    portraits = load_portraits()
    key = hashlib.sha256(b"".join(cv2.imencode(".png", image)[1].tobytes() for _, image in portraits)).hexdigest()[:16]
    cache = Path(cache_dir or platformdirs.user_cache_dir("vcam")) / f"demo-people-{key}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            return {name: stored[name] for name in stored.files}
    people = _describe_portraits(portraits)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **people)
    return people


def _describe_portraits(portraits: list[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    from vcam.pipeline.descriptor import Descriptor, face_chip

    chips = [face_chip(image, _one_face(still_faces(image), name)) for name, image in portraits]
    vectors = Descriptor()(np.stack(chips))
    return {name: vectors[i:i + 1].astype(np.float32) for i, (name, _) in enumerate(portraits)}
