"""parse_output: every spec form becomes one OutputSpec, every bad one one message, and nothing is made or opened."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vcam.errors import OutputSpecError
from vcam.outputs import OUTPUT_SPECS, OutputSpec, parse_output


@pytest.mark.parametrize("spec, expected", [
    ("vcam", OutputSpec("vcam", "vcam")),
    ("vcam:obs", OutputSpec("vcam", "vcam:obs", backend="obs")),
    (" vcam: unitycapture ", OutputSpec("vcam", "vcam: unitycapture", backend="unitycapture")),
    ("window", OutputSpec("window", "window")),
    ("none", OutputSpec("none", "none")),
    ("file:out.mp4", OutputSpec("file", "file:out.mp4", path=Path("out.mp4"))),
    ("file: talks/OUT.MP4 ", OutputSpec("file", "file: talks/OUT.MP4", path=Path("talks/OUT.MP4"))),
])
def test_every_spec_form_parses_to_its_kind_and_fields(spec, expected):
    assert parse_output(spec) == expected


def test_a_file_path_is_user_expanded():
    assert parse_output("file:~/rec.mp4").path == Path.home() / "rec.mp4"


def test_parsing_opens_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)  # a window needs a display only when it opens
    assert parse_output(f"file:{tmp_path}/no/such/folder/rec.mp4").kind == "file"
    assert parse_output("window").kind == "window" and parse_output("vcam:nosuchbackend").backend == "nosuchbackend"
    assert list(tmp_path.iterdir()) == []


def test_a_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_output("vcam").backend = "obs"


@pytest.mark.parametrize("spec, message", [
    ("bogus", f"unknown output 'bogus': expected one of {OUTPUT_SPECS}"),
    ("", f"unknown output '': expected one of {OUTPUT_SPECS}"),
    ("webcam", f"unknown output 'webcam': expected one of {OUTPUT_SPECS}"),
    ("window:2", f"unknown output 'window:2': expected one of {OUTPUT_SPECS}"),
    ("none:1", f"unknown output 'none:1': expected one of {OUTPUT_SPECS}"),
    ("vcam:", f"bad output 'vcam:': expected vcam or vcam:BACKEND, e.g. vcam:obs; valid outputs: {OUTPUT_SPECS}"),
    ("file", f"bad output 'file': expected file:PATH.mp4, e.g. file:out.mp4; valid outputs: {OUTPUT_SPECS}"),
    ("file:", f"bad output 'file:': expected file:PATH.mp4, e.g. file:out.mp4; valid outputs: {OUTPUT_SPECS}"),
    ("file:x.avi", f"bad output 'file:x.avi': the file must end in .mp4 (H.264), e.g. file:out.mp4; "
                   f"valid outputs: {OUTPUT_SPECS}"),
    ("file:out", "bad output 'file:out': the file must end in .mp4 (H.264)"),
])
def test_a_bad_spec_is_one_output_spec_error_saying_what_was_expected(spec, message):
    with pytest.raises(OutputSpecError) as err:
        parse_output(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
