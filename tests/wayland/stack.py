"""A real Wayland desktop for the portal tests, headless, started and stopped by the test.

What runs (all from Debian 12's packages except one rebuilt part, see below), each on a private
runtime folder and a private D-Bus session bus created here:

- **sway** 1.7 with ``WLR_BACKENDS=headless`` and the pixman renderer (no GPU here), one 1280×720
  output. sway refuses to run as root, so as root it runs as the user :data:`USER` (made if missing);
- **dbus-daemon** with its own service folder: the portal's backend and the permission store (where
  the portal keeps restore data) are started by D-Bus activation, as on a desktop;
- **pipewire** and **wireplumber**;
- **xdg-desktop-portal** 1.16 (the ``org.freedesktop.portal.ScreenCast`` vcam talks to) with the
  **xdg-desktop-portal-wlr** backend, whose "dialog" is a chooser command that logs every call and picks
  the output, or cancels when told to;
- a GTK window playing vcam's demo meeting gallery (:mod:`show_gallery`), so the screen changes.

The one rebuilt part: xdg-desktop-portal-wlr 0.7.0 refuses to start any cast unless the compositor
offers DMA-BUF frames (``start_screencast`` in ``src/screencast/screencast.c`` checks the DMA-BUF
format whenever the portal's own interface version is >= 3, which it always is). A compositor offers
DMA-BUF only with a GPU render node, and these machines have none, so Debian's binary fails with
"unable to receive a valid format from wlr_screencopy". :func:`build_portal_wlr` builds Debian's own
source (its sha256 pinned) with that one condition narrowed to the shared-memory format, the path
the backend already takes when DMA-BUF is not negotiated. Everything vcam talks to is unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from waiting import wait_until

log = logging.getLogger(__name__)

USER = "vcamtest"
"""The user sway runs as when the tests run as root."""
OUTPUT = "HEADLESS-1"
XDPW_VERSION = "0.7.0"
XDPW_SOURCE = ("http://deb.debian.org/debian/pool/main/x/xdg-desktop-portal-wlr/"
               f"xdg-desktop-portal-wlr_{XDPW_VERSION}.orig.tar.xz")
XDPW_SHA256 = "511e0509653d67af17c9ec45cc6ce1e43e795a444d0e51f959ff899d636f2c4e"  # Debian's .dsc
_DMABUF_CHECK = """	if (cast->screencopy_frame_info[WL_SHM].format == DRM_FORMAT_INVALID ||
			(cast->ctx->state->screencast_version >= 3 &&
			 cast->screencopy_frame_info[DMABUF].format == DRM_FORMAT_INVALID)) {"""
_SHM_CHECK = """	if (cast->screencopy_frame_info[WL_SHM].format == DRM_FORMAT_INVALID) {"""
SYSTEM_BACKEND = Path("/usr/libexec/xdg-desktop-portal-wlr")
HERE = Path(__file__).resolve().parent


def build_portal_wlr(cache: Path) -> Path:
    """Debian's xdg-desktop-portal-wlr 0.7.0 source, built with shared-memory casts allowed; the binary's path.

    Built once into ``cache``; a later call returns the binary already there.
    """
    binary = cache / f"xdg-desktop-portal-wlr-{XDPW_VERSION}" / "build" / "xdg-desktop-portal-wlr"
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / Path(XDPW_SOURCE).name
    if not archive.exists():
        with urllib.request.urlopen(XDPW_SOURCE, timeout=60) as answer:  # noqa: S310 - a pinned https-less mirror, hashed below
            archive.write_bytes(answer.read())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != XDPW_SHA256:
        archive.unlink()
        raise RuntimeError(f"{XDPW_SOURCE} has sha256 {digest}, not Debian's {XDPW_SHA256}")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        top = f"xdg-desktop-portal-wlr-{XDPW_VERSION}"
        if not all((m.name == top or m.name.startswith(top + "/")) and ".." not in m.name and (m.isfile() or m.isdir())
                   for m in members):
            raise RuntimeError(f"{archive} holds something other than files and folders under {top}/")
        tar.extractall(cache, members)
    source = binary.parent.parent
    code = source / "src" / "screencast" / "screencast.c"
    text = code.read_text()
    if _DMABUF_CHECK not in text:
        raise RuntimeError(f"{code} no longer has the DMA-BUF check this build narrows")
    code.write_text(text.replace(_DMABUF_CHECK, _SHM_CHECK))
    run = {"cwd": source, "check": True, "capture_output": True}
    subprocess.run(["meson", "setup", "build", "-Dsd-bus-provider=libsystemd", "-Dman-pages=disabled"], **run)
    subprocess.run(["ninja", "-C", "build"], **run)
    return binary


class WaylandStack:
    """The running desktop (see the module docstring); :meth:`stop` ends every process.

    Args:
        backend: the xdg-desktop-portal-wlr binary D-Bus starts for the portal.
        spec: the demo source the gallery window plays.
    """

    def __init__(self, backend: Path, spec: str = "demo:zoom:n=6:@1280x720") -> None:
        self.backend, self.spec = backend, spec
        self.root = Path(tempfile.mkdtemp(prefix="vcam-wayland-"))
        self.root.chmod(0o755)  # sway's user reads its config here
        self.runtime = self.root / "run"
        self.runtime.mkdir(mode=0o700)
        self.chooser_log = self.root / "chooser.log"
        self.cancel_flag = self.root / "cancel"
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime), "WAYLAND_DISPLAY": "wayland-1",
                    "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.runtime}/bus",
                    "XDG_CURRENT_DESKTOP": "sway", "XDG_DATA_HOME": str(self.root / "data"),
                    "XDG_CONFIG_HOME": str(self.root / "config")}
        self.env.pop("DISPLAY", None)

    # -- start and stop ------------------------------------------------------------------------------------
    def start(self) -> WaylandStack:
        """Start everything and wait until the portal answers and the gallery is on screen."""
        try:
            self._start_sway()
            self._start_bus()
            self._spawn("pipewire", ["pipewire"])
            wait_until(lambda: (self.runtime / "pipewire-0").exists(), 10)
            self._spawn("wireplumber", ["wireplumber"])
            self._spawn("backend", [str(self.root / "backend.sh")])
            if not wait_until(lambda: self._has_owner("org.freedesktop.impl.portal.desktop.wlr"), 20):
                raise RuntimeError(f"the portal's backend did not start: {self.log('backend')}")
            self._spawn("portal", ["/usr/libexec/xdg-desktop-portal", "-r", "-v"])
            if not wait_until(lambda: self._has_owner("org.freedesktop.portal.Desktop"), 20):
                raise RuntimeError(f"xdg-desktop-portal did not start: {self.log('portal')}\n{self.log('bus')}\n{self.log('backend')}\n"
                                   f"{self._ask_owner('org.freedesktop.portal.Desktop')}")
            self.show_gallery()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End every process (the gallery, the portal, PipeWire, the bus and what it started, sway); remove the folder."""
        for name in reversed(list(self.processes)):
            self._end(name)
        shutil.rmtree(self.root, ignore_errors=True)

    def show_gallery(self) -> None:
        """(Re)start the window playing the demo gallery, and wait until sway shows it."""
        self._end("gallery")
        script = HERE / "show_gallery.py"
        env = {**self.env, "GDK_BACKEND": "wayland", "PYTHONPATH": str(HERE.parent.parent)}
        self._spawn("gallery", [sys.executable, str(script), self.spec, "10", "20"], env=env)
        if not wait_until(lambda: "vcam test gallery" in self.swaymsg("-t", "get_tree"), 60):
            raise RuntimeError(f"the gallery window did not appear: {self.log('gallery')}")

    # -- what the tests do to it ---------------------------------------------------------------------------
    def end_sharing(self) -> None:
        """End the portal backend, as a desktop does when sharing is stopped: its PipeWire stream goes away.

        The next portal call starts the backend again through D-Bus activation.
        """
        subprocess.run(["pkill", "-f", str(self.backend)], check=False)
        wait_until(lambda: not self._has_owner("org.freedesktop.impl.portal.desktop.wlr"), 10)

    def chooser_calls(self) -> int:
        """How many times the backend asked the user to choose (its dialog)."""
        return len(self.chooser_log.read_text().splitlines()) if self.chooser_log.exists() else 0

    def swaymsg(self, *args: str) -> str:
        """Run ``swaymsg ARGS`` against this sway; its output."""
        sockets = list(self.runtime.glob("sway-ipc.*.sock"))
        done = subprocess.run(["swaymsg", "-s", str(sockets[0]), *args], capture_output=True, text=True,
                              env=self.env, check=False)
        return done.stdout

    def log(self, name: str, lines: int = 30) -> str:
        """The last ``lines`` lines a process wrote (0: all of them)."""
        path = self.root / f"{name}.log"
        if not path.exists():
            path = self.root / f"{name}.spawn.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- plumbing ------------------------------------------------------------------------------------------
    def _start_sway(self) -> None:
        config = self.root / "sway.conf"
        config.write_text(f"output {OUTPUT} resolution 1280x720\ndefault_border none\n")
        config.chmod(0o644)
        env = {"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(self.runtime), "HOME": str(self.root),
               "WLR_BACKENDS": "headless", "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman"}
        command = ["sway", "-c", str(config)]
        if os.geteuid() == 0:
            _ensure_user(USER)
            shutil.chown(self.runtime, USER)
            command = ["/usr/sbin/runuser", "-u", USER, "--", "env", *(f"{k}={v}" for k, v in env.items()), *command]
        self._spawn("sway", command, env=env)
        if not wait_until(lambda: (self.runtime / "wayland-1").exists(), 20):
            raise RuntimeError(f"sway did not start: {self.log('sway')}")

    def _start_bus(self) -> None:
        services = self.root / "services"
        services.mkdir()
        backend = self.root / "backend.sh"
        chooser = self.root / "chooser.sh"
        chooser.write_text(f'echo called >> "{self.chooser_log}"\n'
                           f'if [ -e "{self.cancel_flag}" ]; then exit 127; fi\necho {OUTPUT}\n')
        portal_config = self.root / "xdpw.conf"
        portal_config.write_text(f"[screencast]\nchooser_type=simple\nchooser_cmd=sh {chooser}\nmax_fps=30\n")
        backend.write_text(f"#!/bin/sh\n# {self.runtime}\nexport XDPW_PERSIST_MODE=permanent\n"
                           f'exec "{self.backend}" -l INFO -c "{portal_config}" >> "{self.root}/backend.log" 2>&1\n')
        backend.chmod(0o755)
        (services / "org.freedesktop.impl.portal.desktop.wlr.service").write_text(
            f"[D-BUS Service]\nName=org.freedesktop.impl.portal.desktop.wlr\nExec={backend}\n")
        (services / "org.freedesktop.impl.portal.PermissionStore.service").write_text(
            "[D-BUS Service]\nName=org.freedesktop.impl.portal.PermissionStore\n"
            "Exec=/usr/libexec/xdg-permission-store\n")
        bus_config = self.root / "bus.conf"
        bus_config.write_text(
            '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            f"<busconfig><type>session</type><listen>unix:path={self.runtime}/bus</listen>"
            f"<auth>EXTERNAL</auth><servicedir>{services}</servicedir>"
            '<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>'
            '<allow own="*"/></policy></busconfig>\n')
        self._spawn("bus", ["dbus-daemon", "--nofork", f"--config-file={bus_config}"])
        if not wait_until(lambda: (self.runtime / "bus").exists(), 10):
            raise RuntimeError(f"dbus-daemon did not start: {self.log('bus')}")

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.root / f"{name}.spawn.log", "ab") as out:
            self.processes[name] = subprocess.Popen(command, env=env or self.env, stdout=out, stderr=out,
                                                    preexec_fn=_own_group_ended_with_parent)

    def _end(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def _has_owner(self, name: str) -> bool:
        return "boolean true" in self._ask_owner(name)

    def _ask_owner(self, name: str) -> str:
        done = subprocess.run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                               "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
                              capture_output=True, text=True, env=self.env, check=False)
        return done.stdout + done.stderr


def _own_group_ended_with_parent() -> None:
    """In the child before exec: a process group of its own, and SIGTERM when the test process dies
    (so a test run that crashes leaves no desktop behind)."""
    import ctypes

    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _ensure_user(name: str) -> None:
    """Make the system user ``name`` unless it exists."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True)
