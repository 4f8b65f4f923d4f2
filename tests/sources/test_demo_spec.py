"""The demo spec grammar: classic forms keep their meaning, themed forms carry their options, bad ones say the fix."""

from __future__ import annotations

import pytest

from vcam.errors import ConfigError, SourceSpecError
from vcam.sources import make_source, parse_source
from vcam.sources.demo import DemoSource
from vcam.sources.demo_spec import DEMO_FORMS, DemoOptions


@pytest.mark.parametrize("spec, rows, cols, size", [
    ("demo", 3, 3, (1920, 1080)),
    ("demo:7x7", 7, 7, (1920, 1080)),
    ("demo:2x3@1280x720", 2, 3, (1280, 720)),
])
def test_the_classic_forms_have_no_options_so_they_keep_their_look(spec, rows, cols, size):
    parsed = parse_source(spec)
    assert (parsed.rows, parsed.cols, parsed.size, parsed.demo) == (rows, cols, size, None)


@pytest.mark.parametrize("spec, rows, cols, size, options", [
    ("demo:zoom", 3, 3, (1920, 1080), DemoOptions("zoom")),
    ("demo:teams", 3, 3, (1920, 1080), DemoOptions("teams")),
    ("demo:zoom:5x5", 5, 5, (1920, 1080), DemoOptions("zoom")),
    ("demo:zoom:7x7@1280x720", 7, 7, (1280, 720), DemoOptions("zoom")),
    ("demo:zoom:n=23", 5, 5, (1920, 1080), DemoOptions("zoom", people=23)),
    ("demo:teams:n=10", 3, 4, (1920, 1080), DemoOptions("teams", people=10)),
    ("demo:zoom:n=2", 1, 2, (1920, 1080), DemoOptions("zoom", people=2)),
    ("demo:zoom:n=23:off=3", 5, 5, (1920, 1080), DemoOptions("zoom", people=23, off=3)),
    ("demo:teams:@1280x720:light:speaker", 3, 3, (1280, 720), DemoOptions("teams", speaker=True, light=True)),
    ("demo:churn:zoom:seed=7:n=12", 3, 4, (1920, 1080), DemoOptions("zoom", people=12, churn=True, seed=7)),
    ("demo:off=2", 3, 3, (1920, 1080), DemoOptions("classic", off=2)),
])
def test_a_themed_spec_parses_to_its_grid_size_and_options(spec, rows, cols, size, options):
    parsed = parse_source(spec)
    assert (parsed.kind, parsed.rows, parsed.cols, parsed.size, parsed.demo) == ("demo", rows, cols, size, options)


@pytest.mark.parametrize("spec, message", [
    ("demo:skype", f"bad demo source 'demo:skype': expected {DEMO_FORMS}; 'skype' is none of these"),
    ("demo:zoom:", "bad demo source 'demo:zoom:': expected demo or demo:ROWSxCOLS"),
    ("demo:zoom:n=50", "bad demo source 'demo:zoom:n=50': n must be between 1 and 49 (a gallery page shows at most 49), got 50"),
    ("demo:zoom:n=0", "n must be between 1 and 49"),
    ("demo:zoom:n=x", "bad demo source 'demo:zoom:n=x': n= takes a whole number >= 0, got 'x'"),
    ("demo:zoom:n=23@1280x720", "the frame size is a token of its own, e.g. demo:zoom:n=23:@1280x720"),
    ("demo:zoom:5x5:n=20", "bad demo source 'demo:zoom:5x5:n=20': give either ROWSxCOLS or n=N, not both"),
    ("demo:zoom:off=10", "bad demo source 'demo:zoom:off=10': off must be between 0 and the 9 people, got 10"),
    ("demo:zoom:n=4:off=5", "off must be between 0 and the 4 people, got 5"),
    ("demo:zoom:teams", "bad demo source 'demo:zoom:teams': 'teams' is given twice"),
    ("demo:zoom:churn:churn", "'churn' is given twice"),
    ("demo:zoom:2x2:@1280x720", "'@1280x720' is given twice (or the grid or size is)"),
    ("demo:zoom:0x3", "DemoSource rows must be >= 1, got 0"),
    ("demo:zoom:n=49@320x180", "takes a whole number"),
    ("demo:zoom:n=49:@192x108", "DemoSource 7x7 tiles in 192x108 pixels are too small (23x13); use fewer"),
    ("demo:zoom:n=36:churn:@224x126", "DemoSource 6x7 tiles in 224x126 pixels are too small"),
])
def test_a_bad_demo_spec_is_one_line_naming_the_token_and_the_fix(spec, message):
    with pytest.raises(SourceSpecError) as err:
        parse_source(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_churn_checks_the_largest_grid_it_can_reach_and_no_churn_only_its_own():
    assert parse_source("demo:zoom:n=36:@224x126").demo == DemoOptions("zoom", people=36)


def test_make_source_passes_every_option_to_the_demo_source():
    src = make_source("demo:teams:n=10:off=2:churn:speaker:light:seed=3:@1280x720", realtime=False)
    assert isinstance(src, DemoSource)
    assert (src.rows, src.cols, src.people, src.size, src.seed) == (3, 4, 10, (1280, 720), 3)
    assert src.look.name == "teams-light"
    truth = src.truth(0)
    assert truth.kind == "speaker"
    assert sum(tile.camera_off for tile in src.meeting.at(0, 0.0).tiles) <= 2


@pytest.mark.parametrize("kwargs, name", [({"theme": "skype"}, "theme"), ({"people": 0}, "people"),
                                          ({"people": 10}, "people"), ({"off": 10}, "off"), ({"off": -1}, "off")])
def test_the_demo_source_names_the_argument_out_of_range(kwargs, name):
    with pytest.raises(ConfigError, match=f"DemoSource {name} must be"):
        DemoSource(realtime=False, **kwargs)
