"""The feed server: a websockets 17 asyncio server on its own thread, WebSocket and HTTP on one port.

::

    analysis thread ── publish(event) ──call_soon_threadsafe──▶ feed thread (asyncio loop)
                                                                  │ fan-out: one bounded queue per client
                                                                  ▼
                                       client ◀── send loop ── [queue: queue_size snapshots + events]

HTTP requests (``/feed``'s token and ``Origin`` checks before the upgrade, ``/health``, the
dashboard's files) are answered by :mod:`vcam.feed.routes`, where the routes are listed. Until its
request is read, a connection is held by :mod:`vcam.feed.gate`: at most ``max_opening`` at once, a
request of at most ``max_head`` bytes, within ``OPEN_TIMEOUT`` seconds.

Each client gets the latest ``hello`` first, then the latest ``status`` (the
daemon's health), then the stream. Its queue holds ``queue_size`` snapshots;
past that the oldest ``audience`` snapshot is dropped, never a ``hello``,
``alert`` or ``status`` (a client with 64 of those waiting is not reading and is
closed with 1008; see :class:`~vcam.feed.clients.ClientQueue`).
``publish`` never blocks: it serialises the event once and hands it to the
loop. Incoming messages are ignored, but one that is not JSON text closes that
client with 1003, and one over ``max_message`` bytes with 1009. Nothing is
kept per event or per closed client.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from vcam.errors import ConfigError, VcamError
from vcam.feed.clients import Client, ClientQueue
from vcam.feed.gate import MAX_HEAD, MAX_OPENING, Gate, GatedConnection
from vcam.feed.routes import FEED_PATH, Routes

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
"""The dashboard's files (index.html and its assets)."""

KINDS = ("hello", "audience", "alert", "status")
T = TypeVar("T")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_json_text(message: str | bytes) -> bool:
    if not isinstance(message, str):
        return False
    try:
        json.loads(message)
    except (ValueError, RecursionError):
        return False
    return True


OPEN_TIMEOUT = 2.0
"""Seconds a connection may take to send its request (loopback clients take milliseconds).
Browsers open spare connections that never send one; stop() waits for them up to this long."""


class FeedServer:
    """The feed's WebSocket + HTTP server, on its own thread and event loop.

    Args:
        host: interface to bind. Loopback by default; anything else exposes the
            audience to the network (still behind the token) and logs a warning.
        port: TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        token: the secret clients must present; default ``secrets.token_urlsafe(24)``.
        allowed_origins: extra ``Origin`` values allowed on ``/feed``, e.g. ``"http://127.0.0.1:5173"``.
        static_dir: the dashboard's files; default ``vcam/feed/static/``.
        queue_size: audience snapshots held per client. Larger absorbs longer stalls and
            delivers staler snapshots; the oldest is dropped rather than queued beyond it.
        max_message: bytes allowed per incoming message; larger closes that client (1009).
        max_pending: events handed to the loop but not yet fanned out. Beyond it, ``publish``
            drops audience snapshots (never hello/alert), so a stuck loop cannot grow memory.
        close_timeout: seconds to wait for a client's closing handshake.
        max_opening: connections whose request is not read yet, at once; one more is answered 503.
            Larger tolerates more tabs opening together; smaller bounds what clients without a token hold.
        max_head: bytes a request line and headers may take (431 past it). Larger tolerates bigger
            cookies; smaller bounds the memory of unfinished requests (about ``max_opening * max_head``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 allowed_origins: Iterable[str] | None = None, static_dir: str | Path | None = None,
                 queue_size: int = 4, *, max_message: int = 4096, max_pending: int = 64,
                 close_timeout: float = 2.0, max_opening: int = MAX_OPENING, max_head: int = MAX_HEAD) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"feed port must be 0..65535 (0 picks a free one), got {port!r}")
        if queue_size < 1 or max_pending < 1:
            raise ConfigError(f"feed queue_size and max_pending must be >= 1, got {queue_size!r} and {max_pending!r}")
        if token is not None and not token.isascii():
            raise ConfigError("feed token must be ASCII; leave it unset for a random one")
        host = "127.0.0.1" if host == "localhost" else host  # one socket: localhost may resolve to two
        self.host, self.port, self.token = host, port, token or secrets.token_urlsafe(24)
        self.allowed_origins = frozenset(allowed_origins or ())
        self.static_dir = Path(static_dir) if static_dir is not None else STATIC_DIR
        self.queue_size, self.max_message, self.max_pending = queue_size, max_message, max_pending
        self.close_timeout = close_timeout
        self.gate = Gate(max_opening, max_head)  # loop thread only
        self.asset_secret = secrets.token_urlsafe(24)  # opens the dashboard's files, never /feed
        self.published = 0
        self.dropped = 0  # audience snapshots dropped at publish because the loop was behind
        self._clients: set[Client] = set()  # loop thread only
        self._lock = threading.Lock()
        self._hello: str | None = None
        self._status: str | None = None  # the latest of each, replayed to every new client
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle (any thread) --------------------------------------------------------
    def start(self) -> FeedServer:
        """Bind and serve on a new thread. Raises VcamError if the port cannot be bound."""
        if not _is_loopback(self.host):
            log.warning("the feed listens on %s, not loopback: other machines can reach it (the token is still "
                        "required)", self.host)
        self._thread = threading.Thread(target=self._run, name="vcam-feed", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None or self._loop is None:
            self._thread.join(timeout=5.0)
            raise VcamError(f"cannot serve the feed on {self.host}:{self.port}: {self._error}; "
                            "choose another port, or 0 for a free one")
        log.info("feed serving on http://%s:%d/", self._url_host, self.port)
        return self

    def stop(self) -> None:
        """Close every client and the server, and end the thread. Safe to call twice."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None and self._stopping is not None:
            try:
                loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # the loop already ended
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.close_timeout + 5.0)
        self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _url_host(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def url(self) -> str:
        """The dashboard's URL, with the token."""
        return f"http://{self._url_host}:{self.port}/?token={self.token}"

    @property
    def feed_url(self) -> str:
        """The WebSocket's URL, with the token."""
        return f"ws://{self._url_host}:{self.port}{FEED_PATH}?token={self.token}"

    # -- publishing (analysis thread) ------------------------------------------------
    def publish(self, event: dict) -> None:
        """Send ``event`` to every client. Thread-safe and never blocks; a no-op before start or after stop.

        Raises ValueError for an event without a known ``type`` or with NaN (JSON has none).
        """
        kind = event.get("type")
        if kind not in KINDS:
            raise ValueError(f"feed event type must be one of {', '.join(KINDS)}, got {kind!r}")
        text = json.dumps(event, separators=(",", ":"), allow_nan=False)
        with self._lock:
            self.published += 1
            if kind == "hello":
                self._hello = text
            elif kind == "status":
                self._status = text
            if self._loop is None:
                return
            if kind == "audience" and self._pending >= self.max_pending:
                self.dropped += 1
                return
            self._pending += 1
            loop = self._loop
        try:
            loop.call_soon_threadsafe(self._fanout, kind, text)
        except RuntimeError:  # the loop closed meanwhile
            with self._lock:
                self._pending -= 1

    def stats(self) -> dict[str, int]:
        """``clients`` (open feed clients), ``connections`` (websockets' own set), ``opening`` (connections
        whose request is not read yet), ``refused`` (answered 503 or 431 by the gate), ``published``, ``dropped``."""
        def collect() -> dict[str, int]:
            server = self._server
            return {"clients": len(self._clients), "connections": len(server.connections) if server else 0,
                    "opening": self.gate.opening, "refused": self.gate.refused,
                    "published": self.published, "dropped": self.dropped}
        return self._on_loop(collect) or {"clients": 0, "connections": 0, "opening": 0, "refused": self.gate.refused,
                                          "published": self.published, "dropped": self.dropped}

    def client_stats(self) -> list[dict[str, int]]:
        """Per open client: ``queued``, ``high_water`` (most ever queued) and ``dropped`` snapshots."""
        return self._on_loop(lambda: [{"queued": c.queue.queue.qsize(), "high_water": c.queue.high_water,
                                       "dropped": c.queue.dropped} for c in self._clients]) or []

    def _on_loop(self, fn: Callable[[], T]) -> T | None:
        """``fn()`` run on the feed thread (None when not running)."""
        async def call() -> T:
            return fn()
        loop = self._loop
        return asyncio.run_coroutine_threadsafe(call(), loop).result(5.0) if loop else None

    # -- the loop (feed thread) --------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # noqa: BLE001 - reported by start()
            self._error = err
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._process_request, max_size=self.max_message,
            compression=None, close_timeout=self.close_timeout, server_header=None,
            open_timeout=OPEN_TIMEOUT, create_connection=functools.partial(GatedConnection, gate=self.gate))
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            self._server.close()
            await self._server.wait_closed()
            log.info("feed stopped")

    def _fanout(self, kind: str, text: str) -> None:
        with self._lock:
            self._pending -= 1
        for client in list(self._clients):
            if not client.queue.offer(kind, text):
                log.info("feed client %s is not reading (its queue holds only hello/alerts): closing it", client.name)
                self._clients.discard(client)
                asyncio.ensure_future(client.ws.close(CloseCode.POLICY_VIOLATION, "too slow"))

    async def _handle(self, ws: ServerConnection) -> None:
        client = Client(ws, ClientQueue(self.queue_size))
        with self._lock:
            latest = (("hello", self._hello), ("status", self._status))
        for kind, text in latest:
            if text is not None:
                client.queue.offer(kind, text)
        self._clients.add(client)
        client.sender = asyncio.create_task(self._send_loop(client))
        log.debug("feed client %s connected (%d open)", client.name, len(self._clients))
        try:
            await self._read_loop(client)
        finally:
            self._clients.discard(client)
            client.sender.cancel()
            await asyncio.gather(client.sender, return_exceptions=True)
            log.debug("feed client %s left (%d open)", client.name, len(self._clients))

    @staticmethod
    async def _send_loop(client: Client) -> None:
        try:
            while True:
                _, text = await client.queue.get()
                await client.ws.send(text)
        except ConnectionClosed:
            pass

    async def _read_loop(self, client: Client) -> None:
        """Read and ignore messages; close this client on one that is not JSON text."""
        try:
            async for message in client.ws:
                if not _is_json_text(message):
                    log.info("feed client %s sent a message that is not JSON text: closing it", client.name)
                    await client.ws.close(CloseCode.UNSUPPORTED_DATA, "expected JSON text")
                    return
        except ConnectionClosed as closed:
            if closed.sent is not None and closed.sent.code == CloseCode.MESSAGE_TOO_BIG:
                log.info("feed client %s sent a message over %d bytes: closed it", client.name, self.max_message)

    # -- HTTP (feed thread) --------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' hook before any upgrade: :class:`~vcam.feed.routes.Routes` answers, with this moment's state."""
        routes = Routes(self.token, self.asset_secret, self.port, self._origins(), self.static_dir)
        return routes.answer(request, lambda: {"ok": True, "clients": len(self._clients), "published": self.published})

    def _origins(self) -> set[str]:
        own = {f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        if self.host not in ("", "0.0.0.0", "::"):
            own.add(f"http://{self._url_host}:{self.port}")
        return own | self.allowed_origins
