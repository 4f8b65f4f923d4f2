"""vcam never writes through a link it did not make (issue 12, items 4 and 5).

Someone who can put a file where vcam writes (a shared machine, a synced folder, a careless script)
plants a symbolic link, a FIFO or a device there. vcam must refuse with one clear line, and the
link's target must keep its content and its mode. Every file vcam writes is 0600, the crash log too.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vcam import cli
from vcam.analyze import write_json
from vcam.errors import GalleryError, SessionError, UnsafePathError
from vcam.feed import dashboard_url_file, read_dashboard_url, write_dashboard_url
from vcam.files import create_private, make_private, write_text_atomic
from vcam.gallery import Gallery
from vcam.session.recorder import Recorder

VCAM = [sys.executable, "-m", "vcam.cli"]
THEIRS = "a file that is not vcam's\n"


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most users have (022): a file created without care would be world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def victim(tmp_path: Path, name: str = "victim.txt") -> Path:
    """Someone else's file, world-readable, that a planted link points at."""
    path = tmp_path / name
    path.write_text(THEIRS)
    path.chmod(0o644)
    return path


def assert_untouched(path: Path) -> None:
    assert path.read_text() == THEIRS, "the link's target was written"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "the link's target changed mode"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# -- the record folder ------------------------------------------------------------------


def test_a_timeline_planted_as_a_link_in_the_record_folder_is_refused_and_its_target_untouched(tmp_path):
    target = victim(tmp_path)
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "timeline.jsonl").symlink_to(target)
    with pytest.raises(SessionError) as refused:
        Recorder(folder).open()
    message = str(refused.value)
    assert str(folder) in message and "timeline.jsonl" in message and "not empty" in message
    assert "new folder" in message, "it says what to do"
    assert_untouched(target)


def test_a_dangling_room_csv_link_in_the_record_folder_does_not_create_its_target(tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    target = tmp_path / "created-by-vcam.csv"
    (folder / "room.csv").symlink_to(target)
    with pytest.raises(SessionError, match="room.csv"):
        Recorder(folder).open()
    assert not target.exists() and not target.is_symlink()


def test_a_record_folder_that_is_a_link_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "session").symlink_to(elsewhere)
    with pytest.raises(SessionError, match="symbolic link"):
        Recorder(tmp_path / "session").open()
    assert list(elsewhere.iterdir()) == []


def test_a_record_folder_with_anything_in_it_is_refused_with_what_it_holds(tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    for name in ("notes.txt", "a.csv", "b.csv", "c.csv", "d.csv", "e.csv"):
        (folder / name).write_text("mine")
    with pytest.raises(SessionError) as refused:
        Recorder(folder).open()
    assert "a.csv, b.csv, c.csv, d.csv, e.csv and 1 more" in str(refused.value)
    assert (folder / "notes.txt").read_text() == "mine"


def test_an_empty_record_folder_is_used_and_every_file_in_it_is_private(tmp_path):
    folder = tmp_path / "session"
    folder.mkdir(mode=0o755)
    with Recorder(folder):
        pass
    assert mode(folder) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["room.csv", "session.json", "timeline.csv", "timeline.jsonl"]
    assert {p.name: mode(p) for p in folder.iterdir()} == dict.fromkeys(
        ("room.csv", "session.json", "timeline.csv", "timeline.jsonl"), 0o600)


# -- dashboard.url ----------------------------------------------------------------------


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """vcam's runtime folder under ``tmp_path`` (platformdirs uses XDG_RUNTIME_DIR only when it exists)."""
    (tmp_path / "run").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert dashboard_url_file().is_relative_to(tmp_path), "never the real runtime folder"
    return dashboard_url_file().parent


def test_a_dashboard_url_planted_as_a_link_is_refused_and_its_target_keeps_its_content(tmp_path, runtime_dir):
    target = victim(tmp_path)
    runtime_dir.mkdir(parents=True, mode=0o700)
    dashboard_url_file().symlink_to(target)
    with pytest.raises(UnsafePathError) as refused:
        write_dashboard_url("http://127.0.0.1:8765/?token=secret")
    assert "symbolic link" in str(refused.value) and str(dashboard_url_file()) in str(refused.value)
    assert_untouched(target)


def test_the_dashboard_url_is_private_and_replaces_the_one_a_previous_vcam_left(runtime_dir):
    write_dashboard_url("http://127.0.0.1:1/?token=old")
    write_dashboard_url("http://127.0.0.1:2/?token=new")
    assert read_dashboard_url() == "http://127.0.0.1:2/?token=new"
    assert mode(dashboard_url_file()) == 0o600


# -- the gallery ------------------------------------------------------------------------


def test_a_gallery_path_that_is_a_link_is_refused_and_its_target_keeps_its_mode(tmp_path):
    target = victim(tmp_path)
    (tmp_path / "gallery.sqlite3").symlink_to(target)
    with pytest.raises(GalleryError) as refused:
        Gallery(tmp_path / "gallery.sqlite3")
    assert "symbolic link" in str(refused.value) and "nothing was changed" in str(refused.value)
    assert_untouched(target)


def test_a_world_readable_gallery_of_ours_is_made_private(tmp_path):
    path = tmp_path / "gallery.sqlite3"
    Gallery(path).close()
    path.chmod(0o644)
    Gallery(path).close()
    assert mode(path) == 0o600


# -- the atomic writer (analyze --json, gallery export, config, report) ------------------


def planted(tmp_path: Path, kind: str) -> Path:
    """A path holding something that is not a regular file: a link to a file, a dangling link or a FIFO."""
    path = tmp_path / "out.json"
    if kind == "link":
        path.symlink_to(victim(tmp_path))
    elif kind == "dangling link":
        path.symlink_to(tmp_path / "nowhere.json")
    else:
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["link", "dangling link", "FIFO"])
def test_the_atomic_writer_replaces_only_regular_files(tmp_path, kind):
    path = planted(tmp_path, kind)
    before = path.lstat()
    with pytest.raises(UnsafePathError, match="vcam replaces only regular files"):
        write_json({"frames": []}, path)
    after = path.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode), "what was there is still there"
    assert not (tmp_path / "nowhere.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) in (["out.json"], ["out.json", "victim.txt"]), "no temp file"


@pytest.mark.parametrize("kind", ["link", "FIFO"])
def test_vcam_gallery_export_onto_a_planted_path_says_what_it_refused_in_one_line_and_exits_2(tmp_path, kind):
    path = planted(tmp_path, kind)
    result = subprocess.run([*VCAM, "gallery", "export", str(path), "--gallery", str(tmp_path / "g.sqlite3")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to write" in lines[0] and str(path) in lines[0], result.stderr
    assert stat.S_ISLNK(path.lstat().st_mode) if kind == "link" else stat.S_ISFIFO(path.lstat().st_mode)


def test_the_atomic_writer_replaces_a_regular_file_with_a_private_one(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    path.chmod(0o644)
    write_text_atomic(path, json.dumps({"new": True}))
    assert json.loads(path.read_text()) == {"new": True} and mode(path) == 0o600


# -- the helpers everything uses --------------------------------------------------------


def test_create_private_never_opens_what_is_already_there(tmp_path):
    target = victim(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        create_private(link, append=True)
    assert_untouched(target)


def test_make_private_never_changes_a_links_target(tmp_path):
    target = victim(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError):
        make_private(link)
    assert_untouched(target)


# -- crash.log ---------------------------------------------------------------------------


@pytest.fixture
def crashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``vcam analyze`` with a bug in it (a handler that raises), logs under ``tmp_path``; the crash log's path."""
    def bug(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("VCAM_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setattr(cli, "cmd_analyze", bug)
    return tmp_path / "state/vcam/log/crash.log"


def test_the_crash_log_is_private(crashing):
    assert cli.main(["analyze", "clip.mp4", "--json", "out.json"]) == 1
    assert "RuntimeError: a bug" in crashing.read_text()
    assert mode(crashing) == 0o600


def test_a_world_readable_crash_log_from_before_is_replaced_by_a_private_one(crashing):
    crashing.parent.mkdir(parents=True)
    crashing.write_text("an old crash")
    crashing.chmod(0o644)
    assert cli.main(["analyze", "clip.mp4", "--json", "out.json"]) == 1
    assert "RuntimeError: a bug" in crashing.read_text() and mode(crashing) == 0o600


def test_a_crash_log_planted_as_a_link_is_left_alone(crashing, tmp_path, caplog):
    target = victim(tmp_path)
    crashing.parent.mkdir(parents=True)
    crashing.symlink_to(target)
    assert cli.main(["analyze", "clip.mp4", "--json", "out.json"]) == 1
    assert_untouched(target)
    assert "symbolic link" in caplog.text and "internal error: a bug" in caplog.text



# -- the demo's cache -----------------------------------------------------------------------


def test_the_demo_peoples_cache_is_private_and_never_written_through_a_planted_link(tmp_path):
    from vcam.demo_gallery import demo_people

    people = demo_people(cache_dir=tmp_path / "first")
    [cache] = (tmp_path / "first").iterdir()
    assert mode(cache) == 0o600
    planted_cache = tmp_path / "second" / cache.name
    planted_cache.parent.mkdir()
    planted_cache.symlink_to(tmp_path / "created-by-vcam.npz")
    again = demo_people(cache_dir=tmp_path / "second")
    assert sorted(again) == sorted(people), "the demo still knows its people"
    assert not (tmp_path / "created-by-vcam.npz").exists() and planted_cache.is_symlink()
