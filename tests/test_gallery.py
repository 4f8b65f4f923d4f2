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
