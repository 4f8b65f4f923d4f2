"""Names and emotion chips: shown only when their feature ran, with estimates labelled."""

from __future__ import annotations

import dataclasses

import numpy as np

from overlay import Style, draw
from overlay.compose import _label_text, _prepare
from vcam.types import EMOTIONS


def test_a_named_face_is_labelled_with_its_name(scene):
    faces = scene.faces([(100, 100, 120, 140)], [True]).replace(name=np.array(["Ada"], object))
    analysis = dataclasses.replace(scene.analysis(faces, (640, 360)), features=("gaze", "identity"))
    face = _prepare(analysis, 640, 360)[0]
    assert _label_text(face, Style()) == "#1 Ada looking"


def test_identity_on_with_no_match_says_unknown_and_identity_off_says_nothing(scene):
    faces = scene.faces([(100, 100, 120, 140)], [False])
    on = dataclasses.replace(scene.analysis(faces, (640, 360)), features=("gaze", "identity"))
    off = scene.analysis(faces, (640, 360))
    assert _label_text(_prepare(on, 640, 360)[0], Style()) == "#1 unknown away"
    assert _label_text(_prepare(off, 640, 360)[0], Style()) == "#1 away"


def test_an_emotion_chip_is_drawn_inside_the_box_only_when_emotion_ran(scene):
    probs = np.zeros((1, len(EMOTIONS)), np.float32)
    probs[0, EMOTIONS.index("happy")] = 0.8
    probs[0, EMOTIONS.index("neutral")] = 0.2
    base = scene.faces([(200, 80, 200, 240)], [True])
    with_emotion = base.replace(emotion=probs, valence=np.array([0.6], np.float32), arousal=np.array([0.3], np.float32))
    image = np.full((360, 640, 3), 60, np.uint8)
    plain = draw(image, scene.analysis(base, (640, 360)))
    chipped = draw(image, scene.analysis(with_emotion, (640, 360)))
    b, g, r = Style().emotion_chip
    chip_pixels = np.all(chipped[240:320, 200:400] == (b, g, r), axis=2).sum()
    assert chip_pixels > 200
    assert np.all(plain[240:320, 200:400] == (b, g, r), axis=2).sum() == 0
    face = _prepare(scene.analysis(with_emotion, (640, 360)), 640, 360)[0]
    assert face.emotion == ("happy", np.float32(0.8)) and face.affect == (np.float32(0.6), np.float32(0.3))
