"""make_output and the OUTPUTS registry, the ``none`` output, and the checks every output makes."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.errors import ConfigError, OutputSpecError
from vcam.outputs import OUTPUT_SPECS, OUTPUTS, OutputSpec, make_output, parse_output
from vcam.outputs.file import FileOutput
from vcam.outputs.null import NullOutput
from vcam.outputs.virtualcam import VirtualCamOutput
from vcam.outputs.window import WindowOutput


def test_each_spec_makes_the_output_it_names_unopened(tmp_path):
    assert type(make_output("vcam")) is VirtualCamOutput
    assert type(make_output("window")) is WindowOutput
    assert type(make_output("none")) is NullOutput
    out = make_output(f"file:{tmp_path}/rec.mp4")
    assert type(out) is FileOutput and out.path == tmp_path / "rec.mp4"
    assert not out.poll() and not (tmp_path / "rec.mp4").exists()


def test_the_registry_maps_every_kind_to_a_factory_of_its_class(tmp_path):
    examples = {"vcam": "vcam", "window": "window", "file": f"file:{tmp_path}/a.mp4", "none": "none"}
    made = {kind: type(OUTPUTS[kind](parse_output(examples[kind]), width=640, height=360, fps=15.0, mirror=False))
            for kind in OUTPUTS}
    assert made == {"vcam": VirtualCamOutput, "window": WindowOutput, "file": FileOutput, "none": NullOutput}


def test_a_parsed_spec_makes_the_same_output_as_its_text(tmp_path):
    out = make_output(parse_output(f"file:{tmp_path}/rec.mp4"), width=640, height=360, fps=15, mirror=True)
    assert (type(out), out.name, out.path, out.width, out.height, out.fps, out.mirror) == \
        (FileOutput, f"file:{tmp_path}/rec.mp4", tmp_path / "rec.mp4", 640, 360, 15.0, True)


def test_a_kind_with_no_factory_is_a_spec_error_listing_the_known_kinds():
    with pytest.raises(OutputSpecError) as err:
        make_output(OutputSpec("printer", "printer"))
    assert "'printer'" in str(err.value) and "known kinds are vcam, window, file, none" in str(err.value)


def test_a_registered_factory_makes_its_kind(monkeypatch):
    calls = []

    def factory(spec, *, width, height, fps, mirror):
        calls.append((spec, width, height, fps, mirror))
        return NullOutput(spec.text, width=width, height=height, fps=fps, mirror=mirror)

    monkeypatch.setitem(OUTPUTS, "window", factory)
    out = make_output("window", width=320, height=240, fps=10, mirror=True)
    assert type(out) is NullOutput and calls == [(parse_output("window"), 320, 240, 10, True)]


def test_size_rate_and_mirror_are_passed_to_the_output():
    out = make_output("none", width=640, height=360, fps=15, mirror=True)
    assert (out.name, out.width, out.height, out.fps, out.mirror) == ("none", 640, 360, 15.0, True)


def test_defaults_are_1280x720_at_30_fps_unmirrored():
    out = make_output("vcam")
    assert (out.width, out.height, out.fps, out.mirror, out.frames_sent) == (1280, 720, 30.0, False, 0)


def test_vcam_with_a_backend_name_picks_that_pyvirtualcam_backend():
    out = make_output("vcam:obs")
    assert out.backend == "obs" and out.name == "vcam:obs"


@pytest.mark.parametrize("spec", ["bogus", "", "webcam", "window:2", "none:1", "vcam:"])
def test_an_unknown_spec_is_an_output_spec_error_listing_the_valid_specs(spec):
    with pytest.raises(OutputSpecError) as info:
        make_output(spec)
    assert OUTPUT_SPECS in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec", ["file:x.avi", "file:out", "file:movie.MKV"])
def test_a_file_spec_not_ending_in_mp4_says_mp4_is_expected(spec):
    with pytest.raises(OutputSpecError, match=r"must end in \.mp4") as info:
        make_output(spec)
    assert OUTPUT_SPECS in str(info.value)


@pytest.mark.parametrize("spec", ["file:", "file:  "])
def test_a_file_spec_without_a_path_says_a_path_is_expected(spec):
    with pytest.raises(OutputSpecError, match="expected file:PATH.mp4"):
        make_output(spec)


def test_an_uppercase_mp4_suffix_is_accepted():
    assert make_output("file:OUT.MP4").path.name == "OUT.MP4"


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"height": 100000}, {"width": 640.5}, {"fps": 0}])
def test_an_out_of_range_size_or_rate_is_a_config_error_naming_it(kwargs):
    (name,) = kwargs
    with pytest.raises(ConfigError, match=f"output {name} must be"):
        make_output("none", **kwargs)


def test_none_counts_the_frames_it_discards():
    with make_output("none") as out:
        for _ in range(7):
            out.send(np.zeros((480, 640, 3), np.uint8))
        assert out.poll()
    assert out.frames_sent == 7
    assert not out.poll()


def test_sending_a_float_image_is_a_type_error():
    with make_output("none") as out, pytest.raises(TypeError, match="uint8"):
        out.send(np.zeros((480, 640, 3), np.float32))


def test_sending_a_list_is_a_type_error():
    with make_output("none") as out, pytest.raises(TypeError, match="uint8 numpy array"):
        out.send([[0, 0, 0]])


@pytest.mark.parametrize("shape", [(480, 640), (480, 640, 4), (480, 640, 1), (0, 640, 3)])
def test_sending_an_image_that_is_not_h_w_3_is_a_value_error(shape):
    with make_output("none") as out, pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        out.send(np.zeros(shape, np.uint8))
    assert out.frames_sent == 0


def test_sending_before_open_is_an_output_error():
    from vcam.errors import OutputError

    with pytest.raises(OutputError, match="with"):
        make_output("none").send(np.zeros((4, 4, 3), np.uint8))


def test_a_closed_output_cannot_be_reopened():
    from vcam.errors import OutputError

    out = make_output("none").open()
    out.close()
    with pytest.raises(OutputError, match="make a new one"):
        out.open()
