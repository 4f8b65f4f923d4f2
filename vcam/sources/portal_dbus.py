"""The desktop's ScreenCast portal over D-Bus: ask once for a screen or window, get a PipeWire stream.

On Wayland an application cannot read the screen itself; it asks ``org.freedesktop.portal.ScreenCast``
(xdg-desktop-portal, with GNOME's, KDE's or wlroots' backend). The exchange, as the portal documents
it (https://flatpak.github.io/xdg-desktop-portal/docs/doc-org.freedesktop.portal.ScreenCast.html)::

    CreateSession ─▶ SelectSources(types, cursor hidden, persist, restore_token) ─▶ Start ─▶ streams, token
    OpenPipeWireRemote ─▶ a file descriptor of the PipeWire connection that sees only those streams

Each of the first three answers through a ``Request`` object's ``Response`` signal (0 = done,
1 = the user cancelled, 2 = refused). ``Start`` is where the desktop shows its dialog; with a
restore token from an earlier ``Start`` it shows none. Tokens are single-use: every ``Start`` returns
the next one, which :class:`TokenStore` keeps (mode 0600) in vcam's state folder.

Everything runs on the calling thread with a private connection and main context, so the tray's GTK
loop on the main thread is never touched. PyGObject (``gi``) is imported only by this module.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vcam.errors import SourceError, SourceLost, VcamError

log = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
OBJECT = "/org/freedesktop/portal/desktop"
SCREENCAST = "org.freedesktop.portal.ScreenCast"
MONITOR, WINDOW = 1, 2
"""``types`` bits of SelectSources: a whole monitor, one window."""
CURSOR_HIDDEN = 1
PERSIST_UNTIL_REVOKED = 2
CALL_TIMEOUT_S = 10.0
"""How long a portal call that shows no dialog may take."""
CHOICE_TIMEOUT_S = 300.0
"""How long the desktop's dialog may stay open before vcam stops waiting for the user."""
INSTALL_HINT = ("install xdg-desktop-portal and your desktop's backend (GNOME: xdg-desktop-portal-gnome, "
                "KDE: xdg-desktop-portal-kde, sway and other wlroots desktops: xdg-desktop-portal-wlr)")


class Cancelled(SourceError):
    """The user cancelled the desktop's sharing dialog."""


@dataclass(frozen=True)
class Stream:
    """A stream the portal started.

    Attributes:
        fd: the PipeWire connection's file descriptor (the caller owns and closes it).
        node: the stream's PipeWire node id.
        size: ``(width, height)`` in pixels as the portal announced it, or None.
        token: the restore token for next time, or None when the portal gives none (version < 4).
    """

    fd: int
    node: int
    size: tuple[int, int] | None
    token: str | None


class TokenStore:
    """The portal's restore token, kept in ``folder/portal.json`` (mode 0600) per kind of choice.

    Args:
        folder: vcam's state folder (``platformdirs.user_state_dir("vcam")``).
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "portal.json"

    def get(self, kind: str) -> str | None:
        """The token saved for ``kind`` (``screen``, ``window`` or ``any``), or None."""
        token = self._read().get(kind)
        return token if isinstance(token, str) and token else None

    def put(self, kind: str, token: str | None) -> None:
        """Save (or, with None, forget) the token for ``kind``; a failure to write is logged, not raised."""
        from vcam.files import write_text_atomic

        tokens = self._read()
        if token is None:
            tokens.pop(kind, None)
        else:
            tokens[kind] = token
        try:
            write_text_atomic(self.path, json.dumps(tokens), advice=f"remove {self.path}")
        except (OSError, VcamError) as err:  # never lose the stream over a file
            log.warning("could not save the screen-sharing choice to %s (%s); the desktop will ask again "
                        "next time", self.path, err)

    def _read(self) -> dict[str, object]:
        try:
            tokens = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.warning("ignoring %s (%s): the desktop will ask for the screen again", self.path, err)
            return {}
        return tokens if isinstance(tokens, dict) else {}


class Portal:
    """One connection to the session bus's ScreenCast portal and its session.

    Args:
        cancel: set from another thread to stop waiting (for a dialog, or anything else) at once.

    Raises:
        SourceError: there is no session bus, or no ScreenCast portal on it; the message says what to install.
    """

    def __init__(self, cancel: threading.Event | None = None) -> None:
        from gi.repository import Gio, GLib

        self._gio, self._glib = Gio, GLib
        self.cancel = cancel or threading.Event()
        self.closed = threading.Event()  # the portal ended the session (sharing revoked from the desktop)
        self.context = GLib.MainContext.new()
        self.session: str | None = None
        self._serial = 0
        with self._own_context():
            self.bus = self._connect()
            self.version = self._version()

    # -- the exchange ---------------------------------------------------------------------------------------
    def start(self, types: int, token: str | None) -> Stream:
        """Create a session, select ``types`` (restoring ``token``'s choice), start it and open its stream.

        Raises:
            SourceError: the user cancelled the dialog, the portal refused, or it did not answer in time.
        """
        with self._own_context():
            return self._start(types, token)

    def _start(self, types: int, token: str | None) -> Stream:
        results = self._request("CreateSession", "(a{sv})", (), {"session_handle_token": ("s", self._token())})
        self.session = str(results["session_handle"])
        self._watch_closed()
        options = {"types": ("u", types), "multiple": ("b", False), "cursor_mode": ("u", CURSOR_HIDDEN)}
        if self.version >= 4:
            options["persist_mode"] = ("u", PERSIST_UNTIL_REVOKED)
            if token:
                options["restore_token"] = ("s", token)
        self._request("SelectSources", "(oa{sv})", (self.session,), options)
        started = self._request("Start", "(osa{sv})", (self.session, ""), {}, timeout=CHOICE_TIMEOUT_S)
        streams = started.get("streams") or []
        if not streams:
            raise SourceError("the desktop started screen sharing without a stream; choose a screen or window again")
        node, props = streams[0]
        size = props.get("size")
        return Stream(self._open_remote(), int(node), (int(size[0]), int(size[1])) if size else None,
                      started.get("restore_token"))

    def pump(self) -> None:
        """Deliver the signals that arrived (the session's Closed) without waiting."""
        while self.context.iteration(False):
            pass

    def close(self) -> None:
        """End the portal session (the desktop's sharing indicator goes away) and the connection."""
        with self._own_context():
            if self.session is not None:
                try:
                    self.bus.call_sync(PORTAL, self.session, "org.freedesktop.portal.Session", "Close", None, None,
                                       self._gio.DBusCallFlags.NONE, 2000, None)
                except self._glib.Error as err:
                    log.debug("closing the portal session: %s", err.message)
                self.session = None
            try:
                self.bus.close_sync(None)
            except self._glib.Error:
                pass

    # -- plumbing ------------------------------------------------------------------------------------------
    def _own_context(self):  # noqa: ANN202 - a context manager
        return _ThreadDefault(self.context)

    def _connect(self):  # noqa: ANN202 - Gio.DBusConnection
        Gio, GLib = self._gio, self._glib
        try:
            address = Gio.dbus_address_get_for_bus_sync(Gio.BusType.SESSION, None)
            flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
            return Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        except GLib.Error as err:
            raise SourceError(f"cannot reach the desktop's session bus ({err.message}); the screen-sharing portal "
                              "needs a desktop session: run vcam from the desktop, not over ssh or from a service "
                              "without DBUS_SESSION_BUS_ADDRESS") from err

    def _version(self) -> int:
        GLib = self._glib
        try:
            reply = self.bus.call_sync(PORTAL, OBJECT, "org.freedesktop.DBus.Properties", "Get",
                                       GLib.Variant("(ss)", (SCREENCAST, "version")), GLib.VariantType("(v)"),
                                       self._gio.DBusCallFlags.NONE, int(CALL_TIMEOUT_S * 1000), None)
        except GLib.Error as err:
            raise SourceError(f"this desktop has no screen-sharing portal ({err.message}); {INSTALL_HINT}, "
                              "then log out and in again") from err
        return int(reply.unpack()[0])

    def _token(self) -> str:
        self._serial += 1
        return f"vcam{os.getpid()}_{self._serial}"

    def _request(self, method: str, signature: str, args: tuple, options: dict[str, tuple[str, object]],
                 timeout: float = CALL_TIMEOUT_S) -> dict[str, object]:
        """Call ``method`` with ``args`` and ``options`` (name → (type, value)); wait for its Response."""
        GLib = self._glib
        token = self._token()
        sender = self.bus.get_unique_name()[1:].replace(".", "_")
        path = f"{OBJECT}/request/{sender}/{token}"
        answer: dict[str, object] = {}

        def on_response(_conn, _sender, _path, _iface, _signal, params) -> None:  # noqa: ANN001
            answer["code"], answer["results"] = params.unpack()

        with self._own_context():
            sub = self.bus.signal_subscribe(PORTAL, "org.freedesktop.portal.Request", "Response", path, None,
                                            self._gio.DBusSignalFlags.NO_MATCH_RULE, on_response)
            self._add_match(f"type='signal',interface='org.freedesktop.portal.Request',path='{path}'")
            try:
                variant_options = {k: GLib.Variant(t, v) for k, (t, v) in options.items()}
                variant_options["handle_token"] = GLib.Variant("s", token)
                self._call(method, GLib.Variant(signature, (*args, variant_options)))
                self._wait(lambda: bool(answer), timeout, method)
            finally:
                self.bus.signal_unsubscribe(sub)
        return _results(method, answer)

    def _call(self, method: str, params: object) -> object:
        try:
            return self.bus.call_sync(PORTAL, OBJECT, SCREENCAST, method, params, None,
                                      self._gio.DBusCallFlags.NONE, int(CALL_TIMEOUT_S * 1000), None)
        except self._glib.Error as err:
            raise SourceError(f"the screen-sharing portal refused {method} ({err.message}); {INSTALL_HINT}") from err

    def _add_match(self, rule: str) -> None:
        """Ask the bus for signals matching ``rule`` (before the call, so the answer cannot be missed)."""
        self.bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                           self._glib.Variant("(s)", (rule,)), None, self._gio.DBusCallFlags.NONE, 5000, None)

    def _wait(self, done, timeout: float, what: str) -> None:  # noqa: ANN001 - () -> bool
        deadline = time.monotonic() + timeout
        while not done():
            if self.cancel.is_set():
                raise SourceError(f"stopped waiting for the screen-sharing portal's answer to {what}")
            if time.monotonic() > deadline:
                raise SourceError(f"the screen-sharing portal did not answer {what} in {timeout:.0f} s; "
                                  "if the desktop shows a sharing dialog, choose a screen or window there")
            if not self.context.iteration(False):
                time.sleep(0.02)

    def _watch_closed(self) -> None:
        def on_closed(*_args: object) -> None:
            log.info("the desktop ended screen sharing (session closed)")
            self.closed.set()

        self.bus.signal_subscribe(PORTAL, "org.freedesktop.portal.Session", "Closed", self.session, None,
                                  self._gio.DBusSignalFlags.NO_MATCH_RULE, on_closed)
        self._add_match(f"type='signal',interface='org.freedesktop.portal.Session',path='{self.session}'")

    def _open_remote(self) -> int:
        GLib = self._glib
        try:
            reply, fds = self.bus.call_with_unix_fd_list_sync(
                PORTAL, OBJECT, SCREENCAST, "OpenPipeWireRemote", GLib.Variant("(oa{sv})", (self.session, {})),
                GLib.VariantType("(h)"), self._gio.DBusCallFlags.NONE, int(CALL_TIMEOUT_S * 1000), None, None)
        except GLib.Error as err:
            raise SourceLost(f"the screen-sharing portal gave no PipeWire stream ({err.message})") from err
        return fds.get(reply.unpack()[0])


class _ThreadDefault:
    """``with``: make ``context`` this thread's default main context, so signals are delivered to it."""

    def __init__(self, context) -> None:  # noqa: ANN001 - GLib.MainContext
        self.context = context

    def __enter__(self) -> None:
        self.context.push_thread_default()

    def __exit__(self, *exc: object) -> None:
        self.context.pop_thread_default()


def _results(method: str, answer: dict[str, object]) -> dict[str, object]:
    """The results of a Response, or the SourceError its code means."""
    code = answer.get("code")
    if code == 0:
        return dict(answer.get("results") or {})
    if code == 1:
        raise Cancelled("screen sharing was cancelled in the desktop's dialog; choose the screen or window "
                          "showing the meeting when asked (choose the source again from the tray to be asked again)")
    raise SourceError(f"the desktop refused screen sharing ({method} ended with code {code}); check that screen "
                      "sharing is allowed in the desktop's privacy settings, then choose the source again")
