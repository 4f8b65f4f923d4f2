"""How another launch reaches the running vcam: a Unix socket on POSIX, loopback TCP with a token on Windows.

The channel is OS-specific; the rest of :mod:`vcam.instance` is not. ``unix`` listens on ``vcam.sock``,
mode 0600 (only this user can connect; a stale socket left by a killed owner is removed by the next).
``tcp`` listens on a 127.0.0.1 port, which any local user could connect to, so every message carries the
random token from the address file ``vcam.addr`` (JSON ``{"pid", "transport", "address", "token"}``,
mode 0600), which only this user can read. Lines are read bounded in size (``MAX_LINE``) and time.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from vcam.errors import ConfigError
from vcam.instance_lock import RUNTIME_ENV

MAX_LINE = 256
"""Longest line (bytes, token included) either side reads; a longer one is dropped."""
UNIX_PATH_MAX = 100
"""Longest Unix socket path accepted (the OS limit is 104 on macOS, 108 on Linux)."""


def default_transport() -> str:
    """``unix`` on POSIX (the socket's file mode is the access check), ``tcp`` on Windows."""
    return "tcp" if os.name == "nt" else "unix"


def listen(transport: str, sock_path: Path) -> tuple[socket.socket, str]:
    """A listening socket and its address (socket path, or TCP port as text)."""
    if transport == "unix":
        return _listen_unix(sock_path), str(sock_path)
    if transport == "tcp":
        server = _listen_tcp()
        return server, str(server.getsockname()[1])
    raise ConfigError(f"unknown instance transport {transport!r}: expected 'unix' or 'tcp'")


def _listen_unix(path: Path) -> socket.socket:
    if len(str(path)) > UNIX_PATH_MAX:
        raise ConfigError(f"the socket path {path} is {len(str(path))} characters, more than the {UNIX_PATH_MAX} "
                          f"Unix sockets allow; set {RUNTIME_ENV} to a shorter folder, e.g. /tmp/vcam-$USER")
    path.unlink(missing_ok=True)  # a killed owner's stale socket: we hold the lock, so it is nobody's now
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        os.chmod(path, 0o600)  # before listen(): until then every connect is refused, so nobody slips in
        server.listen(8)
    except BaseException:
        server.close()
        raise
    return server


def _listen_tcp() -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: no other process may bind over our port
            server.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(8)
    except BaseException:
        server.close()
        raise
    return server


def connect(addr: dict, timeout: float) -> socket.socket:
    """A socket connected to the instance at ``addr`` (OSError if none listens there)."""
    if addr.get("transport") == "unix":
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(timeout)
            conn.connect(str(addr["address"]))
        except BaseException:
            conn.close()
            raise
        return conn
    return socket.create_connection(("127.0.0.1", int(addr["address"])), timeout=timeout)


def read_line(conn: socket.socket, timeout: float, limit: int = MAX_LINE) -> bytes | None:
    """One ``\\n``-terminated line (without it) read within ``timeout`` s; None if longer than
    ``limit`` bytes, unterminated, late, or the connection failed."""
    deadline, data = time.monotonic() + timeout, b""
    while b"\n" not in data and len(data) <= limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            conn.settimeout(left)
            chunk = conn.recv(limit + 1 - len(data))
        except OSError:  # timeout, reset
            return None
        if not chunk:
            break
        data += chunk
    line, newline, _ = data.partition(b"\n")
    return line if newline and len(line) <= limit else None


def read_addr(path: Path) -> dict | None:
    """The address file's content, or None if it is missing or unreadable."""
    try:
        addr = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return addr if isinstance(addr, dict) and {"pid", "transport", "address", "token"} <= addr.keys() else None
