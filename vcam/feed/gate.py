"""Connections whose request is not read yet: bounded in number, in bytes and (by the server) in time.

Before its request is read, a connection has shown nothing, not even a token, so what it may cost is
bounded here, on websockets' own extension point (``serve(create_connection=...)``):

- **number**: at most ``limit`` connections may be opening at once (:class:`Gate`); one more is answered
  503 and closed at once. A connection leaves the gate when its request has been read (then the token
  and Origin checks of :mod:`vcam.feed.routes` decide) or when it closes.
- **bytes**: the request line and headers may take ``max_head`` bytes in all (nginx allows about 32 KiB);
  past that the answer is 431 and the connection is closed, and the rest is never buffered.
  websockets' own limits (8 KiB a line, 128 headers, so about 1 MiB) are process-wide settings read
  from the environment at import, so they are not used for this.
- **time**: the server's ``open_timeout`` ends a request that is still incomplete (see
  :mod:`vcam.feed.server`).

A request that cannot be parsed (a garbage request line, a malformed header) is answered 400 before
websockets closes it; websockets alone would close it without a word. So the memory a flood of
unfinished requests holds is at most about ``limit * max_head`` (2 MiB by default), and it is freed
when they go.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidMessage

from vcam.errors import ConfigError

log = logging.getLogger(__name__)

MAX_HEAD = 32 * 1024
"""Bytes a request line and its headers may take. A browser's request is 0.5-2 KiB (more with many cookies
for 127.0.0.1); larger tolerates bigger cookies, smaller bounds memory before the token is seen."""
MAX_OPENING = 64
"""Connections whose request is not read yet, at once. A dashboard opens a few (browsers open spare
ones); larger tolerates more tabs opening together, smaller bounds what unauthenticated clients hold."""

_BAD_BODY = b"this is not a valid HTTP request\n"
_BAD_REQUEST = (b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(_BAD_BODY), _BAD_BODY))


class Gate:
    """How many connections of one server are opening now; used on the server's loop thread only.

    Args:
        limit: connections that may be opening at once (see :data:`MAX_OPENING`).
        max_head: bytes a request line and headers may take (see :data:`MAX_HEAD`).
    """

    def __init__(self, limit: int = MAX_OPENING, max_head: int = MAX_HEAD) -> None:
        if limit < 1 or max_head < 1024:
            raise ConfigError(f"feed max_opening must be >= 1 and max_head >= 1024 bytes, got {limit!r} and "
                              f"{max_head!r}")
        self.limit, self.max_head = limit, max_head
        self.opening = 0
        self.refused = 0  # connections answered 503 or 431 so far

    def enter(self) -> bool:
        """Count one more opening connection; False (not counted) when ``limit`` are opening already."""
        if self.opening >= self.limit:
            level = logging.WARNING if self.refused == 0 else logging.DEBUG  # once per server, then quietly
            log.log(level, "%d connections are opening at once without a request: refusing more until some "
                    "finish (a flood, or a client that opens connections and sends nothing)", self.limit)
            self.refused += 1
            return False
        self.opening += 1
        return True

    def leave(self) -> None:
        """One opening connection was read or closed."""
        self.opening -= 1


class GatedConnection(ServerConnection):
    """websockets' server connection, held to its :class:`Gate` until its request is read.

    Made by ``serve(create_connection=functools.partial(GatedConnection, gate=gate))``.
    """

    def __init__(self, *args: object, gate: Gate, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self._inside = False  # counted by the gate
        self._refused = False
        self._head = 0  # bytes received before the request was read
        self._answered_bad = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._inside = self.gate.enter()
        if not self._inside:
            self._refuse(503, "too many connections are opening at once; try again in a moment\n")
            self.transport.close()  # at once: it was never counted

    def data_received(self, data: bytes) -> None:
        if self.request is None and not self._refused and self.protocol.handshake_exc is None:  # still reading it
            self._head += len(data)
            if self._head > self.gate.max_head:
                self.gate.refused += 1
                log.debug("refused a request with headers over %d bytes", self.gate.max_head)
                self._refuse(431, f"the request's headers exceed {self.gate.max_head} bytes\n")
        super().data_received(data)  # after a refusal, websockets discards what comes until the client closes
        if self.request is not None:
            self._leave()

    def send_data(self) -> None:
        """websockets' writer (``Connection.send_data``, pinned websockets 17): a request it could not parse
        is answered 400 before the half-close websockets alone would send without a word."""
        if self._unparsable() and not self._answered_bad:
            self._answered_bad = True
            log.debug("a connection sent a request that is not valid HTTP: %s", self.protocol.handshake_exc.__cause__)
            self.transport.write(_BAD_REQUEST)
        super().send_data()

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave()
        super().connection_lost(exc)

    def _unparsable(self) -> bool:
        """Whether websockets gave up on the request as malformed (not because the client left mid-way)."""
        failed = self.protocol.handshake_exc
        return (self.request is None and isinstance(failed, InvalidMessage)
                and not isinstance(failed.__cause__, EOFError))

    def _refuse(self, status: int, text: str) -> None:
        """Answer ``status`` and half-close; websockets then discards whatever the client still sends.

        The connection stays counted by the gate until it closes (or ``open_timeout`` ends it): closing
        with unread data would reset it, and the client might never read the answer.
        """
        self._refused = True
        self.protocol.send_response(self.protocol.reject(status, text))
        self.send_data()

    def _leave(self) -> None:
        if self._inside:
            self._inside = False
            self.gate.leave()
