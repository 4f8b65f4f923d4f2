"""One set of limits: the config, the outputs and the sources refuse and accept the same sizes and rates."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.config import SETTINGS, Config, validate
from vcam.errors import ConfigError
from vcam.limits import FPS, FRAMES, HEIGHT, PORT, SECONDS, STREAM_FPS, WIDTH, Range, check_even, check_even_size
from vcam.outputs.file import FileOutput
from vcam.outputs.null import NullOutput
from vcam.sources.demo import DemoSource
from vcam.sources.screen import ScreenSource
from vcam.sources.video import VideoSource
from vcam.sources.window import WindowSource


def refusal(make) -> str | None:
    """The ConfigError message ``make()`` raises, or None when it is accepted."""
    try:
        make()
    except ConfigError as err:
        return str(err)
    return None


# -- Range ------------------------------------------------------------------------------------------------------

def test_a_range_accepts_both_ends_and_refuses_just_outside():
    assert 16 in WIDTH and 7680 in WIDTH and 15 not in WIDTH and 7681 not in WIDTH
    assert 0.1 in SECONDS and 0.09 not in SECONDS


def test_a_whole_range_refuses_fractions_bools_and_text():
    assert 640.0 not in WIDTH and True not in PORT and "640" not in WIDTH
    assert np.int64(640) in WIDTH, "numpy integers are whole numbers too"


def test_an_out_of_range_value_is_one_error_naming_it_the_range_and_the_value():
    with pytest.raises(ConfigError) as err:
        HEIGHT.check(8)
    assert str(err.value) == "height must be between 16 and 4320, got 8"


def test_the_name_in_the_message_can_be_more_precise():
    with pytest.raises(ConfigError, match=r"^output fps must be between 1 and 240, got 0$"):
        STREAM_FPS.check(0, "output fps")


@pytest.mark.parametrize("limit, value, message", [
    (WIDTH, 640.5, "width must be a whole number between 16 and 7680, got 640.5"),
    (WIDTH, "wide", "width must be a whole number between 16 and 7680, got 'wide'"),
    (FPS, "fast", "fps must be a number between 1 and 120, got 'fast'"),
    (FPS, float("nan"), "fps must be between 1 and 120, got nan"),
    (FRAMES, 0, "frames must be between 1 and 1000000000, got 0"),
    (SECONDS, 0.05, "seconds must be between 0.1 and 10000000, got 0.05"),
    (PORT, 70000, "port must be between 0 and 65535, got 70000"),
])
def test_a_value_of_the_wrong_kind_says_which_kind_is_expected(limit, value, message):
    with pytest.raises(ConfigError) as err:
        limit.check(value)
    assert str(err.value) == message


def test_the_even_rule_names_the_value_and_why():
    check_even("width", 640)
    check_even_size(640, 360)
    with pytest.raises(ConfigError, match=r"^width must be even \(video encoders need it\), got 641$"):
        check_even("width", 641)
    with pytest.raises(ConfigError, match=r"got 640x361$"):
        check_even_size(640, 361)


def test_a_range_reads_the_same_in_errors_and_in_help():
    assert (Range("x", 1, 2).between, Range("x", 1, 2).span) == ("between 1 and 2", "from 1 to 2")


# -- the config and the outputs agree ------------------------------------------------------------------------------

@pytest.mark.parametrize("limit, field", [(WIDTH, "width"), (HEIGHT, "height")])
def test_config_and_an_output_accept_and_refuse_the_same_sizes(limit, field):
    for value in (limit.lo - 2, limit.lo, limit.hi, limit.hi + 2):
        by_config = refusal(lambda: Config(**{field: value}))
        by_output = refusal(lambda: NullOutput(**{field: value}))
        assert (by_config is None) == (by_output is None) == (value in limit), (value, by_config, by_output)
        if by_config is not None:
            assert limit.between in by_config and limit.between in by_output


def test_every_fps_the_config_allows_an_output_takes():
    for value in (FPS.lo, 29.97, FPS.hi):
        assert refusal(lambda: Config(fps=value)) is None and refusal(lambda: NullOutput(fps=value)) is None
    for value in (FPS.lo - 0.01, STREAM_FPS.hi + 1):
        by_config, by_output = refusal(lambda: Config(fps=value)), refusal(lambda: NullOutput(fps=value))
        assert FPS.between in by_config and STREAM_FPS.between in by_output


def test_an_output_also_takes_the_faster_rate_of_a_video_file_the_config_does_not_offer():
    assert FPS.hi < 240 <= STREAM_FPS.hi
    assert refusal(lambda: NullOutput(fps=240)) is None
    assert FPS.between in refusal(lambda: Config(fps=240))


def test_a_240_fps_clip_plays_at_its_rate_and_its_output_takes_that_rate(tmp_path):
    clip = tmp_path / "slow_motion.mp4"
    with FileOutput(clip, width=64, height=48, fps=240) as out:
        for i in range(3):
            out.send(np.full((48, 64, 3), 60 * i, np.uint8))
    with VideoSource(clip, realtime=False) as src:
        assert src.fps == pytest.approx(240)
        with NullOutput(fps=src.fps) as sink:
            for frame in src:
                sink.send(frame.image)
    assert sink.frames_sent == 3


@pytest.mark.parametrize("key, limit", [("width", WIDTH), ("height", HEIGHT), ("fps", FPS), ("port", PORT)])
def test_the_config_file_quotes_the_same_range_it_checks(key, limit):
    assert limit.span in SETTINGS[key].allowed
    with pytest.raises(ConfigError, match=limit.between):
        validate(key, limit.hi + 2)


# -- the sources that take a rate or a size ------------------------------------------------------------------------

SOURCES_WITH_A_RATE = {
    "demo": lambda fps: DemoSource(fps=fps),
    "screen": lambda fps: ScreenSource("screen", fps=fps),
    "window": lambda fps: WindowSource("window:Zoom", "Zoom", fps=fps),
}


@pytest.mark.parametrize("kind", SOURCES_WITH_A_RATE)
def test_a_source_accepts_and_refuses_the_same_fps_as_the_config(kind):
    make = SOURCES_WITH_A_RATE[kind]
    for value in (FPS.lo - 0.5, FPS.lo, FPS.hi, FPS.hi + 1):
        by_config, by_source = refusal(lambda: Config(fps=value)), refusal(lambda: make(value))
        assert (by_config is None) == (by_source is None) == (value in FPS), (value, by_config, by_source)
        if by_source is not None:
            assert FPS.between in by_source


@pytest.mark.parametrize("field, limit", [("width", WIDTH), ("height", HEIGHT)])
def test_the_demo_refuses_a_frame_size_the_config_refuses(field, limit):
    assert limit.between in refusal(lambda: DemoSource(**{field: limit.hi + 2}))
    assert refusal(lambda: DemoSource(rows=1, cols=1, **{field: limit.hi})) is None
