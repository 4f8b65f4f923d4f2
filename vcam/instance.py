"""One vcam per user: a second launch tells the running one to show itself, then exits.

Two processes must never fight over the camera. The first launch :func:`claim` s
the instance; a later launch finds it taken, sends it ``"show"`` and gets
:class:`~vcam.errors.AlreadyRunningError`, whose message is all the user needs.
:func:`deliver` tells a running instance something (``"show"``, ``"quit"``, ``"calibrate-gaze"``,
``"forget-gaze"``) and says whether it
was delivered, or the instance is busy (it runs but did not answer in time), or none runs;
:func:`send` is its yes/no.

The files, all in :func:`runtime_dir` (0700, private to the user)::

    vcam.lock   an OS file lock held for the life of the instance (fcntl.flock on POSIX,
                msvcrt.locking on Windows). The kernel drops it when the process dies,
                so a crash, even kill -9, never blocks the next launch. The lock alone
                decides who owns the instance; the file itself is never removed (removing
                a lock file lets two processes lock two different files).
    vcam.sock   POSIX: the Unix socket the instance listens on, mode 0600 (only this user
                can connect). A stale one left by a killed owner is removed by the next.
    vcam.addr   JSON ``{"pid", "transport", "address", "token"}``, mode 0600: how to reach
                the instance. On Windows the address is a 127.0.0.1 TCP port, which any
                local user could connect to, so a message must carry the random token,
                which only this user can read.

The wire: the client sends one line ``b"<token> <message>\\n"``; the instance answers
``b"ok <pid>\\n"`` for a message it knows, ``b"ignored <pid>\\n"`` for one it does not,
and closes without a word on a wrong token. After ``ok`` the client confirms with
``b"go\\n"``, and only then does the instance act. A client that gave up waiting (a busy
instance reads its line late, when the client has closed) never confirms, so a message
is acted on only when its sender was told so: ``vcam quit`` never says "not delivered"
about a vcam that then quits. Reads are bounded in size (``MAX_LINE``) and time
(``READ_TIMEOUT``, ``CONFIRM_TIMEOUT``): a silent or garbage client costs the instance at
most those seconds and never stops it.

The lock and the runtime folder are :mod:`vcam.instance_lock`; the sockets, the address file and reading a
line are :mod:`vcam.instance_channel`. This module is the protocol: claiming, answering and sending.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vcam.errors import AlreadyRunningError, ConfigError
from vcam.files import write_text_atomic
from vcam.instance_channel import connect, default_transport, listen, read_addr, read_line
from vcam.instance_lock import RUNTIME_ENV, FileLock, is_held, runtime_dir

log = logging.getLogger(__name__)

MESSAGES = ("show", "quit", "calibrate-gaze", "forget-gaze")
"""Messages an instance hands to its ``on_message`` by default; others are ignored."""
MAX_MESSAGE = 128
"""Longest message :func:`send` accepts (printable ASCII characters)."""
READ_TIMEOUT = 0.5
"""Seconds the instance waits for a client's line. Longer tolerates a very slow
client; shorter limits how long a silent one delays the next (clients queue)."""
CONFIRM_TIMEOUT = 2.0
"""Seconds the instance waits for the sender's ``go`` after answering ``ok``. The sender confirms at once;
longer tolerates a sender paused by a loaded machine, shorter limits how long a silent one delays the next."""
GO = b"go"
"""The sender's confirmation: it got the answer and still wants the message acted on."""
ACCEPT_POLL = 0.2
"""Seconds between checks for :meth:`Instance.close` while waiting for clients."""
RETRY_S = 0.05
"""Pause between attempts while the other instance is starting or stopping."""
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


# -- the instance ------------------------------------------------------------------------
class Instance:
    """The one running vcam: holds the lock and answers other launches on a background thread.

    Made by :func:`claim`. ``on_message(text)`` runs on the thread ``vcam-instance`` for
    every known message, after the sender got its answer and confirmed it; it should be
    quick (hand the work to the GUI/main thread). An exception in it is logged, never fatal.
    While it runs, other launches are not answered (they report the instance busy).
    """

    def __init__(self, name: str, folder: Path, lock: FileLock, server: socket.socket, addr: dict,
                 on_message: Callable[[str], None], messages: Iterable[str]) -> None:
        self.name, self.folder, self.pid = name, folder, os.getpid()
        self.transport: str = addr["transport"]
        self.address: str = addr["address"]
        self._lock, self._server, self._token = lock, server, str(addr["token"]).encode("ascii")
        self._on_message, self._messages = on_message, frozenset(messages)
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="vcam-instance", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop answering, remove the socket and address files, release the lock (idempotent;
        may be called from ``on_message``)."""
        with self._close_lock:
            if self._closed.is_set():
                return
            self._closed.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=ACCEPT_POLL + READ_TIMEOUT + 1.0)
        self._server.close()
        if self.transport == "unix":
            Path(self.address).unlink(missing_ok=True)
        (self.folder / f"{self.name}.addr").unlink(missing_ok=True)  # still ours: the lock is held until here
        self._lock.release()
        log.debug("instance %s released", self.name)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        self._server.settimeout(ACCEPT_POLL)
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError as err:
                if not self._closed.is_set():
                    log.warning("instance socket failed (%s); a second launch can no longer reach this vcam", err)
                return
            with conn:
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        """Read one line, check the token, answer; hand a known message on once its sender confirms."""
        message = self._read_message(conn)
        if message is None:
            return
        known = message in self._messages
        answered = _reply(conn, f"{'ok' if known else 'ignored'} {self.pid}")
        if not known:
            log.debug("ignored unknown message %r", message[:40])
            return
        if not answered or read_line(conn, CONFIRM_TIMEOUT) != GO:
            log.info("another launch said %r but gave up before this vcam answered: not acted on", message)
            return
        log.info("another launch says %r", message)
        try:
            self._on_message(message)
        except Exception:  # noqa: BLE001 - the instance must keep answering
            log.exception("handling the message %r failed", message)

    def _read_message(self, conn: socket.socket) -> str | None:
        """The message of a client with the right token, or None (logged) for any other."""
        line = read_line(conn, READ_TIMEOUT)
        if line is None:
            log.debug("a client sent no complete line in %.1f s; dropped", READ_TIMEOUT)
            return None
        token, _, raw = line.partition(b" ")
        if not hmac.compare_digest(token, self._token):
            log.debug("a client sent a wrong token; dropped")
            return None
        return raw.decode("ascii", errors="replace")


def _reply(conn: socket.socket, text: str) -> bool:
    """Send one line; False when the other side has gone."""
    try:
        conn.sendall(f"{text}\n".encode("ascii"))
    except OSError:
        return False
    return True


def claim(on_message: Callable[[str], None], name: str = "vcam", *, messages: Iterable[str] = MESSAGES,
          timeout: float = 2.0, transport: str | None = None) -> Instance:
    """Become the one running instance called ``name``, or tell the running one to show itself.

    Args:
        on_message: called on a background thread with each known message from another launch.
        name: instance name (letters, digits, ``_``, ``-``); the files are ``NAME.lock`` etc.
        messages: messages handed to ``on_message``; any other is ignored (debug log).
        timeout: seconds to keep trying to reach the running instance (it may be starting).
        transport: ``unix`` or ``tcp``; None picks the platform's (``tcp`` on Windows). Tests
            use ``tcp`` on Linux to run the Windows wire.

    Raises:
        AlreadyRunningError: another instance runs; it was sent ``"show"`` (the message says
            whether it answered, its pid, and how to quit it).
        ConfigError: bad ``name``, or the runtime folder cannot be used.
    """
    _check_name(name)
    folder = runtime_dir()
    deadline = time.monotonic() + timeout
    while True:
        lock = _take_lock(folder / f"{name}.lock")
        if lock is not None:
            return _become(lock, folder, name, on_message, messages, transport or default_transport())
        pid = _ask(folder, name, "show", max(0.1, deadline - time.monotonic()))
        if pid is not None:
            raise AlreadyRunningError(already_running_message(pid, answered=True))
        if time.monotonic() >= deadline:
            addr = read_addr(folder / f"{name}.addr") or {}
            raise AlreadyRunningError(already_running_message(addr.get("pid"), answered=False, timeout=timeout))
        time.sleep(RETRY_S)


def _take_lock(path: Path) -> FileLock | None:
    """The instance lock, None when held elsewhere; ConfigError when the file cannot be opened."""
    try:
        return FileLock.try_acquire(path)
    except OSError as err:
        raise ConfigError(f"cannot open vcam's lock file {path}: {err.strerror}; "
                          f"set {RUNTIME_ENV} to a private folder of your own") from err


def _become(lock: FileLock, folder: Path, name: str, on_message: Callable[[str], None],
            messages: Iterable[str], transport: str) -> Instance:
    """With the lock held: listen, publish the address, start answering."""
    server = None
    try:
        server, address = listen(transport, folder / f"{name}.sock")
        addr = {"pid": os.getpid(), "transport": transport, "address": address, "token": secrets.token_hex(16)}
        write_text_atomic(folder / f"{name}.addr", json.dumps(addr))  # 0600
    except BaseException as err:
        if server is not None:
            server.close()
        lock.release()
        if isinstance(err, OSError):
            raise ConfigError(f"vcam cannot listen for other launches in {folder}: {err}; "
                              f"set {RUNTIME_ENV} to a private folder of your own") from err
        raise
    log.debug("instance %s: pid %d, %s %s", name, addr["pid"], transport, address)
    return Instance(name, folder, lock, server, addr, on_message, messages)


@dataclass(frozen=True)
class Delivery:
    """What became of a message to the running instance.

    Attributes:
        state: ``"delivered"`` (it answered; a known message is acted on), ``"busy"`` (an instance holds
            the lock but did not answer in time: the message was withdrawn and is never acted on) or
            ``"absent"`` (none runs).
        pid: the instance's process id, when known.
    """

    state: str
    pid: int | None = None


def deliver(message: str, name: str = "vcam", timeout: float = 2.0) -> Delivery:
    """Tell the running instance ``message`` (e.g. ``"show"``, ``"quit"``), waiting up to ``timeout`` seconds.

    It answers a message it does not know too (and ignores it). A message it did not answer in time is
    withdrawn: the instance drops it when it gets to it. Raises ConfigError for a message that is empty,
    too long or not printable ASCII.
    """
    _check_name(name)
    _check_message(message)
    folder = runtime_dir()
    deadline = time.monotonic() + timeout
    while is_held(folder / f"{name}.lock"):  # fast "absent" when none runs; retries while it starts
        pid = _ask(folder, name, message, max(0.1, deadline - time.monotonic()))
        if pid is not None:
            return Delivery("delivered", pid)
        if time.monotonic() >= deadline:
            pid = (read_addr(folder / f"{name}.addr") or {}).get("pid")
            return Delivery("busy", pid if isinstance(pid, int) else None)
        time.sleep(RETRY_S)
    return Delivery("absent")


def send(message: str, name: str = "vcam", timeout: float = 2.0) -> bool:
    """Whether :func:`deliver` delivered ``message``: False when none runs or it did not answer in time."""
    return deliver(message, name, timeout).state == "delivered"


def _ask(folder: Path, name: str, message: str, timeout: float) -> int | None:
    """Deliver ``message`` once, confirming an ``ok``; the instance's pid if it answered in time, else None."""
    addr = read_addr(folder / f"{name}.addr")
    if addr is None:
        return None
    try:
        with connect(addr, timeout) as conn:
            conn.sendall(f"{addr['token']} {message}\n".encode("ascii"))
            parts = (read_line(conn, timeout) or b"").split()
            if len(parts) != 2 or parts[0] not in (b"ok", b"ignored") or not parts[1].isdigit():
                return None  # closing unconfirmed withdraws the message
            if parts[0] == b"ok":
                conn.sendall(GO + b"\n")
    except (OSError, ValueError):
        return None
    return int(parts[1])


def already_running_message(pid: object, *, answered: bool, timeout: float = 2.0) -> str:
    """What a second launch tells the user (``pid`` None when unknown)."""
    who = f"pid {pid}" if pid is not None else "pid unknown"
    if pid is None:
        stop = "find it in your task manager"
    else:
        stop = f"taskkill /PID {pid}" if os.name == "nt" else f"kill {pid}"
    if answered:
        return (f"vcam is already running ({who}); its tray icon and dashboard were brought up, use that one. "
                f"To quit it: 'vcam quit', or Quit in its tray menu (or end it: {stop}).")
    return (f"vcam is already running ({who}) but did not answer within {timeout:g} s, so it could not be "
            f"brought up. If it hangs, end it ({stop}) and start vcam again.")


def busy_message(pid: int | None, message: str, timeout: float) -> str:
    """What ``vcam <message>`` tells the user when the running vcam did not answer in time."""
    who = f"pid {pid}" if pid is not None else "pid unknown"
    if pid is None:
        end = "find it in your task manager"
    else:
        end = f"taskkill /PID {pid}" if os.name == "nt" else f"kill {pid}"
    return (f"vcam is running ({who}) but did not answer within {timeout:g} s (it may be busy starting or "
            f"stopping), so it was not told to {message}. Try again in a moment; if it hangs, end it ({end}).")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"instance name must be 1-32 letters, digits, '_' or '-', got {name!r}")


def _check_message(message: str) -> None:
    ok = (isinstance(message, str) and 0 < len(message) <= MAX_MESSAGE and message.isascii()
          and message.isprintable() and message.strip() == message)
    if not ok:
        raise ConfigError(f"an instance message must be 1-{MAX_MESSAGE} printable ASCII characters without "
                          f"surrounding spaces, e.g. 'show' or 'quit'; got {message!r}")
