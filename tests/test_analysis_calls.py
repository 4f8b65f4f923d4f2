"""Calls made on the analysis thread at its next frame: answered to the asker, errors passed back, a call
whose asker gave up is never run late."""

from __future__ import annotations

import threading
import time

import pytest

from vcam.analysis_calls import AnalysisCalls
from vcam.errors import VcamError


class Frames(threading.Thread):
    """A stand-in analysis thread: runs the waiting calls every 10 ms with ``analyzer``, records its thread."""

    def __init__(self, calls: AnalysisCalls, analyzer: object) -> None:
        super().__init__(daemon=True)
        self.calls, self.analyzer, self.stop = calls, analyzer, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.calls.run(self.analyzer)


def test_a_call_runs_on_the_analysis_thread_and_answers_the_asker():
    calls, analyzer = AnalysisCalls(), object()
    frames = Frames(calls, analyzer)
    frames.start()
    try:
        ran_on, got = calls.ask(lambda a: (threading.current_thread(), a), "test")
    finally:
        frames.stop.set()
    assert ran_on is frames and got is analyzer


def test_what_the_call_raises_reaches_the_asker_and_the_analysis_goes_on():
    calls = AnalysisCalls()
    frames = Frames(calls, None)
    frames.start()
    try:
        with pytest.raises(VcamError, match="gaze is off"):
            calls.ask(lambda a: (_ for _ in ()).throw(VcamError("gaze is off")), "test")
        assert calls.ask(lambda a: 42, "test") == 42
    finally:
        frames.stop.set()


def test_no_frame_in_time_is_one_clear_error_and_the_call_never_runs_late():
    calls, ran = AnalysisCalls(), []
    started = time.monotonic()
    with pytest.raises(VcamError, match="gaze calibration did not happen: no frame was analysed for 0.2 s"):
        calls.ask(ran.append, "gaze calibration", timeout=0.2)
    assert time.monotonic() - started < 2
    calls.run("late analyzer")
    assert ran == []
