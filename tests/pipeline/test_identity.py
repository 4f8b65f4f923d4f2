"""identity: aligned chips, dlib descriptors (as ONNX) of real faces, matching, votes, and the off-thread stage."""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import pytest
from waiting import wait_until

from vcam.enroll import Augment, enroll_images, still_faces
from vcam.errors import ModelError
from vcam.pipeline.descriptor import (
    FACEMESH_LEFT_EYE,
    FACEMESH_RIGHT_EYE,
    Descriptor,
    chip_template,
    chip_transform,
    face_chip,
)
from vcam.pipeline.detect import Detect
from vcam.pipeline.identity import Identity
from vcam.pipeline.matching import TrackVotes, distances, match
from vcam.types import Faces, Frame

DATA = __import__("pathlib").Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def detect():
    d = Detect()
    yield d
    d.close()


@pytest.fixture(scope="module")
def landmarks_of(load_image, detect):
    cache: dict[str, np.ndarray] = {}

    def get(name: str, image: np.ndarray | None = None) -> np.ndarray:
        if name not in cache:
            faces = still_faces(load_image(name) if image is None else image, detect)
            cache[name] = faces.landmarks[0]
        return cache[name]
    return get


@pytest.fixture(scope="module")
def descriptor():
    return Descriptor()


@pytest.fixture(scope="module")
def describe(load_image, landmarks_of, descriptor):
    return lambda name: descriptor(face_chip(load_image(name), landmarks_of(name)))


def rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))


def eye_centres_in_chip(landmarks: np.ndarray) -> np.ndarray:
    m = chip_transform(landmarks)
    eyes = np.stack([landmarks[list(FACEMESH_RIGHT_EYE), :2].mean(0), landmarks[list(FACEMESH_LEFT_EYE), :2].mean(0)])
    return eyes @ m[:, :2].T + m[:, 2]


# -- chips -------------------------------------------------------------------------------

@pytest.mark.parametrize("degrees", [0.0, 20.0])
def test_a_chip_has_level_eyes_where_dlib_puts_them(load_image, landmarks_of, degrees):
    image = rotated(load_image("obama.jpg"), degrees)
    lm = landmarks_of(f"obama.jpg@{degrees}", image)
    eyes = eye_centres_in_chip(lm)
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1.5, "eyes level after roll correction"
    assert np.abs(eyes - chip_template()[:2]).max() < 4.0
    chip = face_chip(image, lm)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8


def test_a_rotated_photo_gives_the_same_chip(load_image, landmarks_of):
    straight = face_chip(load_image("obama.jpg"), landmarks_of("obama.jpg"))
    image = rotated(load_image("obama.jpg"), 20.0)
    turned = face_chip(image, landmarks_of("obama.jpg@20.0", image))
    assert np.abs(straight.astype(int) - turned.astype(int)).mean() < 12


def test_a_chip_is_rgb(load_image, landmarks_of):
    image = load_image("obama.jpg")
    chip = face_chip(image, landmarks_of("obama.jpg"))
    bgr_mean, chip_mean = image.reshape(-1, 3).mean(0), chip.reshape(-1, 3).mean(0)
    assert (bgr_mean[2] > bgr_mean[0]) == (chip_mean[0] > chip_mean[2])


def test_missing_landmarks_are_a_value_error(load_image):
    with pytest.raises(ValueError, match="finite"):
        face_chip(load_image("obama.jpg"), np.full((478, 3), np.nan, np.float32))


# -- descriptors -------------------------------------------------------------------------

def test_the_same_person_is_nearer_than_another_person(describe):
    obama = describe("obama.jpg")
    assert obama.shape == (128,) and obama.dtype == np.float32
    same = [np.linalg.norm(obama - describe(n)) for n in ("obama2.jpg", "obama3.jpg")]
    other = np.linalg.norm(describe("biden.jpg") - obama)
    assert max(same) < 0.5 < other


def test_a_mirrored_photo_has_a_close_descriptor(load_image, landmarks_of, describe, descriptor):
    flipped = np.ascontiguousarray(load_image("obama.jpg")[:, ::-1])
    d = descriptor(face_chip(flipped, landmarks_of("obama.jpg@flipped", flipped)))
    assert np.linalg.norm(d - describe("obama.jpg")) < 0.3


def test_a_batch_of_chips_gives_one_descriptor_each(load_image, landmarks_of, descriptor):
    chip = face_chip(load_image("obama.jpg"), landmarks_of("obama.jpg"))
    out = descriptor(np.stack([chip, chip[:, ::-1]]))
    assert out.shape == (2, 128)
    np.testing.assert_allclose(out[0], descriptor(chip), atol=1e-5)


def test_a_chip_of_the_wrong_size_is_a_value_error(descriptor):
    with pytest.raises(ValueError, match="150, 150, 3"):
        descriptor(np.zeros((100, 100, 3), np.uint8))


def test_a_missing_model_is_a_model_error_naming_the_file(tmp_path):
    with pytest.raises(ModelError, match="nothing.onnx.*missing.*reinstall vcam"):
        Descriptor(tmp_path / "nothing.onnx")


def test_a_garbage_model_is_a_model_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model" * 100)
    with pytest.raises(ModelError, match="bad.onnx.*cannot be loaded.*dlib_descriptor_to_onnx"):
        Descriptor(bad)


def test_another_onnx_model_in_its_place_is_a_model_error():
    from vcam.models import model_path

    with pytest.raises(ModelError, match="expected \\(N, 150, 150, 3\\)"):
        Descriptor(model_path("emotion-fer"))


def test_the_onnx_descriptor_gives_dlibs_own_numbers_on_real_faces(load_image, landmarks_of, descriptor):
    """The converted model against dlib-bin on the original .dat (face-recognition-models), aligned chips of real faces."""
    import importlib.util

    import dlib

    origin = importlib.util.find_spec("face_recognition_models").origin
    net = dlib.face_recognition_model_v1(
        str(__import__("pathlib").Path(origin).parent / "models" / "dlib_face_recognition_resnet_model_v1.dat"))
    names = ["obama.jpg", "obama2.jpg", "biden.jpg", "grace_hopper.jpg", "astronaut.jpg"]
    chips = np.stack([face_chip(load_image(n), landmarks_of(n)) for n in names])
    want = np.array(net.compute_face_descriptor(list(chips)), np.float32)
    np.testing.assert_allclose(descriptor(chips), want, atol=1e-4)


def test_other_threads_run_while_a_descriptor_is_computed(load_image, landmarks_of, descriptor):
    """onnxruntime releases the GIL: the analysis thread is not held up by the identity worker."""
    chips = np.repeat(face_chip(load_image("obama.jpg"), landmarks_of("obama.jpg"))[None], 16, axis=0)
    ticks, done = [], threading.Event()

    def tick() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        start = time.perf_counter()
        descriptor(chips)
        took = time.perf_counter() - start
    finally:
        done.set()
        ticker.join()
    gaps = np.diff(ticks)
    assert took > 0.05 and len(ticks) > 10, "the batch took long enough to see the other thread run"
    assert gaps.max() < took / 2, f"the other thread stalled for {gaps.max():.3f} s of a {took:.3f} s call"


# -- matching ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def people(describe):
    return {"obama": np.stack([describe("obama.jpg"), describe("obama_partial_face.jpg"), describe("obama3.jpg")]),
            "biden": describe("biden.jpg")[None]}


@pytest.mark.parametrize("aggregation", ["median", "max", "mean", "top1", "top3", lambda d: float(d.min())])
def test_each_aggregation_names_an_enrolled_person(people, describe, aggregation):
    name, distance = match(describe("obama2.jpg"), people, 0.6, aggregation)
    assert name == "obama" and 0 < distance < 0.6
    assert set(distances(describe("obama2.jpg"), people, aggregation)) == {"obama", "biden"}


def test_max_is_stricter_than_median_and_top1_is_most_lenient(people, describe):
    d = {agg: distances(describe("obama2.jpg"), people, agg)["obama"] for agg in ("max", "median", "top1")}
    assert d["top1"] <= d["median"] <= d["max"]


def test_a_face_over_the_threshold_is_unknown_with_its_nearest_distance(people, describe):
    name, distance = match(describe("grace_hopper.jpg"), people)
    assert name is None and distance > 0.6
    assert match(describe("obama2.jpg"), people, threshold=0.1)[0] is None


def test_nobody_enrolled_matches_nobody(describe):
    name, distance = match(describe("obama.jpg"), {})
    assert name is None and np.isnan(distance)


def test_an_unknown_aggregation_is_a_value_error_naming_it(people, describe):
    with pytest.raises(ValueError, match="'top0'"):
        match(describe("obama.jpg"), people, aggregation="top0")


# -- votes -------------------------------------------------------------------------------

def test_one_borderline_result_does_not_settle_a_name():
    votes = TrackVotes(sure=0.4)
    assert votes.add(1, "obama", 0.45) is None
    assert votes.add(1, "obama", 0.48).name == "obama"


def test_a_clear_first_match_settles_at_once_and_agreeing_results_can_overturn_it():
    votes = TrackVotes(sure=0.4)
    assert votes.add(1, "obama", 0.3).name == "obama"
    assert votes.add(1, "biden", 0.45).name == "obama", "one disagreeing result keeps the settled name"
    assert votes.add(1, "biden", 0.44).name == "biden", "two agreeing results overturn it"


def test_a_single_outlier_does_not_flip_the_settled_name():
    votes = TrackVotes(votes=5)
    for _ in range(3):
        votes.add(1, "obama", 0.3)
    assert votes.add(1, "biden", 0.55).name == "obama"
    assert votes.add(1, None, 0.7).name == "obama"


def test_a_tie_keeps_the_settled_name_and_a_new_majority_takes_over():
    votes = TrackVotes(votes=4)
    votes.add(1, "obama", 0.3), votes.add(1, "obama", 0.3)
    votes.add(1, "biden", 0.4)
    assert votes.add(1, "biden", 0.4).name == "obama", "2 against 2 keeps the old name"
    assert votes.add(1, "biden", 0.4).name == "biden"


def test_unknown_settles_like_a_name_and_tracks_are_separate():
    votes = TrackVotes()
    votes.add(1, None, 0.8), votes.add(1, None, 0.9)
    votes.add(2, "obama", 0.45)
    assert votes.settled(1).name is None and votes.settled(2) is None
    votes.forget({2})
    assert votes.settled(1) is None


# -- the stage ---------------------------------------------------------------------------

class Gated:
    """The real descriptor, held until ``go`` is set: proves the stage does not wait for it."""

    def __init__(self, inner: Descriptor) -> None:
        self.inner, self.go = inner, threading.Event()

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        assert self.go.wait(30)
        return self.inner(chips)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def obama3_frame(load_image, landmarks_of):
    image = load_image("obama3.jpg")
    faces = Faces.from_boxes(np.array([[0, 0, 10, 10]], np.float32)).replace(
        track_id=np.array([7]), landmarks=landmarks_of("obama3.jpg")[None])
    return Frame(image, 0, 0.0), faces


@pytest.fixture(scope="module")
def obama_enrolled(descriptor, detect):
    vectors, _ = enroll_images([DATA / "obama.jpg"], descriptor, lambda im: still_faces(im, detect), Augment())
    return {"Barack Obama": vectors}


def test_the_name_settles_on_the_enrolled_person_within_a_few_calls(obama3_frame, obama_enrolled):
    frame, faces = obama3_frame
    clock = Clock()
    with Identity(obama_enrolled, clock=clock) as stage:  # the default: a descriptor child process
        names = []
        for _ in range(4):
            out = stage(frame, faces)
            names.append(out.name[0])
            assert stage.idle(60)
            clock.t += 0.5
        assert names[0] is None and names[-1] == "Barack Obama"
        assert 0 < out.identity_distance[0] < 0.5


def test_a_call_returns_before_any_descriptor_is_computed(obama3_frame, obama_enrolled, descriptor):
    frame, faces = obama3_frame
    gate = Gated(descriptor)
    with Identity(obama_enrolled, descriptor=lambda: gate) as stage:
        out = stage(frame, faces)
        assert out.name.tolist() == [None] and np.isnan(out.identity_distance[0])
        assert stage.computed == 0 and stage.started
        gate.go.set()
        assert stage.idle(30) and stage.computed == 1


def test_the_request_queue_never_grows(obama3_frame, obama_enrolled, descriptor):
    frame, faces = obama3_frame
    many = Faces.concat([faces.replace(track_id=np.array([i])) for i in range(10)])
    gate, clock = Gated(descriptor), Clock()
    with Identity(obama_enrolled, descriptor=lambda: gate, max_pending=3, clock=clock) as stage:
        for _ in range(5):
            stage(frame, many)
            clock.t += 10.0
            assert stage.pending() <= 3
        gate.go.set()


def test_an_empty_gallery_names_nobody_and_computes_nothing(obama3_frame):
    frame, faces = obama3_frame
    with Identity({}, descriptor=lambda: pytest.fail("no descriptor with an empty gallery")) as stage:
        for _ in range(3):
            out = stage(frame, faces)
        assert out.name.tolist() == [None] and not stage.started and stage.computed == 0


def test_a_new_gallery_is_used_for_the_next_results(obama3_frame, obama_enrolled, descriptor):
    frame, faces = obama3_frame
    clock = Clock()
    with Identity({}, descriptor=lambda: descriptor, clock=clock) as stage:
        assert stage(frame, faces).name[0] is None and not stage.started
        stage.set_people(obama_enrolled)
        for _ in range(3):
            out = stage(frame, faces)
            assert stage.idle(30)
            clock.t += 0.5
        assert out.name[0] == "Barack Obama"


def test_a_broken_model_is_reported_by_the_next_call(obama3_frame, obama_enrolled, tmp_path):
    frame, faces = obama3_frame
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with Identity(obama_enrolled, descriptor=lambda: Descriptor(bad)) as stage:
        with pytest.raises(ModelError, match="bad.onnx"):
            deadline = time.monotonic() + 30  # the worker loads the model in the background
            while time.monotonic() < deadline:
                stage(frame, faces)
                time.sleep(0.05)


# -- the order of looks and the worker's priority ---------------------------------------

@pytest.fixture(scope="module")
def room(load_image, landmarks_of):
    """Four real faces side by side in one frame: ``(frame, faces)`` with tracks 1-4, and chip bytes -> track."""
    names = ["obama.jpg", "biden.jpg", "grace_hopper.jpg", "obama2.jpg"]
    images = [load_image(n) for n in names]
    canvas = np.zeros((max(i.shape[0] for i in images), sum(i.shape[1] for i in images), 3), np.uint8)
    points, x = [], 0
    for name, image in zip(names, images):
        canvas[:image.shape[0], x:x + image.shape[1]] = image
        points.append(landmarks_of(name) + np.array([x, 0, 0], np.float32))
        x += image.shape[1]
    faces = Faces.from_boxes(np.zeros((4, 4), np.float32)).replace(track_id=np.arange(1, 5), landmarks=np.stack(points))
    owner = {face_chip(canvas, p).tobytes(): tid for tid, p in zip(range(1, 5), points)}
    return Frame(canvas, 0, 0.0), faces, owner


class InOrder:
    """The real descriptor; records which track each chip came from, and can be held (``go``)."""

    def __init__(self, inner: Descriptor, owner: dict[bytes, int]) -> None:
        self.inner, self.owner, self.order, self.batches, self.go = inner, owner, [], [], threading.Event()
        self.go.set()

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        self.order += [self.owner[chip.tobytes()] for chip in chips]
        self.batches.append(len(chips))
        assert self.go.wait(30)
        return self.inner(chips)


@pytest.mark.parametrize("max_pending", [3, 2], ids=["room-in-line", "line-full"])
def test_every_new_track_gets_its_first_look_before_any_track_gets_a_second(room, obama_enrolled, descriptor,
                                                                             max_pending):
    frame, faces, owner = room
    clock, looks = Clock(), InOrder(descriptor, owner)
    with Identity(obama_enrolled, descriptor=lambda: looks, max_pending=max_pending, recheck=1.0,
                  clock=clock) as stage:
        stage(frame, faces.select([0]))  # track 1 is named first
        assert stage.idle(30)
        stage(frame, faces.select([0]))
        looks.go.clear()
        stage(frame, faces.select([1]))  # track 2 is being computed (held) while the others arrive
        assert wait_until(lambda: stage.pending() == 0, 30)
        clock.t += 1.0  # track 1 is due for its second look, 3 and 4 for their first
        stage(frame, faces)
        assert stage.pending() == max_pending
        looks.go.set()
        assert stage.idle(30)
        stage(frame, faces)
        assert stage.idle(30)
    assert looks.order == [1, 2, 3, 4, 1, 2], "first looks in the order the tracks appeared, then the second looks"


def test_a_track_waiting_in_line_keeps_its_place_when_its_chip_is_refreshed(room, obama_enrolled, descriptor):
    frame, faces, owner = room
    clock, looks = Clock(), InOrder(descriptor, owner)
    looks.go.clear()
    with Identity(obama_enrolled, descriptor=lambda: looks, settle=0.3, clock=clock) as stage:
        stage(frame, faces.select([0]))  # track 1 is being computed (held)
        assert wait_until(lambda: stage.pending() == 0, 30)
        stage(frame, faces.select([1, 2]))
        clock.t += 0.1
        stage(frame, faces.select([3, 1, 2]))  # 4 appears
        clock.t += 0.3  # 2 and 3 are asked again with fresh chips, after 4
        stage(frame, faces.select([3, 1, 2]))
        assert stage.pending() == 3
        looks.go.set()
        assert stage.idle(30)
    assert looks.order == [1, 2, 3, 4]


def test_faces_that_arrive_while_the_worker_is_busy_are_described_in_one_batch(room, obama_enrolled, descriptor):
    frame, faces, owner = room
    looks = InOrder(descriptor, owner)
    looks.go.clear()
    clock = Clock()
    with Identity(obama_enrolled, descriptor=lambda: looks, clock=clock) as stage:
        stage(frame, faces.select([0]))  # track 1 is being computed (held)
        assert wait_until(lambda: stage.pending() == 0, 30)
        stage(frame, faces)  # 2, 3 and 4 wait together
        looks.go.set()
        assert stage.idle(30)
        assert looks.batches == [1, 3] and looks.order == [1, 2, 3, 4]
        clock.t += 0.5  # a second look settles the ones not sure at first (obama2 lies at 0.44)
        stage(frame, faces)
        assert stage.idle(30)
        names = stage(frame, faces).name.tolist()
    assert names == ["Barack Obama", None, None, "Barack Obama"], "each result went to its own track"


def test_the_worker_runs_level_for_first_looks_and_lower_for_rechecks(obama3_frame, obama_enrolled, descriptor):
    frame, faces = obama3_frame
    worker: list[int] = []
    clock, own = Clock(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with Identity(obama_enrolled, descriptor=lambda: worker.append(threading.get_native_id()) or descriptor, nice=3,
                  recheck=6.0, clock=clock) as stage:
        stage(frame, faces)
        assert stage.idle(60) and stage.computed == 1
        assert os.getpriority(os.PRIO_PROCESS, worker[0]) == own, "the first looks run level with the caller"
        stage(frame, faces)
        clock.t += 6.0
        stage(frame, faces)
        assert stage.idle(60) and stage.computed == 2
        assert os.getpriority(os.PRIO_PROCESS, worker[0]) == min(own + 3, 19), "rechecks run 3 steps lower"
