"""The screen or a window on Wayland, through the desktop's ScreenCast portal and PipeWire.

The user chooses what to share once, in the desktop's own dialog; the portal's restore token
(:class:`~vcam.sources.portal_dbus.TokenStore`) brings the same choice back without a dialog on the
next start and on every reconnect, until the source is chosen again from the tray
(:func:`choose_again`). Frames come from the PipeWire node the portal names, through GStreamer::

    pipewiresrc fd=FD path=NODE ! videoconvert ! BGRx, BGRA or BGR ! appsink (the newest frame only)

The stream's own format is one of those (a screen cast sends BGRx), so videoconvert passes it through.
vcam takes at most ``fps`` frames a second from the sink and converts only those: the others are dropped
there, which caps the capture rate at the output rate.

A new size (the shared window resized, the screen's resolution changed) ends the stream with SourceLost
and the reconnect opens it at the new size, as the X11 window source does.

The compositor sends a frame only when the screen changed, so between frames the last image is
delivered again (stamped with the time it is delivered: the screen still shows it). A new frame keeps
the time the compositor captured it. The stream ending (the window closed, sharing revoked from the
desktop's indicator, the portal gone) raises :class:`~vcam.errors.SourceLost`, so
:class:`~vcam.capture.Capture` shows its placard and reconnects with the saved choice.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from vcam.errors import SourceError, SourceLost
from vcam.limits import FPS
from vcam.sources.base import Source
from vcam.sources.portal_dbus import MONITOR, WINDOW, Cancelled, Portal, Stream, TokenStore

log = logging.getLogger(__name__)

KINDS = {"any": MONITOR | WINDOW, "screen": MONITOR, "window": WINDOW}
"""What the dialog offers: ``portal`` (a screen or a window), ``portal:screen``, ``portal:window``."""
FIRST_FRAME_S = 5.0
"""How long the stream may take to send its first picture."""
GSTREAMER_HINT = ("install GStreamer's PipeWire plugin and its Python bindings (Debian/Ubuntu: gstreamer1.0-pipewire "
                  "gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base pipewire-bin; Fedora: "
                  "pipewire-gstreamer gstreamer1-plugins-base pipewire-utils; Arch: gst-plugin-pipewire "
                  "gst-plugins-base)")
_declined: set[str] = set()
"""Kinds whose dialog the user cancelled in this process: not asked again until chosen from the tray."""
_asking: set[str] = set()
"""Kinds being asked for now: a reconnect on another thread waits rather than opening a second dialog."""
_asking_lock = threading.Lock()


def wayland_session() -> bool:
    """Whether this is a Wayland desktop session, where X11 capture sees no native window."""
    return bool(os.environ.get("WAYLAND_DISPLAY")) or os.environ.get("XDG_SESSION_TYPE") == "wayland"


def state_folder() -> Path:
    """vcam's state folder (``~/.local/state/vcam`` on Linux), where the portal's token is kept."""
    import platformdirs

    return Path(platformdirs.user_state_dir("vcam"))


def choose_again(kind: str, store: TokenStore | None = None) -> None:
    """Forget the saved choice of ``kind`` and a cancelled dialog: the next open asks the user again."""
    (store or TokenStore(state_folder())).put(kind, None)
    _declined.discard(kind)


class PortalSource(Source):
    """A screen or window the user shared through the ScreenCast portal.

    Args:
        spec: the spec string, for messages and frames.
        kind: ``any``, ``screen`` or ``window``: what the dialog offers (:data:`KINDS`).
        region: ``(x, y, w, h)`` of the shared picture to keep, in its pixels; None keeps all of it.
        fps: delivery rate, within :data:`vcam.limits.FPS`; the stream is capped at it.
        store: where the restore token is kept (default: :func:`state_folder`).

    Raises:
        ConfigError: ``fps`` is out of range.
    """

    def __init__(self, spec: str, kind: str = "any", region: tuple[int, int, int, int] | None = None,
                 fps: float = 30.0, realtime: bool = True, store: TokenStore | None = None) -> None:
        FPS.check(fps, "capture fps")
        super().__init__(spec, fps=fps, realtime=realtime)
        if kind not in KINDS:
            raise SourceError(f"bad portal source {spec!r}: choose portal, portal:screen or portal:window")
        self.kind, self.region = kind, region
        self.store = store or TokenStore(state_folder())
        self._cancel = threading.Event()
        self._portal: Portal | None = None
        self._stream: Stream | None = None
        self._gst = self._pipeline = self._sink = None  # the Gst module once open; its pipeline and appsink
        self._serial: str | None = None  # the stream's PipeWire node's object.serial (None: cannot be checked)
        self._checked = 0.0  # time.monotonic() of the last frame or node check
        self._image: np.ndarray | None = None
        self._stamp = self._t_open = 0.0

    @property
    def size(self) -> tuple[int, int]:
        if self._image is None:
            return 0, 0
        return int(self._image.shape[1]), int(self._image.shape[0])

    # -- Source --------------------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.kind in _declined:
            raise SourceError("screen sharing was cancelled in the desktop's dialog; choose the source again "
                              "from the tray (or restart vcam) to be asked again")
        self._gst = gstreamer()
        self._portal = Portal(self._cancel)
        try:
            self._stream = self._start(self._portal)
            self._pipeline, self._sink = _pipeline(self._gst, self._stream)
            self._serial, self._checked = node_serial(self._stream.node), time.monotonic()
            self._t_open = time.monotonic()
            self._image = self._first_frame()
        except BaseException:
            self._release()
            raise

    def _grab(self) -> np.ndarray:
        self._check_alive()
        sample = self._sink.emit("try-pull-sample", 0)
        image, captured = _to_bgr(self._gst, sample, self._pipeline) if sample is not None else (None, 0.0)
        if sample is not None and image is None:
            raise SourceLost("the shared screen changed size; opening it again at its new size")
        if image is not None:
            self._image, self._stamp = image, min(captured, time.monotonic())
            self._checked = time.monotonic()  # a new frame: the node is there
        else:
            self._stamp = time.monotonic()  # unchanged since the last frame: the screen shows it now
        return self._crop(self._image)

    def _capture_time(self) -> float:
        return self._stamp

    def _media_time(self) -> float:
        return self._stamp - self._t_open

    def _release(self) -> None:
        self._cancel.set()
        if self._pipeline is not None:
            self._pipeline.set_state(self._gst.State.NULL)
            self._pipeline = self._sink = None
        if self._stream is not None:
            os.close(self._stream.fd)
            self._stream = None
        if self._portal is not None:
            self._portal.close()
            self._portal = None

    def close(self) -> None:
        """Release the source; also stops an open that is still waiting for the desktop's dialog."""
        self._cancel.set()
        super().close()

    # -- steps ---------------------------------------------------------------------------------------------
    def _start(self, portal: Portal) -> Stream:
        token = self.store.get(self.kind)
        if portal.version < 4:
            log.info("this desktop's portal (ScreenCast version %d) cannot remember the choice: it will ask "
                     "each time vcam starts or reconnects", portal.version)
        with _asking_lock:
            if self.kind in _asking:
                raise SourceError("waiting for the choice in the desktop's screen-sharing dialog")
            _asking.add(self.kind)
        try:
            stream = portal.start(KINDS[self.kind], token)
        except Cancelled:
            _declined.add(self.kind)
            raise
        finally:
            with _asking_lock:
                _asking.discard(self.kind)
        log.info("the desktop shares PipeWire node %d (%s)%s", stream.node,
                 "x".join(map(str, stream.size)) if stream.size else "size not given",
                 ", restored without a dialog" if token else "")
        self.store.put(self.kind, stream.token)  # single-use: the next start needs this new one
        return stream

    def _first_frame(self) -> np.ndarray:
        deadline = time.monotonic() + FIRST_FRAME_S
        while time.monotonic() < deadline:
            self._check_alive()
            sample = self._sink.emit("try-pull-sample", 100_000_000)  # ns
            image, self._stamp = _to_bgr(self._gst, sample, self._pipeline) if sample is not None else (None, 0.0)
            if image is not None:
                self._check_region(image)
                return image
        raise SourceLost(f"the shared screen sent no picture in {FIRST_FRAME_S:.0f} s; check that the window "
                         "you chose is not minimised, or choose the source again from the tray")

    def _check_alive(self) -> None:
        """Raise SourceLost when the desktop ended the session or the stream failed or ended."""
        Gst = self._gst  # noqa: N806 - the module's own name
        self._portal.pump()
        if self._portal.closed.is_set():
            raise SourceLost("the desktop stopped sharing the screen (sharing was stopped from its indicator, or "
                             "the shared window closed)")
        if self._serial and time.monotonic() - self._checked > STALE_S:
            self._checked = time.monotonic()
            if node_serial(self._stream.node) not in (self._serial, None):
                raise SourceLost("the shared screen's stream ended (the desktop stopped sharing, or the shared "
                                 "window or screen went away)")
        message = self._pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
        if message is None:
            return
        if message.type == Gst.MessageType.EOS:
            raise SourceLost("the shared screen's stream ended")
        err, _debug = message.parse_error()
        raise SourceLost(f"the shared screen's stream failed: {err.message}")

    def _check_region(self, image: np.ndarray) -> None:
        if self.region is None:
            return
        x, y, w, h = self.region
        height, width = image.shape[:2]
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise SourceError(f"screen region {self.region} is not inside the shared screen ({width}x{height}); "
                              f"use screen:X,Y,W,H within it, or screen for all of it")

    def _crop(self, image: np.ndarray) -> np.ndarray:
        if self.region is None:
            return image
        x, y, w, h = self.region
        return image[y:y + h, x:x + w]


def gstreamer():  # noqa: ANN202 - the Gst module
    """GStreamer, initialised, with the elements the stream needs; SourceError naming the packages otherwise."""
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as err:
        raise SourceError(f"cannot load GStreamer for Python ({err}); {GSTREAMER_HINT}") from err
    Gst.init(None)
    missing = [name for name in ("pipewiresrc", "videoconvert", "appsink")
               if Gst.ElementFactory.find(name) is None]
    if missing:
        raise SourceError(f"GStreamer has no {', '.join(missing)} element; {GSTREAMER_HINT}")
    return Gst


def _pipeline(gst, stream: Stream):  # noqa: ANN001, ANN202 - Gst module; (Gst.Pipeline, appsink)
    """The playing pipeline from the stream's node to an appsink that keeps only the newest frame."""
    pipeline = gst.parse_launch(
        f"pipewiresrc fd={stream.fd} path={stream.node} always-copy=true ! videoconvert ! "
        "video/x-raw,format={BGRx,BGRA,BGR} ! appsink name=sink max-buffers=1 drop=true sync=false")
    pipeline.use_clock(gst.SystemClock.obtain())  # monotonic: buffer times compare with time.monotonic()
    if pipeline.set_state(gst.State.PLAYING) == gst.StateChangeReturn.FAILURE:
        pipeline.set_state(gst.State.NULL)
        raise SourceLost(f"cannot play the shared screen's PipeWire stream (node {stream.node})")
    return pipeline, pipeline.get_by_name("sink")


STALE_S = 1.0
"""Seconds without a new frame after which vcam checks that the stream's PipeWire node still exists."""


def node_serial(node: int) -> str | None:
    """The ``object.serial`` of PipeWire node ``node`` (``pw-cli info``), "" when there is no such node, or None
    when ``pw-cli`` cannot say (not installed, no PipeWire server).

    pipewiresrc (PipeWire 0.3.65) says nothing when the node it reads is removed: the picture just stops, as it
    does when the screen does not change. Asking PipeWire tells the two apart (about 7 ms). Serials, unlike ids,
    are never reused. GStreamer's PipeWire device monitor would say it too, but in-process it corrupted the heap
    at exit about one run in twelve (tests/wayland; /work/shared/STACK.md).
    """
    try:
        done = subprocess.run(["pw-cli", "info", str(node)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.info("cannot ask PipeWire about the shared screen's node (%s): a shared window that closes may show "
                 "as a still picture; install pipewire's tools (pw-cli)", err)
        return None
    if "unknown global" in done.stderr:
        return ""
    found = re.search(r'object\.serial = "(\d+)"', done.stdout)
    return found.group(1) if found else None


def _to_bgr(Gst, sample, pipeline) -> tuple[np.ndarray | None, float]:  # noqa: ANN001, N803 - Gst module, Sample, Pipeline
    """The sample's ``(H, W, 3) uint8`` BGR image (copied) and when it was captured (``time.monotonic()`` s).

    The image is None for a buffer that does not fit its caps: when the shared screen changes size, frames
    of the new size come with the old caps (pipewiresrc 0.3.65 does not renegotiate), so the stream is
    opened again (:class:`PortalSource` raises SourceLost, :class:`~vcam.capture.Capture` reopens it).
    """
    caps = sample.get_caps().get_structure(0)
    width, height = caps.get_value("width"), caps.get_value("height")
    channels = 3 if caps.get_value("format") == "BGR" else 4
    buffer = sample.get_buffer()
    pts = buffer.pts
    captured = (pipeline.get_base_time() + pts) / 1e9 if pts != Gst.CLOCK_TIME_NONE else time.monotonic()
    ok, mapped = buffer.map(Gst.MapFlags.READ)
    if not ok:
        raise SourceLost("cannot read a frame of the shared screen")
    try:
        data = np.frombuffer(mapped.data, np.uint8)
        stride = data.size // height
        if stride < width * channels or data.size % height:
            log.debug("skipping a %d-byte frame that does not fit %dx%d", data.size, width, height)
            return None, captured
        rows = data.reshape(height, stride)[:, :width * channels]
        return np.ascontiguousarray(rows.reshape(height, width, channels)[:, :, :3]), captured
    finally:
        buffer.unmap(mapped)
