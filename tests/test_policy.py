"""vcam.policy: the reconnect backoff and the stage-failure policy, as pure code with the clock passed in."""

from __future__ import annotations

import pytest

from vcam.errors import ModelError
from vcam.policy import GIVE_UP_AFTER, PROBLEM_SHOWN_S, Backoff, StageFailures


def test_backoff_waits_half_a_second_then_doubles_up_to_ten():
    backoff = Backoff(now=100.0)
    assert not backoff.due(100.4) and backoff.due(100.5)
    waits, now = [], 100.5
    for _ in range(7):
        backoff.failed(now)
        waits.append(backoff.retry_at - now)
        now = backoff.retry_at
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert backoff.remaining(now - 3.0) == 3.0 and backoff.remaining(now + 1.0) == 0.0


def test_a_failure_is_logged_once_however_often_it_happens():
    policy = StageFailures()
    verdicts = [policy.failed("pose", None, RuntimeError("bad points"), float(t)) for t in range(5)]
    assert [v.log for v in verdicts] == [True, False, False, False, False]
    assert policy.failed("pose", None, RuntimeError("other"), 5.0).log, "a different failure is logged too"


def test_a_stage_that_always_runs_is_never_switched_off():
    policy = StageFailures(give_up_after=3)
    assert all(policy.failed("pose", None, RuntimeError("x"), float(t)).switch_off is None for t in range(10))


def test_an_optional_stage_is_switched_off_after_give_up_after_failures_in_a_row():
    policy = StageFailures()
    verdicts = [policy.failed("gaze", "gaze", RuntimeError("nan"), t / 10) for t in range(GIVE_UP_AFTER)]
    assert [v.switch_off for v in verdicts] == [None] * (GIVE_UP_AFTER - 1) + ["gaze"]
    assert policy.notice == "gaze switched off: nan"


def test_a_good_frame_in_between_resets_the_count():
    policy = StageFailures(give_up_after=3)
    policy.failed("gaze", "gaze", RuntimeError("x"), 0.0)
    policy.failed("gaze", "gaze", RuntimeError("x"), 0.1)
    policy.succeeded()
    assert policy.failed("gaze", "gaze", RuntimeError("x"), 0.2).switch_off is None


def test_a_broken_model_switches_its_feature_off_at_once():
    verdict = StageFailures().failed("emotion", "emotion", ModelError("model emotion-fer is corrupt"), 0.0)
    assert verdict.switch_off == "emotion" and verdict.log


def test_the_problem_is_shown_for_a_while_after_the_last_failure():
    policy = StageFailures()
    assert policy.problem(0.0) is None
    policy.failed("pose", None, RuntimeError("bad points"), 10.0)
    assert "stage pose failed: RuntimeError: bad points" in policy.problem(10.0 + PROBLEM_SHOWN_S - 0.1)
    assert policy.problem(10.0 + PROBLEM_SHOWN_S) is None


def test_a_switched_off_feature_stays_the_problem_until_a_feature_is_switched():
    policy = StageFailures()
    policy.failed("identity", "identity", ModelError("descriptor missing"), 0.0)
    assert policy.problem(1000.0) == "identity switched off: descriptor missing"
    policy.switched()
    assert policy.problem(1000.0) is None


@pytest.mark.parametrize("kept", [1, 3])
def test_distinct_failures_remembered_are_bounded(kept):
    policy = StageFailures(remembered=kept)
    logged = [policy.failed("pose", None, RuntimeError(str(i)), 0.0).log for i in range(10)]
    assert sum(logged) == kept
