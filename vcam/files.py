"""Writing files that are vcam's alone: created new, private, never through a link, replaced only whole.

Every file vcam writes goes through here:

- :func:`create_private` makes a new file with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600, so
  nothing already there, least of all a symbolic link someone planted, is ever opened for writing;
- :func:`write_bytes_atomic` (and :func:`write_text_atomic`) replaces a file through such a new
  temporary file, fsync and a rename, and only when what is there is a regular file (a link, device,
  FIFO or folder is refused: rename would replace it, and ``/dev/full`` as root would become a plain file);
- :func:`make_private` tightens an existing file to 0600 on its own descriptor, only when it is a
  regular file this user owns, so a link's target never changes mode.

What is refused raises :class:`~vcam.errors.UnsafePathError`: the path, what is there, and what to do.
:func:`sha256_file` is the one way vcam hashes a file it reads (a model, a recording).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import TextIO

from vcam.errors import UnsafePathError

PRIVATE = 0o600
"""The mode of every file vcam writes: read and written by this user only."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # absent on Windows, where links need privileges to make
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISREG, "a regular file"))


def describe(path: str | Path) -> str:
    """What is at ``path`` without following a link: "nothing", "a regular file", "a symbolic link to X", ..."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "nothing"
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"{kind} to {os.readlink(path)}" if stat.S_ISLNK(mode) else kind


def create_private(path: str | Path, *, append: bool = False) -> int:
    """Create ``path`` as a new file with mode 0600 and return its descriptor, open for writing.

    Opened with ``O_CREAT | O_EXCL | O_NOFOLLOW``: whatever is already at ``path`` (a file, a link,
    even a dangling one) is refused with :class:`UnsafePathError`, never opened or followed. Other
    failures (no such folder, no permission, disk full) raise OSError.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | (os.O_APPEND if append else 0)
    try:
        fd = os.open(path, flags, PRIVATE)
    except FileExistsError as err:
        raise UnsafePathError(f"refusing to create {path}: {describe(path)} is already there, and vcam writes "
                              "only files it creates itself; move it away and try again") from err
    if hasattr(os, "fchmod"):
        os.fchmod(fd, PRIVATE)  # the umask may have taken bits away; 0600 exactly
    return fd


def open_private_text(path: str | Path, *, append: bool = False) -> TextIO:
    """:func:`create_private` as a UTF-8 text file object (newlines written as given)."""
    return open(create_private(path, append=append), "a" if append else "w", encoding="utf-8", newline="")


def check_replaceable(path: str | Path, *, advice: str = "choose another path") -> None:
    """Raise :class:`UnsafePathError` unless ``path`` is missing or a regular file (checked without following)."""
    found = describe(path)
    if found not in ("nothing", "a regular file"):
        raise UnsafePathError(f"refusing to write {path}: it is {found}, and vcam replaces only regular files; "
                              f"{advice}")


def write_text_atomic(path: str | Path, text: str, *, advice: str = "choose another path") -> None:
    """Replace ``path`` with ``text`` (UTF-8): :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"), advice=advice)


def write_bytes_atomic(path: str | Path, data: bytes, *, advice: str = "choose another path") -> None:
    """Replace ``path`` with ``data`` through a new 0600 temporary file in the same folder, fsync and a rename.

    Creates missing parent folders. ``path`` must be missing or a regular file: anything else raises
    :class:`UnsafePathError`, whose message ends with ``advice``. Raises OSError when the folder or
    disk refuses; the temporary file is removed on any failure.
    """
    path = Path(path)
    check_replaceable(path, advice=advice)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(create_private(tmp), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check_replaceable(path, advice=advice)  # again, just before the rename
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_private(path: str | Path) -> bool:
    """Set an existing regular file this user owns to 0600; True when its mode had to change.

    Opened with ``O_NOFOLLOW | O_NONBLOCK`` and changed through that descriptor, so a link's
    target never changes mode and a FIFO never blocks. Anything else raises :class:`UnsafePathError`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC)
    except OSError as err:
        found = describe(path)
        why = "" if found.startswith("a symbolic link") else f" ({err.strerror or err})"
        raise UnsafePathError(f"refusing to use {path}: it is {found}, not a regular file of yours{why}; "
                              "move it away and try again") from err
    try:
        return _tighten(fd, path)
    finally:
        os.close(fd)


def _tighten(fd: int, path: str | Path) -> bool:
    info = os.fstat(fd)
    owner = os.geteuid() if hasattr(os, "geteuid") else info.st_uid
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(f"refusing to use {path}: it is {describe(path)}, not a regular file; "
                              "move it away and try again")
    if info.st_uid != owner:
        raise UnsafePathError(f"refusing to use {path}: it belongs to user id {info.st_uid}, not to you "
                              f"({owner}); use a file of your own")
    if os.name == "nt" or stat.S_IMODE(info.st_mode) == PRIVATE:
        return False
    os.fchmod(fd, PRIVATE)
    return True


HASH_CHUNK = 1 << 20
"""Bytes read at a time by :func:`sha256_file` (1 MiB): memory stays flat for any size."""


def sha256_file(path: str | Path) -> str:
    """The sha256 of the file at ``path`` as hex, read :data:`HASH_CHUNK` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
