"""vcam as a wheel: built from this checkout, installed into a fresh environment outside
the repository, and run there.

One module fixture does what a packager and a user do, and the tests read its results:

1. copy the files the build reads (``BUILD_INPUTS``) to a temporary folder and build the
   wheel there with ``pip wheel --no-deps --no-build-isolation``, using the setuptools
   pinned in the test extra (the same pin as ``[build-system]``). Building from a copy keeps
   ``build/`` and ``vcam.egg-info`` out of the checkout, and a stale ``build/lib`` from an
   earlier build cannot slip deleted files into the wheel;
2. make a virtual environment in a temporary folder, install ``requirements.lock`` into it
   (from pip's cache: ~20 s here), then the wheel with ``--no-deps``, and run ``pip check``;
3. from a working directory outside the repository, with its own XDG folders and config,
   run that environment's ``vcam models verify``, ``vcam doctor`` (the pins from the wheel's
   metadata), ``vcam enroll`` (the shipped face descriptor) and ``vcam analyze --identity
   --emotion`` (the shipped emotion model) on a 1 s clip of the demo's 3x3 gallery of real
   portraits.

About 40 s on this 2-core machine with pip's cache warm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import vcam

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
# What setuptools reads to build the wheel: pyproject.toml names README.md as the long description.
BUILD_INPUTS = ("pyproject.toml", "README.md", "vcam", "overlay")
WHEEL_NAME = f"vcam-{vcam.__version__}-py3-none-any.whl"
CLIP_FRAMES = 30
# Where a subprocess could otherwise find vcam, or a user's settings, gallery and models.
HIDDEN_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DISPLAY", "WAYLAND_DISPLAY")

# Printed by the environment's Python: where vcam, its manifest and every model are, and how vcam got there.
PROBE = """
import importlib.metadata, json, sysconfig, vcam
from vcam import manifest, models
from vcam.pipeline.landmarks import Landmarks
print(json.dumps({
    "vcam": vcam.__file__,
    "site_packages": sysconfig.get_paths()["purelib"],
    "manifest": str(manifest.manifest_path()),
    "models": {s.name: str(s.path) for s in models.verify_all()},
    "landmarks_onnx": Landmarks(runtime="onnx", workers=1).runtime,
    "direct_url": json.loads(importlib.metadata.distribution("vcam").read_text("direct_url.json") or "{}"),
}))
"""


@dataclass
class WheelRun:
    """What building, installing and running the wheel gave."""

    wheel: Path
    venv: Path
    workdir: Path
    lock_install: subprocess.CompletedProcess[str]
    nodeps_install: subprocess.CompletedProcess[str]
    wheel_install: subprocess.CompletedProcess[str]
    pip_check: subprocess.CompletedProcess[str]
    probe: subprocess.CompletedProcess[str]
    verify: subprocess.CompletedProcess[str]
    doctor: subprocess.CompletedProcess[str]
    enroll: subprocess.CompletedProcess[str]
    analyze: subprocess.CompletedProcess[str]
    analysis: dict


def run(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a program; its output is returned, never raised on."""
    return subprocess.run(list(map(str, argv)), capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def build_wheel(dest: Path) -> Path:
    """The wheel built from a copy of the checkout's build inputs, in ``dest/dist``."""
    src = dest / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    ok(run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dest / "dist", src))
    return dest / "dist" / WHEEL_NAME


def make_clip(path: Path) -> Path:
    """1 s (30 frames) of the demo's 3x3 gallery of real portraits as a 1920x1080 H.264 file."""
    from vcam.outputs import make_output
    from vcam.sources.demo import DemoSource

    with DemoSource(realtime=False) as src, make_output(f"file:{path}", width=1920, height=1080, fps=30) as out:
        for _ in range(CLIP_FRAMES):
            out.send(src.read().image)
    return path


def user_env(home: Path) -> dict[str, str]:
    """This environment without a way back to the checkout, with a home of its own under ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN_ENV}
    folders = {"XDG_DATA_HOME": "data", "XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache",
               "XDG_STATE_HOME": "state"}
    env |= {name: str(home / folder) for name, folder in folders.items()}
    env["VCAM_CONFIG"] = str(home / "config" / "vcam" / "config.toml")
    return env


def install(venv: Path, wheel: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """A fresh environment with requirements.lock and requirements-nodeps.lock (``--no-deps``), then the wheel
    alone (``--no-deps``), then pip check."""
    ok(run(sys.executable, "-m", "venv", venv))  # from a venv, venv uses the base Python 3.11
    pip = (venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile")
    return {"lock_install": run(*pip, "-r", REPO / "requirements.lock"),
            "nodeps_install": run(*pip, "--no-deps", "-r", REPO / "requirements-nodeps.lock"),
            "wheel_install": run(*pip, "--no-deps", wheel),
            "pip_check": run(venv / "bin" / "python", "-m", "pip", "check")}


def use(venv: Path, workdir: Path, clip: Path) -> dict:
    """Run the environment's vcam from ``workdir`` as a user would."""
    env, vcam_bin, gallery = user_env(workdir / "home"), venv / "bin" / "vcam", workdir / "people.sqlite3"
    steps: dict = {"probe": run(venv / "bin" / "python", "-c", PROBE, cwd=workdir, env=env),
                   "verify": run(vcam_bin, "models", "verify", cwd=workdir, env=env),
                   "doctor": run(vcam_bin, "doctor", cwd=workdir, env=env),
                   "enroll": run(vcam_bin, "enroll", "Barack Obama", DATA / "obama.jpg", "--gallery", gallery,
                                 cwd=workdir, env=env)}
    steps["analyze"] = run(vcam_bin, "analyze", clip, "--json", "out.json", "--identity", "--emotion",
                           "--gallery", gallery, "--no-progress", cwd=workdir, env=env)
    out = workdir / "out.json"
    steps["analysis"] = json.loads(out.read_text()) if out.is_file() else {}
    return steps


@pytest.fixture(scope="module")
def wheel_run(tmp_path_factory: pytest.TempPathFactory) -> WheelRun:
    """Build the wheel, install it into a fresh environment, use it there (all outside the repository)."""
    wheel = build_wheel(tmp_path_factory.mktemp("build"))
    venv = tmp_path_factory.mktemp("venv") / "venv"
    workdir = tmp_path_factory.mktemp("user")
    clip = make_clip(workdir / "grid.mp4")
    return WheelRun(wheel=wheel, venv=venv, workdir=workdir, **install(venv, wheel), **use(venv, workdir, clip))


@pytest.mark.slow
def test_everything_happens_outside_the_repository(wheel_run: WheelRun) -> None:
    for path in (wheel_run.wheel, wheel_run.venv, wheel_run.workdir):
        assert not path.resolve().is_relative_to(REPO), path


@pytest.mark.slow
def test_the_wheel_holds_vcam_overlay_and_the_shipped_models_and_nothing_else(wheel_run: WheelRun) -> None:
    names = zipfile.ZipFile(wheel_run.wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"vcam", "overlay", f"vcam-{vcam.__version__}.dist-info"}
    for name in ("manifest.toml", "identity/dlib_face_descriptor.onnx", "identity/LICENSE-dlib-models.txt",
                 "emotion/emotion_fer_mini_xception.onnx", "emotion/LICENSE-fer.txt",
                 "emotion/face_api_expression.onnx", "emotion/LICENSE-vladmandic-face-api.txt",
                 "emotion/LICENSE-face-api-js.txt",
                 "landmarks/face_landmark.onnx", "landmarks/iris_landmark.onnx", "landmarks/LICENSE-mediapipe.txt",
                 "landmarks/README.md"):
        assert f"vcam/assets/models/{name}" in names


@pytest.mark.slow
def test_the_wheel_installs_after_the_lock_into_a_fresh_venv_and_pip_check_passes(wheel_run: WheelRun) -> None:
    ok(wheel_run.lock_install)
    ok(wheel_run.nodeps_install)
    ok(wheel_run.wheel_install)
    problems = wheel_run.pip_check.stdout.strip().splitlines()
    # only the declared requirements of the model-only package installed --no-deps (requirements-nodeps.lock)
    assert [p for p in problems if not p.startswith("rapidocr-onnxruntime 1.4.4 requires ")] == [], problems


@pytest.mark.slow
def test_the_venv_imports_vcam_from_its_own_site_packages_installed_from_the_wheel(wheel_run: WheelRun) -> None:
    probe = json.loads(ok(wheel_run.probe).stdout)
    site_packages = Path(probe["site_packages"])
    assert site_packages.is_relative_to(wheel_run.venv)
    assert Path(probe["vcam"]) == site_packages / "vcam" / "__init__.py"
    assert probe["direct_url"]["url"].endswith(WHEEL_NAME) and "archive_info" in probe["direct_url"]


@pytest.mark.slow
def test_models_verify_passes_in_the_venv_and_every_model_resolves_inside_its_site_packages(
        wheel_run: WheelRun) -> None:
    out = ok(wheel_run.verify).stdout
    probe = json.loads(wheel_run.probe.stdout)
    site_packages = Path(probe["site_packages"])
    assert Path(probe["manifest"]) == site_packages / "vcam" / "assets" / "models" / "manifest.toml"
    assert set(probe["models"]) == {"face-detector-full", "face-detector-short", "face-landmarker",
                                    "face-descriptor", "emotion-fer", "emotion-face-api", "ocr-text-detector",
                                    "ocr-text-recognizer",
                                    "face-mesh", "iris-landmarks", "face-mesh-onnx", "iris-landmarks-onnx"}
    for name, path in probe["models"].items():
        assert Path(path).is_relative_to(site_packages), (name, path)
        assert path in out
    assert probe["models"]["face-descriptor"] == str(
        site_packages / "vcam" / "assets" / "models" / "identity" / "dlib_face_descriptor.onnx")
    assert probe["models"]["face-mesh-onnx"] == str(
        site_packages / "vcam" / "assets" / "models" / "landmarks" / "face_landmark.onnx")
    assert probe["landmarks_onnx"] == "onnx", "the landmarks stage loads the shipped ONNX models (Windows' runtime)"


@pytest.mark.slow
def test_doctor_in_the_venv_checks_the_packages_against_the_pins_of_the_wheels_metadata(wheel_run: WheelRun) -> None:
    lines = ok(wheel_run.doctor).stdout.splitlines()
    assert any(line.split()[:2] == ["packages", "ok"] and "at their pinned versions" in line for line in lines), lines
    assert any(line.split()[:2] == ["models", "ok"] for line in lines), lines


@pytest.mark.slow
def test_enroll_in_the_venv_describes_a_real_face_with_the_shipped_descriptor(wheel_run: WheelRun) -> None:
    assert "enrolled Barack Obama with 6 descriptors" in ok(wheel_run.enroll).stderr


@pytest.mark.slow
def test_analyze_in_the_venv_finds_the_nine_real_faces_of_the_clip_and_classifies_emotions(
        wheel_run: WheelRun) -> None:
    result = ok(wheel_run.analyze)
    assert "Traceback" not in result.stderr
    frames = wheel_run.analysis["frames"]
    assert len(frames) == CLIP_FRAMES
    assert all(len(frame["faces"]) == 9 for frame in frames), [len(frame["faces"]) for frame in frames]
    faces = [face for frame in frames for face in frame["faces"]]
    assert all(face["identity"] is not None for face in faces), "identity ran (a name may still be settling)"
    assert any(face["emotion"] is not None for face in faces), "the shipped emotion model classified faces"
    assert len(wheel_run.analysis["tracks"]) == 9
