"""``vcam doctor``: check this machine for everything vcam needs, and say how to fix what is missing.

Each check is a small function returning one :class:`Check`. A *needed* check
that fails (``FAIL``) makes ``vcam doctor`` exit 1; the others only warn
(``WARN``): vcam still runs without a webcam, a virtual camera or a display,
with another source or output.
"""

from __future__ import annotations

import glob
import importlib
import importlib.metadata
import logging
import os
import re
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

from vcam.errors import VcamError

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "WARN", "FAIL"
PYTHON = (3, 11)
# distribution name -> module it is imported as
PACKAGES = {
    "mediapipe": "mediapipe", "opencv-contrib-python": "cv2", "numpy": "numpy", "onnxruntime": "onnxruntime",
    "pyvirtualcam": "pyvirtualcam", "websockets": "websockets",
}
REINSTALL = "reinstall with `bash installer/linux/dev.sh setup` or `pip install -r requirements.lock`"
CAMERA_FIX = "plug in a webcam, or use --source screen / demo"
VIRTUALCAM_FIX_LINUX = ("sudo apt install v4l2loopback-dkms; put `options v4l2loopback exclusive_caps=1 "
                        "card_label=vcam` in /etc/modprobe.d/vcam-v4l2loopback.conf, then `sudo modprobe v4l2loopback` "
                        "(bash installer/linux/install.sh does all of it)")
VIRTUALCAM_FIX_OTHER = "install OBS Studio and start its Virtual Camera once"
DISPLAY_FIX = "run vcam inside a desktop session (DISPLAY or WAYLAND_DISPLAY set), or use --source webcam / demo"
PORT_FIX = "vcam will use another free port; or pass --port"
_PIN = re.compile(r"\s*([A-Za-z0-9._-]+)\s*==\s*([^;\s]+)\s*$")
_EXTRA = re.compile(r"\bextra\s*==")  # a requirement of an extra (the test pins), not of vcam itself


@dataclass(frozen=True)
class Check:
    """One line of the report.

    Attributes:
        name: what was checked, e.g. ``"virtual camera"``.
        status: ``"ok"``, ``"WARN"`` or ``"FAIL"``.
        detail: what was found.
        fix: the exact command or step that fixes it ("" when ok).
        needed: vcam cannot run without it; a failure makes ``vcam doctor`` exit 1.
    """

    name: str
    status: str
    detail: str
    fix: str = ""
    needed: bool = False


def _result(name: str, good: bool, detail: str, fix: str, needed: bool) -> Check:
    bad = FAIL if needed else WARN
    return Check(name, OK if good else bad, detail, "" if good else fix, needed)


# -- the checks ----------------------------------------------------------------------


def check_python() -> Check:
    """Python 3.11, the only version mediapipe 0.10.21 and the pins are built for."""
    found = ".".join(map(str, sys.version_info[:3]))
    want = ".".join(map(str, PYTHON))
    return _result("python", sys.version_info[:2] == PYTHON, f"{found} at {sys.executable}",
                   f"use Python {want}: `bash installer/linux/dev.sh setup` builds a {want} venv", needed=True)


def pinned_versions() -> dict[str, str]:
    """``{distribution: pinned version}`` of vcam's own requirements, from its installed metadata.

    An editable install carries the same metadata as a wheel. Extras (the test pins) are
    left out. Raises importlib.metadata.PackageNotFoundError when vcam is not installed.
    """
    specs = importlib.metadata.requires("vcam") or []
    return {m[1].lower(): m[2] for spec in specs
            if not _EXTRA.search(spec.partition(";")[2]) and (m := _PIN.match(spec.split(";")[0]))}


def check_packages() -> Check:
    """Each key package imports and is installed at its pinned version."""
    try:
        pins = pinned_versions()
    except importlib.metadata.PackageNotFoundError:
        return _result("packages", False, "vcam itself is not installed (no package metadata), so its pinned "
                       "versions are unknown", REINSTALL, needed=True)
    problems = [p for dist, module in PACKAGES.items() if (p := _package_problem(dist, module, pins.get(dist)))]
    if problems:
        return _result("packages", False, "; ".join(problems), REINSTALL, needed=True)
    return _result("packages", True, f"{len(PACKAGES)} key packages at their pinned versions", "", needed=True)


def _package_problem(dist: str, module: str, pin: str | None) -> str | None:
    try:
        version = importlib.metadata.version(dist)
        importlib.import_module(module)
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} is not installed"
    except Exception as err:  # noqa: BLE001 - a broken binary wheel raises anything
        return f"{dist} does not import ({type(err).__name__}: {err})"
    if pin is not None and version != pin:
        return f"{dist} is {version}, expected {pin}"
    return None


def check_models() -> Check:
    """Every model in the manifest (vcam/assets/models/manifest.toml) passes its sha256 check."""
    from vcam import models

    statuses = models.verify_all()
    bad = [s for s in statuses if not s.ok]
    if bad:
        return _result("models", False, "; ".join(s.message for s in bad), _model_fix(bad[0].name), needed=True)
    return _result("models", True, f"{len(statuses)} models, sha256 ok", "", needed=True)


def _model_fix(name: str) -> str:
    from vcam import models
    from vcam.manifest import load_manifest

    manifest = load_manifest()
    found = f"{name}: " + models.fix_for(manifest[name]) + "; " if name in manifest else ""
    return found + "`vcam models list` shows every model and what is wrong"


def check_landmarks() -> Check:
    """Which runtime runs the landmarks stage, with its models loaded: LiteRT where ``ai_edge_litert`` imports,
    else onnxruntime on the shipped ONNX conversions (Windows: ai-edge-litert has no Windows wheel)."""
    from vcam.pipeline.landmarks import Landmarks
    from vcam.pipeline.landmarks_runtime import RUNTIME_LABELS

    try:
        stage = Landmarks(workers=1)
    except VcamError as err:
        return _result("landmarks", False, str(err), REINSTALL, needed=True)
    stage.close()
    dist = {"litert": "ai-edge-litert", "onnx": "onnxruntime"}[stage.runtime]
    detail = f"{RUNTIME_LABELS[stage.runtime]} {importlib.metadata.version(dist)}, face mesh and iris models load"
    if stage.runtime == "onnx":
        detail += "; ai-edge-litert does not import here, so ~2x the CPU per face"
    return _result("landmarks", True, detail, "", needed=True)


def check_ocr() -> Check:
    """The name reader loads its two PP-OCRv4 models (rapidocr-onnxruntime, installed --no-deps) and reads a label."""
    import numpy as np

    from vcam.pipeline.name_reader import NameReader

    try:
        reader = NameReader()
    except VcamError as err:
        return _result("name reader", False, str(err), "bash installer/linux/dev.sh setup, or `pip install "
                       "--no-deps -r requirements-nodeps.lock`", needed=False)
    blank = reader.read(np.full((32, 200, 3), 30, np.uint8))
    return _result("name reader", blank is None, "PP-OCRv4 text detector and recogniser load"
                   + ("" if blank is None else f", but a blank label read as {blank!r}"), REINSTALL, needed=False)


def check_cameras(max_index: int = 4) -> Check:
    """A webcam: ``/dev/video*`` on Linux, else OpenCV indices ``0 .. max_index - 1``."""
    if sys.platform.startswith("linux"):
        found = sorted(glob.glob("/dev/video*"))
    else:
        found = [f"index {i}" for i in range(max_index) if _opens(i)]
    return _result("cameras", bool(found), ", ".join(found) or "no camera found", CAMERA_FIX, needed=False)


def _opens(index: int) -> bool:
    import cv2

    cap = cv2.VideoCapture(index)
    try:
        return cap.isOpened()
    finally:
        cap.release()


def virtualcam_fix(platform: str = sys.platform) -> str:
    """The exact steps that install a virtual camera backend on ``platform``."""
    return VIRTUALCAM_FIX_LINUX if platform.startswith("linux") else VIRTUALCAM_FIX_OTHER


def check_virtualcam() -> Check:
    """A pyvirtualcam backend opens a 1280×720 30 fps camera (closed again at once)."""
    import pyvirtualcam

    try:
        with pyvirtualcam.Camera(width=1280, height=720, fps=30, print_fps=False) as cam:
            detail = f"{cam.device} via {cam.backend}"
    except Exception as err:  # noqa: BLE001 - pyvirtualcam raises RuntimeError, backends anything
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return _result("virtual camera", False, first, virtualcam_fix(), needed=False)
    return _result("virtual camera", True, detail, "", needed=False)


def check_display() -> Check:
    """A display mss can capture: DISPLAY or WAYLAND_DISPLAY on Linux, and at least one monitor; the
    detail also counts the windows ``window:TITLE`` could capture."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return _result("display", False, "neither DISPLAY nor WAYLAND_DISPLAY is set", DISPLAY_FIX, needed=False)
    try:
        import mss

        with mss.MSS() as screen:
            monitors = len(screen.monitors) - 1  # monitors[0] is all of them together
    except Exception as err:  # noqa: BLE001 - mss raises its own errors and OSError
        return _result("display", False, f"mss cannot open the display: {err}", DISPLAY_FIX, needed=False)
    from vcam.sources.window import window_titles

    windows = len(window_titles())
    return _result("display", monitors > 0, f"{monitors} monitor(s), {windows} window(s) to capture with window:TITLE",
                   DISPLAY_FIX, needed=False)


def check_screen_sharing() -> Check:
    """Linux: what Wayland capture needs (GStreamer's PipeWire source for Python) and, on a Wayland session,
    the desktop's ScreenCast portal; a warning only: X11 capture, the webcam and the demo need neither."""
    if not sys.platform.startswith("linux"):
        return _result("screen sharing", True, "not needed on this system (the screen is read directly)", "", False)
    from vcam.errors import SourceError
    from vcam.sources.portal import GSTREAMER_HINT, gstreamer, wayland_session
    from vcam.sources.portal_dbus import Portal

    wayland = wayland_session()
    try:
        gstreamer()
    except SourceError as err:
        return _result("screen sharing", not wayland, f"{'Wayland' if wayland else 'X11'} session; {err}",
                       GSTREAMER_HINT, needed=False)
    if not wayland:
        return _result("screen sharing", True, "X11 session: the screen is read directly (GStreamer's PipeWire "
                       "source is there too, for Wayland)", "", needed=False)
    if shutil.which("pw-cli") is None:
        return _result("screen sharing", False, "Wayland session; no pw-cli: a shared window that closes would "
                       "show as a still picture", GSTREAMER_HINT, needed=False)
    try:
        portal = Portal()
    except SourceError as err:
        return _result("screen sharing", False, f"Wayland session; {err}", "see the message", needed=False)
    version = portal.version
    portal.close()
    remembered = "remembers the choice" if version >= 4 else "asks each time (version < 4 cannot remember)"
    return _result("screen sharing", True, f"Wayland session: ScreenCast portal version {version} ({remembered}), "
                   "GStreamer's PipeWire source found", "", needed=False)


def check_port(port: int | None = None, host: str = "127.0.0.1") -> Check:
    """The feed's default port is free on ``host`` (a bind test)."""
    from vcam.daemon import DEFAULT_FEED_PORT

    port = DEFAULT_FEED_PORT if port is None else port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            return _result("feed port", False, f"{host}:{port} is taken ({err.strerror or err})", PORT_FIX, needed=False)
    return _result("feed port", True, f"{host}:{port} is free", "", needed=False)


def check_config() -> Check:
    """The config file (if any) parses and every setting in it is valid."""
    from vcam.config_file import config_path, load_config

    path = config_path()
    try:
        config = load_config(path)
    except VcamError as err:
        return _result("config", False, str(err), f"fix it with 'vcam config set KEY VALUE' or "
                       f"'vcam config unset KEY', or edit {path}", needed=True)
    where = f"{path}" if path.exists() else f"defaults (no file at {path})"
    return _result("config", True, f"{where}: source {config.source}, output {config.output}", "", needed=True)


CHECKS: tuple[Callable[[], Check], ...] = (
    check_python, check_packages, check_models, check_landmarks, check_ocr, check_cameras, check_virtualcam, check_display,
    check_screen_sharing, check_port, check_config,
)


# -- running and reporting -----------------------------------------------------------


def run_checks(checks: tuple[Callable[[], Check], ...] = CHECKS) -> list[Check]:
    """Run every check in order; one that crashes becomes a FAIL line instead of stopping the rest."""
    return [_run(check) for check in checks]


def _run(check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as err:  # noqa: BLE001 - the doctor must finish whatever breaks
        name = check.__name__.removeprefix("check_")
        return Check(name, FAIL, f"the check crashed: {type(err).__name__}: {err}", "report this as a vcam bug", True)


def format_report(checks: list[Check]) -> str:
    """A fixed-width table (CHECK, STATUS, DETAIL), then ``NAME: fix`` for every check that is not ok."""
    rows = [("CHECK", "STATUS", "DETAIL")] + [(c.name, c.status, c.detail) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]
    fixes = [f"{c.name}: {c.fix}" for c in checks if c.status != OK]
    return "\n".join(lines + (["", "To fix:"] + fixes if fixes else []))


def exit_code(checks: list[Check]) -> int:
    """1 when a needed check failed, else 0 (warnings do not fail)."""
    return 1 if any(c.needed and c.status != OK for c in checks) else 0
