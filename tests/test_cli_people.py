"""enroll, gallery, models and eval as a user runs them: real processes, real photos, a private gallery file."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def vcam(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    return subprocess.run([sys.executable, "-m", "vcam.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """A gallery with Obama enrolled from one photo (with the default augmentation)."""
    path = tmp_path_factory.mktemp("gallery") / "people.sqlite3"
    result = vcam("enroll", "Barack Obama", str(DATA / "obama.jpg"), "--gallery", str(path))
    assert result.returncode == 0, result.stderr
    return path


def test_enroll_writes_a_private_gallery_that_list_shows(gallery):
    assert stat.S_IMODE(gallery.stat().st_mode) == 0o600
    listing = vcam("gallery", "list", "--gallery", str(gallery))
    assert listing.returncode == 0
    assert listing.stdout.startswith("Barack Obama\t6 descriptors")


def test_enrolling_a_name_twice_is_refused_and_loses_nothing(gallery):
    before = gallery.read_bytes()
    result = vcam("enroll", "Barack Obama", str(DATA / "obama2.jpg"), "--gallery", str(gallery))
    assert result.returncode == 2 and "already enrolled" in result.stderr and "--replace" in result.stderr
    assert gallery.read_bytes() == before


@pytest.mark.parametrize("photo, message", [("group3.jpg", "3 faces in"), ("missing.jpg", "missing.jpg")])
def test_a_photo_with_several_faces_or_none_is_one_clear_error(tmp_path, photo, message):
    result = vcam("enroll", "X", str(DATA / photo), "--gallery", str(tmp_path / "g.sqlite3"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_photo_with_no_face_is_one_clear_error(tmp_path):
    import cv2
    import numpy as np

    empty = tmp_path / "wall.png"
    cv2.imwrite(str(empty), np.full((300, 400, 3), 120, np.uint8))
    result = vcam("enroll", "X", str(empty), "--gallery", str(tmp_path / "g.sqlite3"))
    assert result.returncode == 2 and "no face found in" in result.stderr


def test_a_corrupt_gallery_is_reported_and_left_untouched(tmp_path):
    bad = tmp_path / "g.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    result = vcam("gallery", "list", "--gallery", str(bad))
    assert result.returncode == 2 and str(bad) in result.stderr
    assert bad.read_bytes() == b"not a database" * 100


def test_export_and_remove(gallery, tmp_path):
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(gallery, copy)
    out = tmp_path / "export.json"
    assert vcam("gallery", "export", str(out), "--gallery", str(copy)).returncode == 0
    exported = json.loads(out.read_text())
    assert "Barack Obama" in json.dumps(exported)
    assert vcam("gallery", "remove", "Barack Obama", "--gallery", str(copy)).returncode == 0
    assert "nobody is enrolled" in vcam("gallery", "list", "--gallery", str(copy)).stdout
    missing = vcam("gallery", "remove", "Nobody", "--gallery", str(copy))
    assert missing.returncode == 2 and "Nobody" in missing.stderr


@pytest.fixture(scope="module")
def obama_clip(tmp_path_factory) -> Path:
    """3 s of the one-face demo showing Obama's demo portrait, as an H.264 file."""
    from vcam.outputs import make_output
    from vcam.sources.demo import DemoSource

    tmp_path = tmp_path_factory.mktemp("clip")
    clip = tmp_path / "obama.mp4"
    with DemoSource(rows=1, cols=1, width=1280, height=720, realtime=False, portrait_dir=_one_portrait(tmp_path)) as src, \
            make_output(f"file:{clip}", width=1280, height=720, fps=15) as out:
        for _ in range(45):
            out.send(src.read().image)
    return clip


def test_enroll_from_a_live_source_collects_frames_with_one_face(obama_clip, tmp_path):
    path = tmp_path / "g.sqlite3"
    result = vcam("enroll", "Barack Obama", "--from", str(obama_clip), "--frames", "3", "--gallery", str(path))
    assert result.returncode == 0, result.stderr
    assert vcam("gallery", "list", "--gallery", str(path)).stdout.startswith("Barack Obama\t3 descriptors")


def test_analyze_with_identity_and_emotion_names_the_enrolled_face(gallery, obama_clip, tmp_path):
    clip = obama_clip
    out_json = tmp_path / "a.json"
    result = vcam("analyze", str(clip), "--json", str(out_json), "--identity", "--emotion", "--gallery", str(gallery),
                  "--no-progress")
    assert result.returncode == 0, result.stderr
    document = json.loads(out_json.read_text())
    (track,) = document["tracks"]
    assert track["name"] == "Barack Obama"
    assert max(track["emotion_pct"], key=track["emotion_pct"].get) == "happy"
    last = document["frames"][-1]["faces"][0]
    assert last["identity"]["name"] == "Barack Obama" and last["identity"]["distance"] < 0.5
    assert last["emotion"]["estimated"] is True and -1 <= last["emotion"]["valence"] <= 1


def _one_portrait(tmp_path: Path) -> Path:
    folder = tmp_path / "portraits"
    folder.mkdir()
    shutil.copy(Path(__file__).parents[1] / "vcam/assets/portraits/03_barack_obama.jpg", folder / "01_barack_obama.jpg")
    return folder


def test_eu_mode_refuses_emotion_everywhere(tmp_path):
    for args in (["run", "--emotion", "--eu-mode", "--frames", "1"], ["analyze", "x.mp4", "--json", "x.json", "--emotion", "--eu-mode"]):
        result = vcam(*args, cwd=tmp_path)
        assert result.returncode == 2 and "EU mode" in result.stderr


def test_models_list_shows_every_model_with_source_license_and_hash():
    result = vcam("models", "list")
    assert result.returncode == 0
    for name in ("face-detector-full", "face-landmarker", "face-descriptor", "emotion-fer"):
        assert name in result.stdout
    assert "CC0" in result.stdout and "MIT" in result.stdout and "sha256" in result.stdout


def test_models_verify_passes_here_and_install_of_an_unknown_model_is_one_error():
    assert vcam("models", "verify").returncode == 0
    bad = vcam("models", "install", "no-such-model")
    assert bad.returncode == 2 and "unknown model" in bad.stderr


def test_eval_identity_writes_a_report_with_precision_recall_and_f1(tmp_path):
    gallery_dir, probes, impostors = tmp_path / "gallery", tmp_path / "probes", tmp_path / "impostors"
    for folder, files in ((gallery_dir / "obama", ["obama.jpg"]), (probes / "obama", ["obama3.jpg"]),
                          (impostors, ["grace_hopper.jpg", "astronaut.jpg"])):
        folder.mkdir(parents=True)
        for name in files:
            shutil.copy(DATA / name, folder / name)
    out = tmp_path / "eval.json"
    result = vcam("eval", "identity", "--gallery", str(gallery_dir), "--probes", str(probes), "--impostors",
                  str(impostors), "--json", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert all(key in text for key in ("precision", "recall", "f1", "threshold", "aggregation", "euclidean"))
