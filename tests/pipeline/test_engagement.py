"""engagement: attention as the time-weighted share of a window, expression, the one formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vcam.errors import ConfigError
from vcam.pipeline.engagement import AttentionWindow, Engagement, expression_of
from vcam.types import EMOTIONS, Faces, Frame

FRAME = np.zeros((4, 4, 3), np.uint8)


def faces(track_ids: list[int], on: list[bool], emotion: np.ndarray | None = None) -> Faces:
    n = len(track_ids)
    out = Faces.from_boxes(np.tile(np.array([[10, 10, 80, 80]], np.float32), (n, 1))).replace(
        track_id=np.array(track_ids), on_screen=np.array(on, bool))
    return out if emotion is None else out.replace(emotion=emotion)


def probs(top: str, p: float) -> np.ndarray:
    """A 7-class distribution with ``p`` on ``top`` and the rest spread evenly."""
    row = np.full(len(EMOTIONS), (1 - p) / (len(EMOTIONS) - 1), np.float32)
    row[EMOTIONS.index(top)] = p
    return row


def run(stage: Engagement, samples: list[tuple[float, bool]], tid: int = 1) -> Faces:
    out = None
    for i, (t, on) in enumerate(samples):
        out = stage(Frame(FRAME, i, t), faces([tid], [on]))
    return out


def test_attention_is_the_share_of_the_window_spent_looking_at_the_screen():
    samples = [(i / 10, i < 60) for i in range(101)]  # 6 s on, then 4 s away, at 10 Hz
    assert run(Engagement(window=10.0), samples).attention[0] == pytest.approx(0.6, abs=0.011)


def test_attention_forgets_what_happened_before_the_window():
    samples = [(i / 10, i < 60) for i in range(201)]  # looked for 6 s, then away for 14 s
    assert run(Engagement(window=10.0), samples).attention[0] == 0.0


def test_attention_weights_each_sample_by_how_long_it_lasted():
    """A slow frame counts for its duration: 9 s on, then two frames off within 1 s is 90 %, not a third."""
    assert run(Engagement(window=10.0), [(0.0, True), (9.0, False), (10.0, False)]).attention[0] == pytest.approx(0.9)


def test_a_newcomer_is_judged_on_the_time_since_they_were_first_seen():
    stage = Engagement(window=10.0)
    assert run(stage, [(100.0, True)], tid=5).attention[0] == 1.0
    assert run(stage, [(101.0, False), (102.0, False)], tid=5).attention[0] == pytest.approx(0.5)


def test_time_running_backwards_restarts_a_track_history():
    stage = Engagement(window=10.0)
    run(stage, [(t, False) for t in range(10)])
    assert run(stage, [(0.0, True)]).attention[0] == 1.0, "a looping video starts over"


def test_history_grows_with_look_aways_not_with_the_frame_rate():
    window = AttentionWindow(10.0)
    for i in range(3000):
        window.add(i / 30, True)
    assert len(window._runs) == 1 and window.share() == 1.0


def test_without_emotion_engagement_is_attention_alone():
    out = run(Engagement(), [(i / 10, i % 2 == 0) for i in range(50)])
    assert math.isnan(out.expression[0])
    assert out.engagement[0] == pytest.approx(out.attention[0])
    assert Engagement().weights(has_expression=False) == (1.0, 0.0)


def test_with_emotion_engagement_mixes_attention_and_expression_by_the_documented_weights():
    emotion = np.stack([probs("neutral", 0.8), probs("happy", 0.9)])
    stage = Engagement(w_attention=0.75, w_expression=0.25)
    out = stage(Frame(FRAME, 0, 0.0), faces([1, 2], [True, False], emotion))
    assert out.expression == pytest.approx([0.2, 1 - emotion[1, EMOTIONS.index("neutral")]], abs=1e-6)
    assert out.engagement == pytest.approx(0.75 * out.attention + 0.25 * out.expression, abs=1e-6)
    assert out.engagement[0] == pytest.approx(0.75 * 1.0 + 0.25 * 0.2)


def test_weights_are_renormalised_to_sum_to_one():
    stage = Engagement(w_attention=3.0, w_expression=1.0)
    assert stage.weights(True) == pytest.approx((0.75, 0.25))
    emotion = probs("surprise", 1.0)[None]
    assert stage(Frame(FRAME, 0, 0.0), faces([1], [True], emotion)).engagement[0] == pytest.approx(1.0)


def test_expression_is_unknown_for_faces_whose_emotion_was_not_computed():
    emotion = np.stack([probs("sad", 0.7), np.full(len(EMOTIONS), np.nan, np.float32)])
    assert np.isnan(expression_of(emotion)[1]) and expression_of(emotion)[0] == pytest.approx(1 - 0.05)


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"w_attention": 0}, {"w_expression": -0.1}])
def test_out_of_range_settings_are_refused_naming_the_value(kwargs):
    with pytest.raises(ConfigError, match=str(next(iter(kwargs.values())))):
        Engagement(**kwargs)


def test_forget_drops_the_history_of_tracks_that_are_gone():
    stage = Engagement()
    stage(Frame(FRAME, 0, 0.0), faces([1, 2, 3], [True, False, True]))
    stage.forget({2})
    assert set(stage._tracks) == {2}


def test_no_faces_pass_through_unchanged():
    empty = Faces.empty()
    assert Engagement()(Frame(FRAME, 0, 0.0), empty) is empty
