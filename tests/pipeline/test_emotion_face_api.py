"""emotion with face-api's expression net: the ONNX model against face-api's own tfjs run, the manifest's crop."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vcam.errors import ModelError
from vcam.manifest import load_manifest
from vcam.models import model_path
from vcam.pipeline import Analyzer
from vcam.pipeline.emotion import Emotion
from vcam.pipeline.emotion_crop import FER, CropSpec, face_crop, face_input, model_batch
from vcam.types import EMOTIONS, Frame

ROOT = Path(__file__).resolve().parents[2]
CROPS = ROOT / "tests" / "data" / "emotion" / "face-api"
GOLDEN = json.loads((CROPS / "golden.json").read_text())  # face-api 1.7.15 on tfjs 4.22 (cpu), by the node script
FACE_API_ORDER = ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"]  # face-api's names, vcam's words


@pytest.fixture(scope="module")
def stage():
    emotion = Emotion.from_manifest("emotion-face-api")
    yield emotion
    emotion.close()


def committed_crop(entry: dict) -> np.ndarray:
    """A committed crop as ``(112, 112, 3) uint8`` RGB."""
    return cv2.cvtColor(cv2.imread(str(CROPS / entry["crop"])), cv2.COLOR_BGR2RGB)


def tfjs_probs_in_vcam_order() -> np.ndarray:
    """face-api's own ``(N, 7)`` probabilities from the golden file, columns reordered to EMOTIONS."""
    assert GOLDEN["labels"] == ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
    probs = np.array([e["probs"] for e in GOLDEN["crops"]], np.float64)
    return probs[:, [FACE_API_ORDER.index(name) for name in EMOTIONS]]


# -- the conversion -------------------------------------------------------------------


def test_the_onnx_model_gives_face_api_s_tfjs_probabilities_on_real_face_crops_within_1e_5(stage):
    batch = model_batch([committed_crop(e) for e in GOLDEN["crops"]], stage.spec)
    probs = stage.run(batch)
    assert batch.shape == (10, 112, 112, 3) and probs.shape == (10, 7)
    assert np.abs(probs - tfjs_probs_in_vcam_order()).max() <= 1e-5
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_each_crop_s_top_class_is_the_one_face_api_gave(stage):
    probs = stage.run(model_batch([committed_crop(e) for e in GOLDEN["crops"]], stage.spec))
    face_api_word = dict(zip(FACE_API_ORDER, GOLDEN["labels"]))
    assert [face_api_word[EMOTIONS[i]] for i in probs.argmax(axis=1)] == [e["top"] for e in GOLDEN["crops"]]


def test_the_golden_file_came_from_face_api_on_the_pure_javascript_cpu_backend():
    assert GOLDEN["source"].startswith(
        "@vladmandic/face-api@1.7.15 FaceExpressionNet, @tensorflow/tfjs@4.22.0 backend cpu")
    assert len({e["top"] for e in GOLDEN["crops"]}) >= 3, "the crops exercise several classes"


# -- the manifest's crop ----------------------------------------------------------------


def test_the_manifest_gives_face_api_a_112_px_rgb_crop_in_0_255_and_its_class_order():
    spec = CropSpec.from_model(load_manifest()["emotion-face-api"])
    assert spec == CropSpec(112, "rgb", "x", tuple(FACE_API_ORDER)) and spec.channels == 3
    assert CropSpec.from_model(load_manifest()["emotion-fer"]) == FER


def test_the_stage_s_crop_of_each_real_image_and_box_is_the_committed_crop(load_image):
    spec = CropSpec.from_model(load_manifest()["emotion-face-api"])
    for entry in GOLDEN["crops"]:
        crop = face_crop(load_image(entry["image"]), np.array(entry["bbox"], np.float32), spec)
        assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
        assert np.abs(crop.astype(int) - committed_crop(entry)).max() <= 1, entry["crop"]


def test_the_rgb_and_grey_crops_cut_the_same_square_of_the_face(load_image):
    image, box = load_image("grace_hopper.jpg"), np.array([168.13, 131.58, 186.58, 203.55], np.float32)
    rgb = face_crop(image, box, CropSpec(64, "rgb", "x", EMOTIONS))
    grey = face_crop(image, box, FER)
    assert np.abs(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(int) - grey).max() <= 2


def test_an_rgb_face_over_the_frame_edge_is_filled_with_the_bottom_rows_mean_colour(load_image):
    image = load_image("obama.jpg")
    spec = CropSpec(112, "rgb", "x", EMOTIONS)
    outside = face_crop(image, np.array([-900, -900, 100, 120], np.float32), spec)
    bgr_mean = np.array(cv2.mean(image[-2:])[:3])
    assert outside.shape == (112, 112, 3) and np.abs(outside[0, 0] - np.round(bgr_mean[::-1])).max() <= 0.5
    assert (outside == outside[0, 0]).all()
    assert face_input(image, np.array([-900, -900, 100, 120], np.float32), spec).max() > 1, "0..255, not scaled"


def test_a_smiling_face_reads_happy_through_the_whole_stage(stage, load_image):
    image = load_image("obama.jpg")
    with Analyzer() as analyzer:
        faces = analyzer.process(Frame(image, 0, 0.0)).faces
    out = stage(Frame(image, 0, 0.0), faces)
    assert EMOTIONS[int(out.emotion[0].argmax())] == "happy" and out.valence[0] > 0.5


def test_the_analyzer_runs_the_emotion_model_it_is_given_and_fer_s_by_default(load_image):
    image = load_image("obama.jpg")
    for name, size in (("emotion-face-api", 112), (None, 64)):
        kwargs = {"emotion_model": name} if name else {}
        with Analyzer(["emotion"], **kwargs) as analyzer:
            faces = analyzer.process(Frame(image, 0, 0.0)).faces
            assert analyzer.stage("emotion").built().spec.size == size
        assert EMOTIONS[int(faces.emotion[0].argmax())] == "happy"


def test_a_new_choice_of_model_rebuilds_the_emotion_stage_alone_at_the_next_frame(load_image):
    image = load_image("group3.jpg")
    chosen = ["emotion-fer"]
    with Analyzer(["emotion"], emotion_model=lambda: chosen[0]) as analyzer:
        first = analyzer.process(Frame(image, 0, 0.0)).faces
        others = {s.name: s for s in analyzer.stages if s.name != "emotion"}
        assert analyzer.stage("emotion").built().spec.size == 64
        chosen[0] = "emotion-face-api"
        second = analyzer.process(Frame(image, 1, 0.1)).faces
        assert analyzer.stage("emotion").built().spec.size == 112
        assert {s.name: s for s in analyzer.stages if s.name != "emotion"} == others
    assert len(first) == len(second) == 3
    assert second.track_id.tolist() == first.track_id.tolist()  # the tracker went on: same faces, same ids
    fresh = Emotion.from_manifest("emotion-face-api")
    raw = fresh.classify(image, second.bbox)
    fresh.close()
    assert np.allclose(second.emotion, raw / raw.sum(axis=1, keepdims=True), atol=1e-5), \
        "face-api's own first look at each face, not smoothed with fer's values"


# -- errors ----------------------------------------------------------------------------------


def test_a_model_that_does_not_take_the_spec_s_input_is_a_model_error_naming_both_shapes():
    with pytest.raises(ModelError, match=r"input \['N', 112, 112, 3\].*expected \(N, 64, 64, 1\)"):
        Emotion(model_path("emotion-face-api"), spec=FER)


def test_a_manifest_model_without_an_image_input_is_no_emotion_model():
    with pytest.raises(ModelError, match="face-descriptor has no input_size"):
        Emotion.from_manifest("face-descriptor")


def test_labels_that_are_not_an_order_of_vcam_s_emotions_are_refused():
    with pytest.raises(ModelError, match="not an order of"):
        CropSpec(112, "rgb", "x", ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"))
    with pytest.raises(ModelError, match="scaling in"):
        CropSpec(112, "rgb", "x/255", EMOTIONS)
