"""landmarks: the batched stage on real faces, against MediaPipe FaceMesh, rolled, its two runtimes, its model errors.

The bounds against FaceMesh come from ``bench/landmarks_eval.py`` (on these photos and the demo gallery,
FaceMesh as the reference): per face, the mean mesh-point distance was at most 0.035 of the inter-ocular
distance at p95 (median 0.022) and the iris points' at most 0.065 (7x7 gallery; 0.031 on these photos);
the bounds below leave about 1.5x that.

The ONNX runtime (onnxruntime on the ONNX conversions, what runs on Windows) against LiteRT on the .tflite
files, on these 14 photos after 3 frames (each frame's regions come from the last, so differences carry
over): the same faces found, and no point further than 0.33 px, 0.0069 of its face's inter-ocular
distance (group2.jpg; 0.0025 or less on the single-face photos). ``RUNTIME_BOUND`` leaves 1.5x that.
"""

from __future__ import annotations

import logging
import re
import sys

import cv2
import numpy as np
import pytest
from facemesh_reference import FaceMeshLandmarks

from vcam.errors import ModelError
from vcam.models import model_path
from vcam.pipeline.detect import Detect
from vcam.pipeline.gaze import eye_ratios
from vcam.pipeline.landmarks import EYE_33, EYE_263, Landmarks, crop_matrix, roi_from_points, to_frame
from vcam.pipeline.pose import Pose
from vcam.types import N_LANDMARKS, Faces, Frame

PHOTOS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg",
          "grace_hopper.jpg", "astronaut.jpg", "group1.jpg", "group2.jpg", "group3.jpg", "group4.jpg", "group5.jpg",
          "group6.jpg"]
MESH_BOUND = 0.06
"""Mean distance of the 468 mesh points to FaceMesh's, as a share of the inter-ocular distance."""
IRIS_BOUND = 0.10
"""The same for the 10 iris points."""
RUNTIME_BOUND = 0.01
"""Largest distance of any of the 478 points under onnxruntime to LiteRT's, as a share of the inter-ocular distance."""


@pytest.fixture(scope="module")
def detect():
    stage = Detect()
    yield stage
    stage.close()


@pytest.fixture(scope="module")
def boxes(detect, load_image):
    """``boxes(name)``: the faces vcam's detector finds in a test photo, with track ids 1.."""
    def find(name: str) -> Faces:
        faces = detect.find(load_image(name))
        return faces.replace(track_id=np.arange(1, len(faces) + 1))
    return find


def run(stage, image: np.ndarray, faces: Faces, frames: int = 3) -> Faces:
    """``stage`` on ``frames`` frames of a still ``image``; the last frame's faces."""
    for k in range(frames):
        out = stage(Frame(image, k, k / 30), faces)
    return out


@pytest.fixture(scope="module")
def both(boxes, load_image):
    """``both(name)``: ``(FaceMesh's faces, the new stage's faces)`` on a photo, after 3 frames."""
    cache = {}

    def analyse(name: str) -> tuple[Faces, Faces]:
        if name not in cache:
            image, faces = load_image(name), boxes(name)
            new, ref = Landmarks(), FaceMeshLandmarks()
            cache[name] = (run(ref, image, faces), run(new, image, faces))
            new.close()
            ref.close()
        return cache[name]
    return analyse


def share_of_iod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(478,)`` distances of ``b``'s points to ``a``'s, over ``a``'s outer eye corner distance."""
    return np.linalg.norm(a[:, :2] - b[:, :2], axis=1) / np.linalg.norm(a[33, :2] - a[263, :2])


# -- on real faces -----------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_every_face_gets_478_finite_points_inside_the_region_around_its_box(name, boxes, both):
    faces, (_, new) = boxes(name), both(name)
    assert new.landmarks.shape == (len(new), N_LANDMARKS, 3) and np.isfinite(new.landmarks).all()
    for tid, points, fitted in zip(new.track_id, new.landmarks, new.bbox):
        x, y, w, h = faces.bbox[list(faces.track_id).index(tid)]
        side = max(w, h) * 1.5  # the stage's region: 1.5 x the box's longer side
        lo, hi = np.array([x + w / 2, y + h / 2]) - side / 2, np.array([x + w / 2, y + h / 2]) + side / 2
        assert (points[:, :2] >= lo).all() and (points[:, :2] <= hi).all()
        assert np.allclose(fitted, [*points[:468, :2].min(0), *np.ptp(points[:468, :2], axis=0)], atol=1e-3)


@pytest.mark.parametrize("name", PHOTOS)
def test_it_finds_every_face_facemesh_finds(name, both):
    ref, new = both(name)
    assert set(ref.track_id.tolist()) <= set(new.track_id.tolist())


@pytest.mark.parametrize("name", PHOTOS)
def test_its_points_agree_with_facemesh_within_the_bound_from_the_eval(name, both):
    ref, new = both(name)
    rows = {int(t): i for i, t in enumerate(new.track_id)}
    for i, tid in enumerate(ref.track_id):
        d = share_of_iod(ref.landmarks[i], new.landmarks[rows[int(tid)]])
        assert d[:468].mean() <= MESH_BOUND, f"face {tid}: mesh {d[:468].mean():.3f}"
        assert d[468:].mean() <= IRIS_BOUND, f"face {tid}: iris {d[468:].mean():.3f}"


@pytest.mark.parametrize("name", ["obama.jpg", "grace_hopper.jpg", "group3.jpg"])
def test_each_iris_sits_inside_its_own_eye_in_facemesh_order(name, both):
    _, new = both(name)
    for points in new.landmarks:
        for eye in ((33, 133, 159, 145, 468), (362, 263, 386, 374, 473)):
            h, v = eye_ratios(points, eye)
            assert 0.2 < h < 0.8 and 0.0 < v < 1.0
        centre_right, centre_left = points[469:473, :2].mean(0), points[474:478, :2].mean(0)
        assert np.linalg.norm(centre_right - points[468, :2]) < np.linalg.norm(centre_right - points[473, :2])
        assert np.linalg.norm(centre_left - points[473, :2]) < np.linalg.norm(centre_left - points[468, :2])


def test_a_face_rolled_30_degrees_gets_the_rolled_points_of_the_upright_face(load_image, boxes):
    image, faces = load_image("grace_hopper.jpg"), boxes("grace_hopper.jpg")
    rotated, m = rotate(image, 30.0)
    corners = np.array([[x, y] for x in (0, 1) for y in (0, 1)], np.float64) * faces.bbox[0, 2:] + faces.bbox[0, :2]
    moved = cv2.transform(corners[None], m)[0]
    box = np.array([[*moved.min(0), *np.ptp(moved, axis=0)]], np.float32)
    stage = Landmarks()
    upright = stage(Frame(image, 0, 0.0), faces)
    stage.forget(set())
    rolled = stage(Frame(rotated, 0, 0.0), Faces.from_boxes(box).replace(track_id=np.array([1])))
    assert len(rolled) == 1, "the rolled face was not found in its first frame"
    expected = cv2.transform(upright.landmarks[0][None, :, :2].astype(np.float64), m)[0]
    assert share_of_iod(np.c_[expected, np.zeros(478)], rolled.landmarks[0])[:468].mean() <= MESH_BOUND
    roll = Pose()(Frame(rotated, 0, 0.0), rolled).pose[0, 2] - Pose()(Frame(image, 0, 0.0), upright).pose[0, 2]
    assert abs(roll - 30.0) < 5.0


def rotate(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` rotated counter-clockwise by ``degrees`` on a canvas that holds all of it, and the ``(2, 3)`` map."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    corners = cv2.transform(np.array([[[0, 0], [w, 0], [0, h], [w, h]]], np.float64), m)[0]
    m[:, 2] -= corners.min(0)
    size = np.ceil(np.ptp(corners, axis=0)).astype(int)
    return cv2.warpAffine(image, m, tuple(size), borderMode=cv2.BORDER_REPLICATE), m


# -- behaviour -----------------------------------------------------------------------------


def test_a_box_with_no_face_in_it_is_dropped_and_its_track_forgotten(load_image, boxes):
    image, faces = load_image("grace_hopper.jpg"), boxes("grace_hopper.jpg")
    stage = Landmarks()
    run(stage, image, faces, frames=1)
    assert stage._last.keys() == {1}
    blank = np.full_like(image, 128)
    assert len(stage(Frame(blank, 1, 1 / 30), faces)) == 0
    assert stage._last == {}


def test_forget_drops_the_tracks_not_named(load_image, boxes):
    image, faces = load_image("group3.jpg"), boxes("group3.jpg")
    stage = Landmarks()
    run(stage, image, faces, frames=1)
    stage.forget({1})
    assert set(stage._last) == {1}


def test_faces_the_tracker_relabelled_are_fitted_on_their_own_face_next_frame(load_image, boxes):
    image, faces = load_image("group3.jpg"), boxes("group3.jpg")
    stage = Landmarks()
    run(stage, image, faces, frames=1)
    stage.rename({1: 2, 2: 1})  # the tracker swapped the first two faces' ids
    swapped = faces.replace(track_id=np.array([2, 1, 3]))
    out = stage(Frame(image, 1, 1 / 30), swapped)
    for tid in (1, 2, 3):
        x, y, w, h = swapped.bbox[list(swapped.track_id).index(tid)]
        centre = out.landmarks[list(out.track_id).index(tid), :, :2].mean(axis=0)
        assert x < centre[0] < x + w and y < centre[1] < y + h, f"track {tid} fitted on another face"


def test_no_faces_in_gives_no_faces_out(load_image):
    out = Landmarks()(Frame(load_image("obama.jpg"), 0, 0.0), Faces.empty())
    assert len(out) == 0 and out.landmarks.shape == (0, N_LANDMARKS, 3)


@pytest.mark.parametrize("runtime", ["litert", "onnx"])
def test_one_call_per_frame_or_one_per_face_gives_the_same_points(runtime, load_image, boxes):
    image, faces = load_image("group5.jpg"), boxes("group5.jpg")
    one = run(Landmarks(batch=1, runtime=runtime), image, faces, frames=1)
    all_at_once = run(Landmarks(batch=64, runtime=runtime), image, faces, frames=1)
    assert np.abs(one.landmarks - all_at_once.landmarks).max() < 1e-2


def test_eyes_refined_every_other_analysis_follow_the_mesh_in_between(load_image, boxes):
    """A large gallery refines each face's eyes every other analysis (``iris_stride``); in between the last
    refined lids and irises ride on the new mesh's eye corners. On a moving face they stay within a small
    share of the eye-corner distance of a refinement of that frame, and half the eyes are refined."""
    image, faces = load_image("group5.jpg"), boxes("group5.jpg")
    every, alternate = Landmarks(), Landmarks(iris_stride=2)
    calls: list[int] = []
    for model in (m[1] for m in alternate._models):
        run_once = model.run
        model.run = lambda batch, run_once=run_once: calls.append(len(batch)) or run_once(batch)
    eyes = np.r_[EYE_33[:16], EYE_263[:16], np.arange(468, 478)]
    try:
        worst = 0.0
        for k in range(6):  # the photo slides 2 px right per frame
            moved = np.roll(image, 2 * k, axis=1)
            shifted = faces.replace(bbox=faces.bbox + np.float32([2 * k, 0, 0, 0]))
            a, b = every(Frame(moved, k, k / 30), shifted), alternate(Frame(moved, k, k / 30), shifted)
            worst = max(worst, max(share_of_iod(p, q)[eyes].max() for p, q in zip(a.landmarks, b.landmarks)))
    finally:
        every.close()
        alternate.close()
    assert worst < 0.02, f"carried eyes off by {worst:.3f} of the eye-corner distance"
    assert len(faces) == 5
    assert sum(calls) == 2 * (5 + 2 + 3 + 2 + 3 + 2), "first frame every face; then the even or odd track ids in turn"


def test_a_region_maps_to_its_crop_and_back(load_image):
    points = np.random.default_rng(1).uniform(100, 300, (N_LANDMARKS, 3)).astype(np.float32)
    roi = roi_from_points(points, 1.5)
    for flip in (False, True):
        m = crop_matrix(roi, 192, flip)
        crop = np.c_[points[:, :2] @ m[:, :2].T + m[:, 2], points[:, 2] * 192 / roi[2]]
        assert np.allclose(to_frame(crop, roi, 192, flip), points, atol=1e-3)


# -- model errors ---------------------------------------------------------------------------


def test_a_missing_model_file_is_a_model_error_naming_it_and_the_fix(tmp_path):
    with pytest.raises(ModelError, match=re.escape(str(tmp_path / "nowhere.tflite")) + ".*dev.sh setup"):
        Landmarks(mesh=tmp_path / "nowhere.tflite")


def test_a_garbage_model_file_is_a_model_error_naming_it(tmp_path):
    garbage = tmp_path / "face_landmark.tflite"
    garbage.write_bytes(b"this is not a tflite model" * 10)
    with pytest.raises(ModelError, match=re.escape(str(garbage)) + ".*cannot be loaded"):
        Landmarks(mesh=garbage)


def test_the_other_model_in_its_place_is_a_model_error():
    with pytest.raises(ModelError, match=r"expected an input \(1, 192, 192, 3\)"):
        Landmarks(mesh=model_path("iris-landmarks"))


def test_a_corrupt_package_file_is_caught_by_the_manifest_before_loading(tmp_path):
    from vcam.manifest import load_manifest
    from vcam.models import model_path as resolve

    info = load_manifest()["face-mesh"]  # the real file, under a wrong sha256
    broken = tmp_path / "manifest.toml"
    broken.write_text(f'manifest_version = 1\n\n[[model]]\nname = "face-mesh"\nfile = "{info.file}"\n'
                      f'sha256 = "{"0" * 64}"\nsource = "{info.source}"\nlicense = "{info.license}"\n'
                      f'input = "x"\ndescription = "x"\n')
    with pytest.raises(ModelError, match="face-mesh .* is corrupt"):
        resolve("face-mesh", manifest=broken)


def test_eye_points_chooses_which_of_the_mesh_s_eye_points_the_iris_model_replaces(load_image, boxes):
    from vcam.pipeline.landmarks import EYE_33, EYE_263

    image, faces = load_image("grace_hopper.jpg"), boxes("grace_hopper.jpg")
    mesh, lids, every = (run(Landmarks(eye_points=e), image, faces, frames=1).landmarks[0]
                         for e in ("mesh", "lids", "all"))
    moved = lambda a, b: set(np.flatnonzero(np.abs(a[:468, :2] - b[:468, :2]).max(axis=1) > 1e-4))  # noqa: E731
    assert moved(mesh, lids) == set(EYE_33[:16]) | set(EYE_263[:16])
    assert moved(mesh, every) == set(EYE_33) | set(EYE_263)
    assert np.allclose(mesh[468:], lids[468:]) and np.allclose(mesh[468:], every[468:])


def test_an_unknown_eye_points_choice_is_rejected_by_name():
    with pytest.raises(ValueError, match="eye_points must be one of mesh, lids, all, got 'iris'"):
        Landmarks(eye_points="iris")


# -- the two runtimes --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtimes(boxes, load_image):
    """``runtimes(name)``: ``(LiteRT's faces, onnxruntime's faces)`` on a photo, after 3 frames."""
    cache = {}

    def analyse(name: str) -> tuple[Faces, Faces]:
        if name not in cache:
            image, faces = load_image(name), boxes(name)
            stages = [Landmarks(runtime="litert"), Landmarks(runtime="onnx")]
            cache[name] = tuple(run(stage, image, faces) for stage in stages)
            for stage in stages:
                stage.close()
        return cache[name]
    return analyse


@pytest.mark.parametrize("name", PHOTOS)
def test_onnxruntime_finds_the_faces_litert_finds_with_every_point_within_the_measured_bound(name, runtimes):
    litert, onnx = runtimes(name)
    assert onnx.track_id.tolist() == litert.track_id.tolist() and len(litert) > 0
    for a, b, tid in zip(litert.landmarks, onnx.landmarks, litert.track_id):
        assert share_of_iod(a, b).max() <= RUNTIME_BOUND, f"face {tid}: {share_of_iod(a, b).max():.4f}"
        assert np.abs(a[:, 2] - b[:, 2]).max() <= RUNTIME_BOUND * np.linalg.norm(a[33, :2] - a[263, :2])


@pytest.fixture
def no_litert(monkeypatch):
    """``ai_edge_litert`` cannot be imported, as on Windows (None in ``sys.modules`` makes its import fail)."""
    for module in ("ai_edge_litert", "ai_edge_litert.interpreter"):
        monkeypatch.setitem(sys.modules, module, None)


def test_auto_falls_back_to_onnxruntime_when_litert_cannot_import_and_says_so_once(no_litert, caplog, load_image,
                                                                                   boxes):
    with caplog.at_level(logging.INFO, logger="vcam.pipeline.landmarks"):
        stage = Landmarks()
    assert stage.runtime == "onnx"
    assert [r.getMessage() for r in caplog.records] == ["landmarks run on onnxruntime (ONNX conversions), 2 worker(s)"]
    assert len(run(stage, load_image("group3.jpg"), boxes("group3.jpg"), frames=1)) == 3


def test_auto_chooses_litert_where_it_imports(caplog):
    with caplog.at_level(logging.INFO, logger="vcam.pipeline.landmarks"):
        assert Landmarks(workers=1).runtime == "litert"
    assert [r.getMessage() for r in caplog.records] == ["landmarks run on LiteRT (ai-edge-litert), 1 worker(s)"]


def test_litert_asked_for_where_it_cannot_import_is_an_import_error_naming_the_package_and_the_way_out(no_litert):
    with pytest.raises(ImportError, match=r"ai-edge-litert==1\.4\.0.*runtime='auto' or 'onnx'"):
        Landmarks(runtime="litert")


def test_an_unknown_runtime_is_rejected_by_name():
    with pytest.raises(ValueError, match="runtime must be one of auto, litert, onnx, got 'tflite'"):
        Landmarks(runtime="tflite")


def test_a_garbage_onnx_model_file_is_a_model_error_naming_it_and_the_fix(tmp_path):
    garbage = tmp_path / "face_landmark.onnx"
    garbage.write_bytes(b"this is not an onnx model" * 10)
    with pytest.raises(ModelError, match=re.escape(str(garbage)) + ".*cannot be loaded by onnxruntime.*reinstall vcam"):
        Landmarks(runtime="onnx", mesh=garbage)


def test_the_other_onnx_model_in_its_place_is_a_model_error():
    with pytest.raises(ModelError, match=r"expected an input \(N, 192, 192, 3\)"):
        Landmarks(runtime="onnx", mesh=model_path("iris-landmarks-onnx"))
