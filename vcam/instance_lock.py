"""Who owns the one running vcam: a private runtime folder, and an OS file lock in it.

The lock (``vcam.lock`` in :func:`runtime_dir`) is ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on
Windows, held for the life of the instance. The kernel drops it when the process dies, so a crash, even
kill -9, never blocks the next launch. The lock alone decides who owns the instance; the file itself is
never removed (removing a lock file lets two processes lock two different files). :mod:`vcam.instance`
takes it; this module only knows files and locks, not sockets or messages.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from vcam.errors import ConfigError

RUNTIME_ENV = "VCAM_RUNTIME_DIR"
"""Environment variable that moves the runtime folder (tests use one folder each)."""


def runtime_dir() -> Path:
    """The folder for the lock, socket and address files, created 0700 if missing.

    ``$VCAM_RUNTIME_DIR`` if set, else platformdirs' user runtime dir for ``vcam``
    (``$XDG_RUNTIME_DIR/vcam`` on Linux). Raises ConfigError when it cannot be
    created, or (POSIX) belongs to another user or is writable by others: anyone
    who can write there could pose as the running vcam.
    """
    raw = os.environ.get(RUNTIME_ENV)
    if raw:
        path = Path(raw).expanduser()
    else:
        import platformdirs

        with warnings.catch_warnings():  # with no XDG_RUNTIME_DIR it warns and uses /tmp/runtime-UID: fine here
            warnings.simplefilter("ignore")
            path = Path(platformdirs.user_runtime_dir("vcam"))
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create vcam's runtime folder {path}: {err.strerror}; "
                          f"set {RUNTIME_ENV} to a folder of your own") from err
    _check_private(path)
    return path


def _check_private(path: Path) -> None:
    """ConfigError unless ``path`` is this user's and not writable by others (POSIX only)."""
    if os.name == "nt":
        return  # per-user profile folders; Windows ACLs are not modes
    st = path.stat()
    if st.st_uid != os.getuid():
        raise ConfigError(f"vcam's runtime folder {path} belongs to another user (uid {st.st_uid}, you are "
                          f"{os.getuid()}); set {RUNTIME_ENV} to a folder of your own")
    if st.st_mode & 0o022:
        raise ConfigError(f"vcam's runtime folder {path} is writable by other users (mode {st.st_mode & 0o777:o}); "
                          f"run 'chmod 700 {path}' or set {RUNTIME_ENV} to a private folder")


class FileLock:
    """An exclusive, non-blocking OS lock on one file; the kernel releases it if the process dies."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, path: Path) -> FileLock | None:
        """The lock on ``path`` (created 0600), or None when another holder has it."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        if _lock_fd(fd):
            return cls(fd)
        os.close(fd)
        return None

    def release(self) -> None:
        """Unlock and close (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock_fd(fd)
        finally:
            os.close(fd)


def _lock_fd(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when someone holds it."""
    try:
        if os.name == "nt":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # byte 0; locking past the end of the file is allowed
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError (POSIX), PermissionError / OSError EDEADLOCK (Windows)
        return False
    return True


def _unlock_fd(fd: int) -> None:
    if os.name == "nt":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def is_held(path: Path) -> bool:
    """Whether some process holds the lock on ``path`` now (probes by locking and unlocking)."""
    try:
        lock = FileLock.try_acquire(path)
    except OSError:
        return False
    if lock is None:
        return True
    lock.release()
    return False
