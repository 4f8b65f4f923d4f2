"""Output specs, the registry, the ``none`` output, and the checks every output makes."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.errors import ConfigError, OutputSpecError
from vcam.outputs import OUTPUT_SPECS, OUTPUTS, open_output
from vcam.outputs.file import FileOutput
from vcam.outputs.null import NullOutput
from vcam.outputs.virtualcam import VirtualCamOutput
from vcam.outputs.window import WindowOutput


def test_each_spec_makes_the_output_it_names_unopened(tmp_path):
    assert type(open_output("vcam")) is VirtualCamOutput
    assert type(open_output("window")) is WindowOutput
    assert type(open_output("none")) is NullOutput
    out = open_output(f"file:{tmp_path}/rec.mp4")
    assert type(out) is FileOutput and out.path == tmp_path / "rec.mp4"
    assert not out.poll() and not (tmp_path / "rec.mp4").exists()


def test_the_registry_maps_every_kind_to_its_class():
    assert OUTPUTS == {"vcam": VirtualCamOutput, "window": WindowOutput, "file": FileOutput, "none": NullOutput}


def test_size_rate_and_mirror_are_passed_to_the_output():
    out = open_output("none", width=640, height=360, fps=15, mirror=True)
    assert (out.name, out.width, out.height, out.fps, out.mirror) == ("none", 640, 360, 15.0, True)


def test_defaults_are_1280x720_at_30_fps_unmirrored():
    out = open_output("vcam")
    assert (out.width, out.height, out.fps, out.mirror, out.frames_sent) == (1280, 720, 30.0, False, 0)


def test_vcam_with_a_backend_name_picks_that_pyvirtualcam_backend():
    out = open_output("vcam:obs")
    assert out.backend == "obs" and out.name == "vcam:obs"


@pytest.mark.parametrize("spec", ["bogus", "", "webcam", "window:2", "none:1", "vcam:"])
def test_an_unknown_spec_is_an_output_spec_error_listing_the_valid_specs(spec):
    with pytest.raises(OutputSpecError) as info:
        open_output(spec)
    assert OUTPUT_SPECS in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec", ["file:x.avi", "file:out", "file:movie.MKV"])
def test_a_file_spec_not_ending_in_mp4_says_mp4_is_expected(spec):
    with pytest.raises(OutputSpecError, match=r"must end in \.mp4") as info:
        open_output(spec)
    assert OUTPUT_SPECS in str(info.value)


@pytest.mark.parametrize("spec", ["file:", "file:  "])
def test_a_file_spec_without_a_path_says_a_path_is_expected(spec):
    with pytest.raises(OutputSpecError, match="expected file:PATH.mp4"):
        open_output(spec)


def test_an_uppercase_mp4_suffix_is_accepted():
    assert open_output("file:OUT.MP4").path.name == "OUT.MP4"


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"height": 100000}, {"width": 640.5}, {"fps": 0}])
def test_an_out_of_range_size_or_rate_is_a_config_error_naming_it(kwargs):
    (name,) = kwargs
    with pytest.raises(ConfigError, match=f"output {name} must be"):
        open_output("none", **kwargs)


def test_none_counts_the_frames_it_discards():
    with open_output("none") as out:
        for _ in range(7):
            out.send(np.zeros((480, 640, 3), np.uint8))
        assert out.poll()
    assert out.frames_sent == 7
    assert not out.poll()


def test_sending_a_float_image_is_a_type_error():
    with open_output("none") as out, pytest.raises(TypeError, match="uint8"):
        out.send(np.zeros((480, 640, 3), np.float32))


def test_sending_a_list_is_a_type_error():
    with open_output("none") as out, pytest.raises(TypeError, match="uint8 numpy array"):
        out.send([[0, 0, 0]])


@pytest.mark.parametrize("shape", [(480, 640), (480, 640, 4), (480, 640, 1), (0, 640, 3)])
def test_sending_an_image_that_is_not_h_w_3_is_a_value_error(shape):
    with open_output("none") as out, pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        out.send(np.zeros(shape, np.uint8))
    assert out.frames_sent == 0


def test_sending_before_open_is_an_output_error():
    from vcam.errors import OutputError

    with pytest.raises(OutputError, match="with"):
        open_output("none").send(np.zeros((4, 4, 3), np.uint8))


def test_a_closed_output_cannot_be_reopened():
    from vcam.errors import OutputError

    out = open_output("none").open()
    out.close()
    with pytest.raises(OutputError, match="make a new one"):
        out.open()
