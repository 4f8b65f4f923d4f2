"""gallery: the SQLite store of enrolled people and its errors (enrollment: test_enroll.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time

import numpy as np
import pytest

from vcam.gallery import Gallery, GalleryError


def vectors(k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(k, 128)).astype(np.float32)


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "g" / "gallery.sqlite3") as g:
        yield g


def test_people_round_trip_with_their_descriptors(gallery):
    gallery.add("Ada", vectors(3), ["a.jpg", "a.jpg #flip", "b.jpg"])
    gallery.add("Bob", vectors(1, 1), ["bob.jpg"])
    people = gallery.people()
    assert set(people) == {"Ada", "Bob"}
    np.testing.assert_array_equal(people["Ada"], vectors(3))
    assert [(n, c) for n, c, _ in gallery.names()] == [("Ada", 3), ("Bob", 1)]


def test_a_new_gallery_file_is_private(gallery):
    assert stat.S_IMODE(gallery.path.stat().st_mode) == 0o600


def test_a_gallery_readable_by_others_is_made_private(tmp_path, caplog):
    path = tmp_path / "gallery.sqlite3"
    Gallery(path).close()
    os.chmod(path, 0o644)
    with Gallery(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "0600" in caplog.text


def test_a_duplicate_name_is_an_error_that_says_what_to_do(gallery):
    gallery.add("Ada", vectors(2), ["a", "b"])
    with pytest.raises(GalleryError, match="Ada is already enrolled with 2 descriptors; use --replace.*--add"):
        gallery.add("Ada", vectors(1), ["c"])
    gallery.add("Ada", vectors(1, 5), ["c"], replace=True)
    np.testing.assert_array_equal(gallery.people()["Ada"], vectors(1, 5))


def test_images_are_added_to_an_enrolled_person(gallery):
    gallery.add("Ada", vectors(2), ["a", "b"])
    gallery.add_images("Ada", vectors(1, 3), ["c"])
    assert gallery.names()[0][1] == 3
    with pytest.raises(GalleryError, match="Zed is not enrolled.*Ada"):
        gallery.add_images("Zed", vectors(1), ["z"])


def test_a_failed_change_leaves_nothing_behind(gallery):
    gallery.add("Ada", vectors(2), ["a", "b"])
    with pytest.raises(GalleryError):
        gallery.add("Ada", vectors(1), ["c"])
    with pytest.raises(GalleryError, match="one source per descriptor"):
        gallery.add("Bob", vectors(2), ["only one"])
    assert [n for n, _, _ in gallery.names()] == ["Ada"]


def test_remove_deletes_a_person_and_an_unknown_name_lists_who_is_enrolled(gallery):
    gallery.add("Ada", vectors(1), ["a"])
    gallery.add("Bob", vectors(1), ["b"])
    gallery.remove("Ada")
    assert list(gallery.people()) == ["Bob"]
    with pytest.raises(GalleryError, match="Ada is not enrolled; enrolled: Bob"):
        gallery.remove("Ada")


def test_delete_all_empties_the_gallery(gallery):
    gallery.add("Ada", vectors(1), ["a"])
    gallery.delete_all()
    assert gallery.people() == {} and gallery.names() == []


def test_export_writes_names_sources_and_descriptors_as_json(gallery, tmp_path):
    gallery.add("Ada", vectors(2), ["a.jpg", "a.jpg #flip"])
    out = tmp_path / "export.json"
    gallery.export(out)
    doc = json.loads(out.read_text())
    person = doc["people"][0]
    assert person["name"] == "Ada" and [i["source"] for i in person["images"]] == ["a.jpg", "a.jpg #flip"]
    np.testing.assert_allclose([i["descriptor"] for i in person["images"]], vectors(2), rtol=1e-6)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export")] == []


def test_a_corrupt_file_is_an_error_and_is_not_modified(tmp_path):
    path = tmp_path / "gallery.sqlite3"
    garbage = os.urandom(4096)
    path.write_bytes(garbage)
    with pytest.raises(GalleryError, match=f"{path.name}.*NOT modified.*Move it aside"):
        Gallery(path)
    assert path.read_bytes() == garbage


def test_a_locked_gallery_is_an_error_that_says_retry(tmp_path):
    path = tmp_path / "gallery.sqlite3"
    Gallery(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Gallery(path, timeout=0.2) as g:
            start = time.monotonic()
            with pytest.raises(GalleryError, match="another vcam is writing.*retry"):
                g.add("Ada", vectors(1), ["a"])
            assert time.monotonic() - start < 2.0
    finally:
        other.execute("ROLLBACK")
        other.close()


# -- a gallery path or row that vcam did not make ---------------------------------------------------


def test_a_gallery_path_that_is_a_dangling_link_is_an_error_and_nothing_is_created(tmp_path):
    link = tmp_path / "gallery.sqlite3"
    link.symlink_to(tmp_path / "gone" / "real.sqlite3")
    with pytest.raises(GalleryError, match="is a link to .*real.sqlite3, which does not exist"):
        Gallery(link)
    assert not (tmp_path / "gone").exists()


def test_a_gallery_path_that_is_a_folder_is_an_error_and_the_folder_keeps_its_mode(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    with pytest.raises(GalleryError, match="photos is a folder; pass --gallery with a gallery file"):
        Gallery(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


@pytest.mark.parametrize("blob", [b"\0" * 12, b"\0" * 510, b"\0" * 1024, "text"], ids=["short", "odd", "long", "text"])
def test_a_descriptor_of_the_wrong_length_is_an_error_naming_the_person(tmp_path, blob):
    path = tmp_path / "gallery.sqlite3"
    with Gallery(path) as g:
        g.add("Ada", vectors(2), ["a.jpg", "b.jpg"])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE descriptors SET vector = ? WHERE id = (SELECT max(id) FROM descriptors)", (blob,))
    with Gallery(path) as g:
        with pytest.raises(GalleryError, match="a descriptor of Ada that is .*'vcam gallery remove Ada'"):
            g.people()
        with pytest.raises(GalleryError, match="a descriptor of Ada"):
            g.export(tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def _one_error(caplog) -> str:
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "internal error" not in errors[0], errors
    return errors[0]


@pytest.mark.parametrize("kind", ["dangling link", "folder"])
def test_vcam_gallery_list_of_a_path_that_is_not_a_gallery_file_exits_2(tmp_path, kind, caplog):
    from vcam.cli import main

    path = tmp_path / "g"
    path.symlink_to(tmp_path / "nowhere") if kind == "dangling link" else path.mkdir()
    assert main(["gallery", "list", "--gallery", str(path)]) == 2
    assert str(path) in _one_error(caplog)


def test_vcam_gallery_export_and_analyze_identity_with_a_bad_descriptor_exit_2(tmp_path, caplog):
    from vcam.cli import main
    from vcam.outputs import make_output
    from vcam.sources.demo import DemoSource

    path = tmp_path / "gallery.sqlite3"
    with Gallery(path) as g:
        g.add("Ada", vectors(1), ["a.jpg"])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE descriptors SET vector = ?", (b"\0" * 100,))
    assert main(["gallery", "export", str(tmp_path / "out.json"), "--gallery", str(path)]) == 2
    assert "descriptor of Ada" in _one_error(caplog)
    caplog.clear()
    clip = tmp_path / "clip.mp4"
    with DemoSource(realtime=False) as src, make_output(f"file:{clip}", width=640, height=360, fps=30) as out:
        for _ in range(3):
            out.send(src.read().image)
    assert main(["analyze", str(clip), "--json", str(tmp_path / "a.json"), "--no-progress", "--identity",
                 "--gallery", str(path)]) == 2
    assert "descriptor of Ada" in _one_error(caplog)
