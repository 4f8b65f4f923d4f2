"""``vcam doctor`` on this machine: no webcam, no virtual camera, no display, all models and packages in place."""

from __future__ import annotations

import glob
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from xserver import gallery_window, xvfb_server

from vcam import doctor, models
from vcam.models import ModelStatus

bare_machine = pytest.mark.skipif(bool(glob.glob("/dev/video*")) or not sys.platform.startswith("linux"),
                                  reason="needs a Linux machine without webcam or v4l2loopback, like CI")


@pytest.fixture(scope="module")
def checks() -> list[doctor.Check]:
    return doctor.run_checks()


@bare_machine
def test_a_machine_without_cameras_warns_with_both_fixes_and_still_passes(checks):
    report = doctor.format_report(checks)
    by_name = {c.name: c for c in checks}
    assert by_name["cameras"].status == by_name["virtual camera"].status == "WARN"
    assert "v4l2loopback-dkms" in report and "options v4l2loopback exclusive_caps=1 card_label=vcam" in report
    assert "plug in a webcam, or use --source screen / demo" in report
    assert doctor.exit_code(checks) == 0


def test_needed_checks_pass_here(checks):
    assert [c.name for c in checks if c.needed and c.status != "ok"] == []


def test_the_display_check_counts_monitors_and_the_windows_there_are_to_capture(monkeypatch):
    with xvfb_server("1280x720") as display, gallery_window(display, "Zoom Meeting"):
        monkeypatch.setenv("DISPLAY", display)
        check = doctor.check_display()
    assert (check.status, check.detail) == ("ok", "1 monitor(s), 1 window(s) to capture with window:TITLE")


def test_a_corrupt_model_fails_the_doctor_and_prints_how_to_restore_it(monkeypatch):
    broken = ModelStatus("face-landmarker", Path("/x.tflite"), False, "model face-landmarker at /x.tflite is corrupt")
    monkeypatch.setattr(models, "verify_all", lambda *a, **kw: [broken])
    checks = doctor.run_checks((doctor.check_models, doctor.check_cameras))
    report = doctor.format_report(checks)
    assert checks[0].status == "FAIL" and doctor.exit_code(checks) == 1
    assert "models: face-landmarker: reinstall it with `bash installer/linux/dev.sh setup`" in report


def test_the_landmarks_check_names_the_runtime_litert_here_and_onnxruntime_where_litert_cannot_import(monkeypatch):
    litert = doctor.check_landmarks()
    assert (litert.status, litert.needed) == ("ok", True)
    assert litert.detail.startswith("LiteRT (ai-edge-litert) 1.4.0, face mesh and iris models load")
    for module in ("ai_edge_litert", "ai_edge_litert.interpreter"):  # as on Windows: no wheel
        monkeypatch.setitem(sys.modules, module, None)
    onnx = doctor.check_landmarks()
    assert onnx.status == "ok"
    assert onnx.detail == (f"onnxruntime (ONNX conversions) {importlib.metadata.version('onnxruntime')}, face mesh "
                           "and iris models load; ai-edge-litert does not import here, so ~2x the CPU per face")


PINS_AND_ORIGIN = """
import importlib.metadata, json
from vcam import doctor
print(json.dumps([doctor.pinned_versions(), importlib.metadata.distribution("vcam").read_text("direct_url.json")]))
"""


def test_the_pins_come_from_the_installed_metadata_of_this_editable_install_and_match_pyproject(tmp_path):
    # From outside the checkout, so only the installed metadata is there to be found (not the
    # vcam.egg-info an editable build leaves in the checkout)
    result = subprocess.run([sys.executable, "-c", PINS_AND_ORIGIN], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pins, direct_url = json.loads(result.stdout)
    assert json.loads(direct_url or "{}").get("dir_info", {}).get("editable"), "dev.sh installs vcam editable"
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    expected = {name.lower(): version for name, version in
                (spec.split(";")[0].strip().split("==") for spec in pyproject["project"]["dependencies"])}
    assert pins == expected
    assert "pytest" not in pins, "the test extra's pins are not vcam's"


def test_vcam_without_package_metadata_fails_the_packages_check_saying_how_to_reinstall(monkeypatch):
    def not_installed(name: str) -> list[str]:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", not_installed)
    check = doctor.check_packages()
    assert (check.status, check.needed) == (doctor.FAIL, True)
    assert "vcam itself is not installed" in check.detail and check.fix == doctor.REINSTALL


def test_a_taken_feed_port_is_only_a_warning_that_says_another_port_will_be_used():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        check = doctor.check_port(sock.getsockname()[1])
    assert (check.status, check.needed) == ("WARN", False)
    assert check.fix == "vcam will use another free port; or pass --port"


def test_the_virtual_camera_fix_is_obs_on_windows_and_macos():
    assert doctor.virtualcam_fix("win32") == doctor.virtualcam_fix("darwin") == (
        "install OBS Studio and start its Virtual Camera once")


def test_a_crashing_check_becomes_a_needed_failure_instead_of_a_traceback():
    def check_boom() -> doctor.Check:
        raise OSError("disk on fire")

    [check] = doctor.run_checks((check_boom,))
    assert (check.name, check.status, check.needed) == ("boom", "FAIL", True)
    assert "disk on fire" in check.detail


def test_the_real_command_prints_the_table_and_exits_0_here():
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run([sys.executable, "-m", "vcam.cli", "doctor"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header == ["CHECK", "STATUS", "DETAIL"]


def test_a_broken_config_file_fails_the_doctor_naming_the_file_line_and_fix(private_config_file):
    private_config_file.write_text("fps = 30\nmirror = \"maybe\"\n")
    check = doctor.check_config()
    assert check.status == doctor.FAIL and check.needed
    assert str(private_config_file) in check.detail and "mirror" in check.detail
    assert "vcam config set" in check.fix
    assert private_config_file.read_text() == "fps = 30\nmirror = \"maybe\"\n", "the doctor never rewrites it"


def test_a_valid_config_file_passes_and_is_named(private_config_file):
    private_config_file.write_text('source = "demo"\n')
    check = doctor.check_config()
    assert check.status == doctor.OK and str(private_config_file) in check.detail and "demo" in check.detail


def test_the_screen_sharing_check_on_an_x11_session_finds_gstreamers_pipewire_source():
    check = doctor.check_screen_sharing()
    assert (check.status, check.needed) == (doctor.OK, False)
    assert "X11 session" in check.detail and "PipeWire source is there" in check.detail


def test_the_screen_sharing_check_on_wayland_without_gstreamer_warns_naming_each_distributions_packages(monkeypatch):
    from vcam.errors import SourceError
    from vcam.sources import portal

    def missing() -> None:
        raise SourceError("cannot load GStreamer for Python (No module named 'gi')")

    monkeypatch.setattr(portal, "gstreamer", missing)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    check = doctor.check_screen_sharing()
    assert check.status == doctor.WARN and "Wayland session" in check.detail
    assert all(p in check.fix for p in ("gstreamer1.0-pipewire", "pipewire-gstreamer", "gst-plugin-pipewire"))
