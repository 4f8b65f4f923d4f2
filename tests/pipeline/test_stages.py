"""The stage contract (vcam.pipeline.stage) and the analyzer's one loop over its stages."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vcam import pipeline
from vcam.features import Switches
from vcam.pipeline import Analyzer, StageError, default_stages
from vcam.pipeline.stage import Lazy, Stage, Step
from vcam.pipeline.track import Track
from vcam.types import Faces, Frame

FRAME = Frame(np.zeros((64, 64, 3), np.uint8), 0, 0.0)


class Recording:
    """A stage that adds one face per call and remembers what it was told."""

    def __init__(self, name: str, feature: str | None = None) -> None:
        self.name, self.feature = name, feature
        self.calls, self.forgotten, self.closed = 0, [], 0

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        self.calls += 1
        return faces

    def forget(self, track_ids: set[int]) -> None:
        self.forgotten.append(set(track_ids))

    def close(self) -> None:
        self.closed += 1


def test_every_default_stage_keeps_the_contract_in_the_documented_order():
    stages = default_stages()
    try:
        assert all(isinstance(s, Stage) for s in stages)
        documented = re.findall(r"^    ([a-z]+)  ", pipeline.__doc__, re.MULTILINE)
        assert [s.name for s in stages] == documented == [
            "tracks", "layout", "detect", "track", "landmarks", "observe", "tiles", "names", "relabel", "pose",
            "gaze", "identity", "emotion", "engagement"]
        assert {s.name: s.feature for s in stages if s.feature} == {
            "names": "names", "gaze": "gaze", "identity": "identity", "emotion": "emotion",
            "engagement": "gaze"}
    finally:
        for s in stages:
            s.close()


def test_a_stage_whose_feature_is_off_does_not_run_and_every_stage_forgets_ended_tracks():
    track, always, blink = Track(), Recording("always"), Recording("blink", "emotion")
    switches = Switches(["gaze"])
    with Analyzer(switches, stages=[track.start, track, always, blink]) as analyzer:
        analysis = analyzer.process(FRAME)
        switches.set("emotion", True)
        analyzer.process(FRAME)
    assert (always.calls, blink.calls) == (2, 1)
    assert analysis.features == ("gaze",) and set(analysis.timings) == {"tracks", "track", "always"}
    assert always.forgotten == [set(), set()] and always.closed == 1 and blink.closed == 1


def test_a_stage_that_raises_is_reported_with_its_name_and_feature():
    def broken(frame, faces):
        raise RuntimeError("no")

    track = Track()
    with Analyzer(["gaze"], stages=[track.start, track, Step("wink", broken, "gaze")]) as analyzer:
        with pytest.raises(StageError, match="stage wink failed: RuntimeError: no") as info:
            analyzer.process(FRAME)
    assert (info.value.stage, info.value.feature) == ("wink", "gaze")


def test_a_lazy_stage_is_built_when_first_needed_and_afresh_after_it_is_dropped():
    built: list[Recording] = []

    def make() -> Recording:
        built.append(Recording("emotion", "emotion"))
        return built[-1]

    track, lazy = Track(), Lazy("emotion", "emotion", make)
    switches = Switches(["gaze"])
    with Analyzer(switches, stages=[track.start, track, lazy]) as analyzer:
        analyzer.process(FRAME)
        assert built == []
        switches.set("emotion", True)
        analyzer.process(FRAME)
        analyzer.drop("emotion")
        analyzer.process(FRAME)
    assert len(built) == 2 and built[0].closed == 1 and built[1].calls == 1


def test_an_analyzer_without_a_tracker_is_refused():
    with pytest.raises(ValueError, match="need a Track"):
        Analyzer(["gaze"], stages=[Recording("always")])
