"""enroll: descriptors of the one face in real photos and frames, and the errors that name the file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vcam.enroll import Augment, enroll_from_frames, enroll_images, still_faces
from vcam.errors import GalleryError
from vcam.pipeline.detect import Detect
from vcam.pipeline.descriptor import Descriptor
from vcam.types import Frame

from conftest import DATA


@pytest.fixture(scope="module")
def descriptor():
    return Descriptor()


@pytest.fixture(scope="module")
def find_faces():
    detect = Detect()
    yield lambda image: still_faces(image, detect)
    detect.close()


def test_a_photo_of_one_person_gives_one_descriptor_and_augmentation_multiplies_it(descriptor, find_faces):
    plain, sources = enroll_images([DATA / "obama.jpg"], descriptor, find_faces, augment=None)
    assert plain.shape == (1, 128) and sources == [str(DATA / "obama.jpg")]
    more, sources = enroll_images([DATA / "obama.jpg", DATA / "biden.jpg"], descriptor, find_faces, Augment(count=5))
    assert more.shape == (12, 128)
    assert sources[1] == f"{DATA / 'obama.jpg'} #flip" and sum("#" in s for s in sources) == 10
    assert np.linalg.norm(more[1:6] - more[0], axis=1).max() < 0.4, "variants stay close to the person"


def test_a_photo_without_a_face_is_an_error_naming_the_file(tmp_path, load_image, descriptor, find_faces):
    background = tmp_path / "wall.jpg"
    cv2.imwrite(str(background), load_image("obama.jpg")[:150, :150])  # the backdrop above the head
    with pytest.raises(GalleryError, match="no face found in .*wall.jpg; use a photo"):
        enroll_images([background], descriptor, find_faces)


def test_a_group_photo_is_an_error_naming_the_count(descriptor, find_faces):
    with pytest.raises(GalleryError, match=r"3 faces in .*group3.jpg; crop it to the one person"):
        enroll_images([DATA / "group3.jpg"], descriptor, find_faces)


def test_an_unreadable_file_is_an_error_naming_it(tmp_path, descriptor, find_faces):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with pytest.raises(GalleryError, match="cannot read .*notes.jpg as an image"):
        enroll_images([bad], descriptor, find_faces)
    with pytest.raises(GalleryError, match="cannot read .*missing.jpg"):
        enroll_images([tmp_path / "missing.jpg"], descriptor, find_faces)


def test_enrolling_from_frames_skips_frames_without_exactly_one_face(load_image, descriptor, find_faces):
    images = [load_image("group3.jpg"), load_image("obama.jpg")[:150, :150], load_image("obama.jpg"),
              load_image("obama3.jpg")]
    frames = [Frame(im, i, i / 30, "test") for i, im in enumerate(images)]
    found, sources = enroll_from_frames(frames, 2, descriptor, find_faces, every=1)
    assert found.shape == (2, 128) and sources == ["test frame 2", "test frame 3"]
    with pytest.raises(GalleryError, match=r"got 2 of 3 frames .*1 had no face, 1 had several"):
        enroll_from_frames(frames, 3, descriptor, find_faces, every=1)


def test_still_faces_reusing_a_landmarks_stage_carries_nothing_from_one_photo_to_the_next():
    from vcam.pipeline.landmarks import Landmarks

    photos = [cv2.imread(str(DATA / name)) for name in ("obama.jpg", "grace_hopper.jpg", "biden.jpg")]
    detect, landmarks = Detect(), Landmarks(workers=1)
    try:
        fresh = [still_faces(image, detect) for image in photos]
        reused = [still_faces(image, detect, landmarks) for image in photos]
    finally:
        detect.close()
        landmarks.close()
    for a, b in zip(fresh, reused):
        assert len(a) == len(b) == 1
        np.testing.assert_allclose(b.bbox, a.bbox, atol=1e-3)
        np.testing.assert_allclose(b.landmarks, a.landmarks, atol=1e-3)
