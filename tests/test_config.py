"""The config file and ``vcam config``: settings persist, bad ones are refused by name, a broken file is never lost."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import av
import pytest
from platformdirs import user_config_dir

from vcam.cli import build_parser, config_from_args, main
from vcam.config import EU_MODE_REFUSAL, SETTINGS, Config, ConfigError, parse_value
from vcam.config_file import config_path, load_config, load_settings, update_file


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> Path:
    """The config file of this test (not created yet), as ``VCAM_CONFIG`` names it."""
    path = tmp_path / "conf" / "config.toml"
    monkeypatch.setenv("VCAM_CONFIG", str(path))
    return path


def vcam(*args: str) -> int:
    """Run the ``vcam`` command in this process (``-v``: no native-log filter on pytest's stderr)."""
    return main(["-v", *args])


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def show_rows(text: str) -> dict[str, tuple[str, str]]:
    """``vcam config show`` output as ``{setting: (value, origin)}``."""
    rows = [line.split() for line in text.splitlines()[2:]]
    return {row[0]: (" ".join(row[1:-1]), row[-1]) for row in rows}


# -- where the file is ---------------------------------------------------------------------------------------

def test_config_path_prints_the_file_vcam_config_names(cfg, capsys):
    assert vcam("config", "path") == 0
    assert capsys.readouterr().out == f"{cfg}\n"


def test_without_vcam_config_the_file_is_in_the_user_config_folder(monkeypatch):
    monkeypatch.delenv("VCAM_CONFIG", raising=False)
    assert config_path() == Path(user_config_dir("vcam")) / "config.toml"


def test_with_no_file_the_settings_are_the_defaults(cfg, capsys):
    assert load_settings() == {} and load_config() == Config()
    assert vcam("config", "show") == 0
    out = capsys.readouterr().out
    assert str(cfg) in out and "not created yet" in out
    assert all(origin == "default" for _, origin in show_rows(out).values())
    assert not cfg.exists(), "showing the settings creates no file"


# -- set, show, load -----------------------------------------------------------------------------------------

def test_set_then_show_then_load_config_round_trips(cfg, capsys):
    for key, value in [("source", "demo:2x2"), ("identity", "on"), ("width", "1920"), ("height", "1080"),
                       ("fps", "25"), ("port", "8800"), ("mirror", "yes")]:
        assert vcam("config", "set", key, value) == 0
    assert vcam("config", "show") == 0
    rows = show_rows(capsys.readouterr().out)
    assert rows["source"] == ("demo:2x2", "file") and rows["identity"] == ("true", "file")
    assert rows["fps"] == ("25.0", "file") and rows["port"] == ("8800", "file")
    assert rows["emotion"] == ("false", "default") and rows["output"] == ("auto", "default")
    assert set(rows) == set(SETTINGS)
    assert load_config() == Config(source="demo:2x2", identity=True, width=1920, height=1080, fps=25.0, port=8800,
                                   mirror=True)


def test_set_writes_the_file_readable_only_by_the_user_and_keeps_other_keys(cfg):
    assert vcam("config", "set", "gaze", "off") == 0
    assert vcam("config", "set", "output", "none") == 0
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert load_settings() == {"gaze": False, "output": "none"}


def test_unset_goes_back_to_the_default(cfg, capsys):
    update_file({"gaze": False, "port": 9000})
    assert vcam("config", "unset", "port") == 0
    assert load_settings() == {"gaze": False} and load_config().port is None
    assert vcam("config", "show") == 0
    assert show_rows(capsys.readouterr().out)["port"] == ("(unset)", "default")


def test_update_file_takes_text_or_real_values_and_none_removes_a_key(cfg):
    update_file({"identity": True, "width": 640, "height": "480", "fps": 15, "gallery": "/data/g.sqlite3"})
    update_file({"gallery": None, "overlay": "false"})
    assert load_settings() == {"identity": True, "width": 640, "height": 480, "fps": 15.0, "overlay": False}
    assert list(load_settings()) == ["identity", "width", "height", "fps", "overlay"], "the file keeps its order"


def test_a_hand_written_file_is_read_with_toml_types(cfg):
    cfg.parent.mkdir()
    cfg.write_text('# mine\nsource = "screen:0,0,1280,720"\nfps = 24\nfeed = false\naggregate_only = true\n')
    assert load_config() == Config(source="screen:0,0,1280,720", fps=24.0, feed=False, aggregate_only=True)


def test_paths_given_to_config_set_are_made_absolute(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "talk.mp4").write_bytes(b"")
    assert parse_value("source", "talk.mp4") == str(tmp_path / "talk.mp4")
    assert parse_value("output", "file:out/rec.mp4") == f"file:{tmp_path / 'out' / 'rec.mp4'}"
    assert parse_value("gallery", "people.sqlite3") == str(tmp_path / "people.sqlite3")
    assert parse_value("source", "webcam:1") == "webcam:1"
    assert parse_value("source", "window:Zoom Meeting") == "window:Zoom Meeting"  # checked when it opens, as screen is


# -- every bad value is one error that names the key, the value and what is allowed --------------------------

@pytest.mark.parametrize("key, value, message", [
    ("widht", "1280", "unknown setting 'widht': did you mean 'width'?"),
    ("eu-mode", "true", "did you mean 'eu_mode'?"),
    ("frames", "10", "frames is set per run"),
    ("identity", "maybe", "identity must be true or false"),
    ("width", "wide", "width must be an even whole number from 16 to 7680, got 'wide'"),
    ("fps", "fast", "fps must be a number from 1 to 120, got 'fast'"),
    ("port", "70000", "port must be between 0 and 65535, got 70000"),
    ("fps", "0", "fps must be between 1 and 120"),
    ("height", "8", "height must be between 16 and 4320, got 8"),
    ("width", "1281", "width must be even (video encoders need it), got 1281"),
    ("source", "nonsense", "source = 'nonsense' is not allowed: unknown source 'nonsense'"),
    ("source", "webcam:x", "source = 'webcam:x' is not allowed"),
    ("source", "window:", "give part of the window's title"),
    ("source", "missing.mp4", "video file not found: 'missing.mp4'"),
    ("output", "printer", "output = 'printer' is not allowed: unknown output 'printer'"),
    ("output", "file:out.avi", "must end in .mp4"),
    ("fallback_file", "out.avi", "must end in .mp4"),
    ("gallery", " ", "'vcam config unset gallery' goes back to the default"),
    ("emotion_model", "face-descriptor", "not an emotion model of vcam's manifest; choose one of emotion-fer, "
                                         "emotion-face-api"),
])
def test_a_bad_setting_is_one_error_and_nothing_is_written(cfg, caplog, tmp_path, monkeypatch, key, value, message):
    monkeypatch.chdir(tmp_path)
    assert vcam("config", "set", key, value) == 2
    assert len(errors(caplog)) == 1 and message in errors(caplog)[0], errors(caplog)
    assert not cfg.exists()


def test_the_emotion_model_is_a_setting_and_a_flag_that_wins_over_it(cfg):
    assert Config().emotion_model == "emotion-fer"
    assert vcam("config", "set", "emotion_model", "emotion-face-api") == 0
    assert load_config().emotion_model == "emotion-face-api"
    assert config_from_args(build_parser().parse_args(["run"])).emotion_model == "emotion-face-api"
    args = build_parser().parse_args(["run", "--emotion-model", "emotion-fer"])
    assert config_from_args(args).emotion_model == "emotion-fer"


def test_an_unknown_emotion_model_flag_is_refused_before_the_run(cfg):
    with pytest.raises(ConfigError, match="choose one of emotion-fer, emotion-face-api"):
        config_from_args(build_parser().parse_args(["run", "--emotion-model", "emotion-large"]))


def test_vcam_analyze_refuses_an_unknown_emotion_model_before_opening_the_video(cfg, caplog, tmp_path):
    out = tmp_path / "out.json"
    assert vcam("analyze", str(tmp_path / "absent.mp4"), "--json", str(out), "--emotion", "--emotion-model", "x") == 2
    assert "emotion_model 'x' is not an emotion model" in errors(caplog)[0] and not out.exists()


def test_emotion_is_refused_while_eu_mode_is_on(cfg, caplog):
    assert vcam("config", "set", "eu_mode", "true") == 0
    before = cfg.read_bytes()
    assert vcam("config", "set", "emotion", "true") == 2
    assert errors(caplog) == [f"error: {EU_MODE_REFUSAL}"]
    assert cfg.read_bytes() == before


def test_update_file_refuses_eu_mode_and_emotion_together(cfg):
    with pytest.raises(ConfigError) as err:
        update_file({"eu_mode": True, "emotion": True})
    assert str(err.value) == EU_MODE_REFUSAL and not cfg.exists()


# -- a broken file is reported, never replaced ----------------------------------------------------------------

BROKEN = b'source = "demo"\nwidth = 12 80\n# my notes\n'


@pytest.fixture
def broken(cfg) -> Path:
    cfg.parent.mkdir()
    cfg.write_bytes(BROKEN)
    return cfg


@pytest.mark.parametrize("args", [["config", "show"], ["run", "--frames", "1"], ["config", "set", "width", "640"],
                                  ["config", "unset", "width"]])
def test_a_file_that_is_not_toml_is_one_error_naming_file_and_line_and_stays_as_it_was(broken, caplog, args):
    assert vcam(*args) == 2
    [message] = errors(caplog)
    assert str(broken) in message and "line 2" in message and "not valid TOML" in message
    assert "vcam config path" in message
    assert broken.read_bytes() == BROKEN


def test_vcam_run_on_a_broken_file_prints_one_line_and_no_traceback(broken):
    env = {**os.environ, "VCAM_CONFIG": str(broken)}
    result = subprocess.run([sys.executable, "-m", "vcam.cli", "run", "--frames", "1"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if "error" in line] == result.stderr.splitlines()
    assert len(result.stderr.splitlines()) == 1 and f"{broken}" in result.stderr and "line 2" in result.stderr
    assert broken.read_bytes() == BROKEN


@pytest.mark.parametrize("text, key, line, fix", [
    ('gaze = true\nwidth = 1281\n', "width", 2, "vcam config set width VALUE"),
    ('mirror = "yes"\n', "mirror", 1, "vcam config set mirror VALUE"),
    ('gaze = true\n\nwidht = 640\n', "did you mean 'width'", 3, "vcam config unset widht"),
    ('source = "nonsense"\n', "unknown source 'nonsense'", 1, "vcam config set source VALUE"),
    ('eu_mode = true\nemotion = true\n', "EU mode", 2, "vcam config set emotion VALUE"),
])
def test_a_bad_value_in_the_file_names_the_file_the_line_and_the_fix(cfg, caplog, text, key, line, fix):
    cfg.parent.mkdir()
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert f"{cfg}, line {line}" in message and key in message and fix in message
    assert vcam("config", "show") == 2 and errors(caplog) == [f"error: {message}"]
    assert vcam("config", "set", "overlay", "false") == 2, "a change elsewhere does not overwrite a broken file"
    assert "nothing was written" in errors(caplog)[-1]
    assert cfg.read_text() == text


def test_setting_the_bad_key_to_a_good_value_fixes_the_file(cfg):
    cfg.parent.mkdir()
    cfg.write_text("gaze = false\nwidth = 1281\n")
    assert vcam("config", "set", "width", "1280") == 0
    assert load_settings() == {"gaze": False, "width": 1280}


def test_unsetting_an_unknown_key_in_the_file_fixes_it(cfg):
    cfg.parent.mkdir()
    cfg.write_text("gaze = false\nwidht = 640\n")
    assert vcam("config", "unset", "widht") == 0
    assert load_settings() == {"gaze": False}


# -- vcam run: defaults < file < flags -------------------------------------------------------------------------

def run_config(*flags: str) -> Config:
    return config_from_args(build_parser().parse_args(["run", *flags]))


def test_vcam_run_without_flags_takes_the_file(cfg):
    update_file({"source": "demo", "identity": True, "mirror": True, "feed": False, "width": 640, "height": 480})
    assert run_config() == Config(source="demo", identity=True, mirror=True, feed=False, width=640, height=480)


def test_flags_given_to_vcam_run_override_the_file(cfg):
    update_file({"source": "demo", "identity": True, "mirror": True, "gaze": False, "width": 640, "height": 480,
                 "port": 9000})
    config = run_config("--source", "webcam:1", "--no-identity", "--no-mirror", "--gaze", "--size", "320x240",
                        "--frames", "5", "--port", "0")
    assert config == Config(source="webcam:1", identity=False, mirror=False, gaze=True, width=320, height=240,
                            frames=5, port=0)


def test_eu_mode_on_the_command_line_turns_off_emotion_from_the_file(cfg):
    update_file({"emotion": True})
    config = run_config("--eu-mode")
    assert config.eu_mode and not config.emotion


def test_emotion_on_the_command_line_is_refused_while_the_file_has_eu_mode(cfg, caplog):
    update_file({"eu_mode": True})
    with pytest.raises(ConfigError, match="vcam config set eu_mode false"):
        run_config("--emotion")


def test_vcam_run_sends_video_as_the_config_file_says(cfg, tmp_path):
    out = tmp_path / "run.mp4"
    update_file({"source": "demo:1x1@320x240", "output": f"file:{out}", "width": 320, "height": 240,
                 "feed": False})
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run([sys.executable, "-m", "vcam.cli", "run", "--frames", "5"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (320, 240)


# -- a config file that is not one vcam could have written ---------------------------------------------


def test_a_config_nested_100000_levels_deep_is_one_error_and_exit_2(tmp_path, monkeypatch, caplog):
    from vcam.cli import main

    path = tmp_path / "config.toml"
    path.write_text("source = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nests tables or arrays too deeply"):
        load_settings(path)
    monkeypatch.setenv("VCAM_CONFIG", str(path))
    assert main(["config", "show"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "too deeply" in errors[0]


def test_a_config_that_is_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    """A FIFO with no writer blocks a plain open forever; the read runs on a thread so a hang fails the test."""
    import threading

    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            load_settings(fifo)
            outcome.append(None)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader so the test process can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert outcome and isinstance(outcome[0], ConfigError), "refused, not waited on"
    assert "not a regular file" in str(outcome[0])



def test_a_config_with_an_integer_of_5000_digits_or_a_source_path_too_long_for_the_system_is_one_error(tmp_path):
    for text in ["width = " + "1" * 5000, 'source = "' + "a" * 100_000 + '"']:
        path = tmp_path / "config.toml"
        path.write_text(text + "\n")
        with pytest.raises(ConfigError, match="config.toml"):
            load_settings(path)
