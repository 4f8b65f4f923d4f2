"""The feed server's HTTP side: which requests may open the WebSocket, ``/health``, and the dashboard's files.

Routes (all on ``host:port``, answered before any upgrade by websockets' ``process_request``
hook, :meth:`Routes.answer`):

- ``/feed?token=TOKEN``: the WebSocket. Refused with 401 before the upgrade
  without the right token, and with 403 for an ``Origin`` other than none
  (non-browser clients), ``http://127.0.0.1:PORT``, ``http://localhost:PORT``
  (the dashboard itself) or one of ``allowed_origins``: any web page the
  presenter opens could otherwise read the audience.
- ``/health``: ``{"ok": true, "clients": N, "published": N}``; no token, no audience data.
- ``/?token=TOKEN``: the dashboard, ``index.html`` from ``static_dir``. It sets an
  HttpOnly, SameSite=Strict cookie holding ``asset_secret``, a second random secret
  that opens the dashboard's own files (any other file in ``static_dir``) and
  nothing else: never ``/`` and never ``/feed``. Cookies ignore ports, so every
  other service on 127.0.0.1 the browser visits receives it; the token itself is
  never put in a cookie. The page reads the token from its own URL.
  Nothing outside ``static_dir`` is ever served (404), nor dotfiles, nor a path
  with a component over 255 bytes (no file system has such a name).

Every answer closes the connection and carries ``no-store``, ``nosniff``, no referrer and
``frame-ancestors 'none'``. The only I/O here is reading a file under ``static_dir``.
"""

from __future__ import annotations

import email.utils
import http
import json
import logging
import mimetypes
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

FEED_PATH = "/feed"
"""The WebSocket's path; every other path but ``/health`` is a file of the dashboard."""


def _response(status: int, body: bytes, content_type: str, extra: Iterable[tuple[str, str]] = ()) -> Response:
    status = http.HTTPStatus(status)
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)), ("Connection", "close"),
        ("Content-Length", str(len(body))), ("Content-Type", content_type), ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", "frame-ancestors 'none'"), *extra])
    return Response(status.value, status.phrase, headers, body)


def _text(status: int, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


@dataclass(frozen=True)
class Routes:
    """The HTTP answers of one feed server, made from what it knows at the moment of a request.

    Attributes:
        token: the secret a client must present as ``?token=`` on ``/feed`` and ``/``.
        asset_secret: the cookie's value, which opens the dashboard's other files only.
        port: the port the server is bound to; it names the cookie.
        origins: the ``Origin`` values allowed on ``/feed`` (the dashboard's own and ``allowed_origins``).
        static_dir: the dashboard's files; nothing outside it is served.
    """

    token: str
    asset_secret: str
    port: int
    origins: set[str]
    static_dir: Path

    def answer(self, request: Request, health: Callable[[], dict]) -> Response | None:
        """websockets' ``process_request``: None lets a ``/feed`` upgrade go on; else the HTTP answer.

        ``health`` gives the body of ``/health``, read only when it is asked for.
        """
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if request.method != "GET":
            return _text(405, "only GET is served\n")
        if url.path == "/health":
            return _response(200, json.dumps(health()).encode(), "application/json")
        if url.path == FEED_PATH:
            return self._check_feed(request, query)
        return self._static(request, url.path, query)

    def _check_feed(self, request: Request, query: dict[str, list[str]]) -> Response | None:
        """None lets the upgrade go on; else the refusal."""
        origins = request.headers.get_all("Origin")
        if len(origins) > 1 or (origins and origins[0] not in self.origins):
            log.info("feed refused a connection from origin %s", origins)
            return _text(403, "this origin may not read the feed\n")
        if not self._token_ok(query.get("token", [None])[0]):
            return _text(401, "a valid token is required: open the dashboard URL vcam printed\n")
        return None

    def _token_ok(self, given: str | None) -> bool:
        return _same(given, self.token)

    @property
    def _cookie_name(self) -> str:
        return f"vcam_assets_{self.port}"  # cookies ignore ports: one name per port keeps two vcams apart

    def _cookie(self, request: Request) -> str | None:
        jar = SimpleCookie()
        try:
            jar.load("; ".join(request.headers.get_all("Cookie")))
        except CookieError:
            return None
        morsel = jar.get(self._cookie_name)
        return morsel.value if morsel is not None else None

    def _static(self, request: Request, path: str, query: dict[str, list[str]]) -> Response:
        by_query = self._token_ok(query.get("token", [None])[0])
        if not (by_query or (path != "/" and _same(self._cookie(request), self.asset_secret))):
            return _text(401, "a valid token is required: open the dashboard URL vcam printed\n")
        file = self._resolve("/index.html" if path == "/" else path)
        body = _read(file)
        if file is None or body is None:
            return _text(404, "not found\n")
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        extra = []
        if path == "/":
            extra.append(("Set-Cookie", f"{self._cookie_name}={self.asset_secret}; HttpOnly; SameSite=Strict; Path=/"))
        return _response(200, body, content_type, extra)

    def _resolve(self, path: str) -> Path | None:
        """The file under ``static_dir`` that ``path`` names, or None (outside it, hidden, or missing)."""
        rel = unquote(path).lstrip("/")
        parts = rel.split("/")
        if not rel or "\\" in rel or "\x00" in rel or any(_bad_part(p) for p in parts):
            return None
        try:
            root = self.static_dir.resolve()
            candidate = (root / rel).resolve()
            return candidate if candidate.is_relative_to(root) and candidate.is_file() else None
        except (OSError, ValueError) as err:  # e.g. a name the file system cannot hold
            log.debug("static path %r cannot name a file: %s", path[:80], err)
            return None


MAX_NAME = 255
"""Longest file or folder name in bytes (ext4, APFS, NTFS): a path component beyond it names no file."""


def _bad_part(part: str) -> bool:
    """Whether one path component can never name a served file: empty, hidden, or too long."""
    return not part or part.startswith(".") or len(part.encode("utf-8", "surrogatepass")) > MAX_NAME


def _read(file: Path | None) -> bytes | None:
    """The content of ``file``, or None when there is none or it cannot be read."""
    try:
        return file.read_bytes() if file is not None else None
    except OSError as err:
        log.warning("cannot read the dashboard's file %s: %s", file, err)
        return None


def _same(given: str | None, secret: str) -> bool:
    """Whether ``given`` is ``secret``, compared in constant time."""
    return given is not None and secrets.compare_digest(given.encode(), secret.encode())
