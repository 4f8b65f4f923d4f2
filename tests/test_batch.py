"""``vcam batch`` as a user runs it, against a real Ray: a head started here with ``ray start --head`` on
127.0.0.1 (shared by the tests through ``--address``), and once a local instance of vcam's own.

Ray keeps its token in ``~/.ray``, so every Ray process here gets its own HOME under pytest's tmp folder.
The clips are real faces (tests/data) moved across a 640×480 frame, 1.5 s at 10 fps.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from vcam.outputs import make_output

VCAM = [sys.executable, "-m", "vcam.cli"]
RAY = str(Path(sys.executable).with_name("ray"))
DATA = Path(__file__).parent / "data"
CORRUPT = "broken.mp4"


def make_clip(path: Path, image: str, frames: int = 15, fps: int = 10) -> Path:
    """``frames`` frames of the test image ``image`` at 640×480, shifted 2 px a frame, as an MP4 at ``fps``."""
    picture = cv2.resize(cv2.imread(str(DATA / image)), (640, 480))
    with make_output(f"file:{path}", width=640, height=480, fps=fps) as out:
        for i in range(frames):
            out.send(np.roll(picture, 2 * i, axis=1))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two clips (Obama, Grace Hopper) and one corrupt 'video' of random bytes."""
    folder = tmp_path_factory.mktemp("clips")
    make_clip(folder / "obama.mp4", "obama.jpg")
    make_clip(folder / "hopper.mp4", "grace_hopper.jpg")
    (folder / CORRUPT).write_bytes(np.random.default_rng(13).integers(0, 256, 4096, np.uint8).tobytes())
    return folder


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every Ray process here: a HOME of its own (Ray's token), no RAY_ADDRESS of the user's."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY")}
    return {**env, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(ray_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """``(address, process)`` of a Ray head on 127.0.0.1 with 2 CPUs, started by ``ray start --head --block``
    and stopped by SIGTERM to that process (which stops what it started) when the module is done."""
    port = _free_port()
    process = subprocess.Popen([RAY, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
                                "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                                f"--temp-dir={tmp_path_factory.mktemp('ray')}"],
                               env=ray_env, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_start(process)
        yield f"127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _wait_for_start(process: subprocess.Popen) -> None:
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "Ray runtime started" in line:
            return
    pytest.fail(f"ray start --head did not start:\n{''.join(seen)}")


def batch(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*VCAM, "batch", *args, "--no-progress"], capture_output=True, text=True,
                          timeout=timeout, env=env)


def index_of(out: Path) -> dict[str, dict]:
    return {e["name"]: e for e in json.loads((out / "index.json").read_text())["recordings"]}


@pytest.fixture(scope="module")
def first_run(clips: Path, head, ray_env, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The clips folder batched once on the test's head."""
    out = tmp_path_factory.mktemp("out")
    return out, batch(str(clips), "--out", str(out), "--address", head[0], env=ray_env)


def test_a_batch_analyses_every_clip_and_marks_the_corrupt_one_failed_with_vcams_error(first_run, clips):
    out, result = first_run
    assert result.returncode == 1, result.stderr
    index = index_of(out)
    assert {name: e["status"] for name, e in index.items()} == {"obama": "done", "hopper": "done", "broken": "failed"}
    assert "cannot read video" in index["broken"]["error"] and str(clips / CORRUPT) in index["broken"]["error"]
    summary = [line for line in result.stderr.splitlines() if " recordings: " in line]
    assert summary == result.stderr.splitlines()[-1:], result.stderr  # one line, the last
    assert "2 done" in summary[0] and "1 failed (broken: cannot read video" in summary[0]
    assert "Traceback" not in result.stderr


def test_each_done_entry_describes_its_recording_and_its_analysis_validates(first_run, clips):
    import hashlib

    out, _ = first_run
    schema = json.loads((resources.files("vcam.schemas") / "analyze.schema.json").read_text())
    for name, file in (("obama", "obama.mp4"), ("hopper", "hopper.mp4")):
        entry, data = index_of(out)[name], (clips / file).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["settings"]["sample"] == "10hz" and entry["settings"]["features"] == ["gaze", "names"]
        assert (entry["frames"], entry["analysed"], entry["duration_s"]) == (15, 15, 1.5)
        assert entry["people"] == 1 and entry["tracks"] == 1 and 0 <= entry["attention"] <= 1
        document = json.loads((out / entry["outputs"]["analysis"]).read_text())
        jsonschema.validate(document, schema)
        assert len(document["frames"]) == 15 and all(len(f["faces"]) == 1 for f in document["frames"])


def test_a_batch_result_is_what_vcam_analyze_gives_the_same_file(first_run, clips):
    from vcam.analyze import analyze

    out, _ = first_run
    alone = analyze(clips / "hopper.mp4", progress=False, sample="10hz")
    batched = json.loads((out / "hopper" / "analysis.json").read_text())
    assert [(f["index"], len(f["faces"])) for f in batched["frames"]] == \
        [(f["index"], len(f["faces"])) for f in alone["frames"]]
    assert [t["frames"] for t in batched["tracks"]] == [t["frames"] for t in alone["tracks"]]


def test_outputs_are_private_and_no_staging_folder_is_left(first_run):
    out, _ = first_run
    assert sorted(p.name for p in out.iterdir()) == ["hopper", "index.html", "index.json", "obama"]
    assert (out / "index.json").stat().st_mode & 0o777 == 0o600
    assert (out / "obama" / "analysis.json").stat().st_mode & 0o777 == 0o600


def test_the_batch_page_compares_every_recording_and_marks_the_failed_one(first_run):
    out, _ = first_run
    page = (out / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and (out / "index.html").stat().st_mode & 0o777 == 0o600
    rows = {name: _row_of(page, name) for name in ("obama", "hopper", "broken")}
    assert "<td>done" in rows["obama"] and "<td>done" in rows["hopper"]
    assert 'class="failed"' in rows["broken"] and "cannot read video" in rows["broken"]
    assert page.count("<h3>") == 2 and page.count('src="data:image/png;base64,') == 2  # a plot per done recording
    assert 'href="obama/analysis.json"' in page and "http" not in page.replace("http-equiv", "")


def _row_of(page: str, name: str) -> str:
    start = page.index(f"<th>{name}</th>")
    return page[page.rindex("<tr", 0, start):page.index("</tr>", start)]


def test_the_batch_page_escapes_names_and_errors_and_lists_people_across_recordings(first_run, tmp_path):
    import shutil

    from vcam.batch_page import write_page

    out, _ = first_run
    entries = json.loads((out / "index.json").read_text())["recordings"]
    done = next(e for e in entries if e["name"] == "obama")
    shutil.copytree(out / "obama", tmp_path / "<b>obama</b>")
    document = json.loads((tmp_path / "<b>obama</b>" / "analysis.json").read_text())
    document["tracks"][0]["participant"] = "Ann <i>&</i> $x$"
    (tmp_path / "<b>obama</b>" / "analysis.json").write_text(json.dumps(document))
    evil = {**done, "name": "<b>obama</b>", "outputs": {"analysis": "<b>obama</b>/analysis.json"}}
    failed = {"name": "<script>alert(1)</script>", "status": "failed", "error": "cannot read <video> & more"}
    page = write_page(tmp_path, {e["name"]: e for e in (evil, failed)}).read_text()
    assert "<script>" not in page and "<b>obama" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "cannot read &lt;video&gt; &amp; more" in page
    assert "<th>Ann &lt;i&gt;&amp;&lt;/i&gt; $x$</th><td>1</td><td>" in page


def test_the_batch_page_lists_each_span_a_recordings_attention_stayed_low():
    from vcam.batch_page import Curve, _moments

    t = np.arange(0, 30, 0.1)
    attention = np.where((t >= 5) & (t < 20), 20.0, 90.0)  # 15 s under 50 %
    page = _moments({"all-hands": Curve(t, attention, np.full(len(t), 0.5), {}, 0)})
    assert "<tr><th>all-hands</th><td>0:05</td><td>0:20</td><td>15 s</td><td>20%</td></tr>" in page


def test_running_again_skips_what_is_done_and_new_settings_analyse_again(clips, head, ray_env, tmp_path):
    good = [str(clips / "obama.mp4"), str(clips / "hopper.mp4")]
    assert batch(*good, "--out", str(tmp_path), "--address", head[0], env=ray_env).returncode == 0
    before = {n: (tmp_path / n / "analysis.json").stat().st_ino for n in ("obama", "hopper")}
    again = batch(*good, "--out", str(tmp_path), "--address", head[0], env=ray_env)
    assert again.returncode == 0 and "0 done, 2 skipped" in again.stderr, again.stderr
    assert {n: (tmp_path / n / "analysis.json").stat().st_ino for n in before} == before
    sparser = batch(good[0], "--out", str(tmp_path), "--address", head[0], "--sample", "every:5", env=ray_env)
    assert sparser.returncode == 0 and "1 done, 0 skipped" in sparser.stderr, sparser.stderr
    assert index_of(tmp_path)["obama"]["analysed"] == 3 and index_of(tmp_path)["hopper"]["analysed"] == 15


def make_pair_clip(path: Path, frames: int, fps: int = 10) -> Path:
    """Obama and Grace Hopper side by side at 640×480, drifting 2 px a frame, as an MP4 at ``fps``."""
    pair = np.hstack([cv2.resize(cv2.imread(str(DATA / name)), (320, 480)) for name in ("obama.jpg",
                                                                                       "grace_hopper.jpg")])
    with make_output(f"file:{path}", width=640, height=480, fps=fps) as out:
        for i in range(frames):
            out.send(np.roll(pair, 2 * (i % 20) - 20, axis=1))
    return path


def test_a_segmented_recording_joins_into_what_vcam_analyze_gives_the_whole_file(head, ray_env, tmp_path):
    from vcam.analyze import analyze
    from vcam.features import Switches

    clip = make_pair_clip(tmp_path / "pair.mp4", frames=45)
    result = batch(str(clip), "--out", str(tmp_path / "out"), "--address", head[0], "--workers", "2",
                   "--segment", "1", env=ray_env)
    assert result.returncode == 0, result.stderr
    entry = index_of(tmp_path / "out")["pair"]
    assert entry["settings"]["segment"] == 1 and len(entry["worker"].split(",")) == 2  # 4 segments, on both workers
    joined = json.loads((tmp_path / "out" / "pair" / "analysis.json").read_text())
    alone = analyze(clip, progress=False, sample="10hz", features=Switches(("gaze", "names")))
    assert [(f["index"], len(f["faces"])) for f in joined["frames"]] == \
        [(f["index"], len(f["faces"])) for f in alone["frames"]]
    assert [f["index"] for f in joined["frames"]] == list(range(45)) and joined["source"] == alone["source"]
    long_tracks = [[t for t in d["tracks"] if t["frames"] >= 10] for d in (joined, alone)]
    assert len(long_tracks[0]) == len(long_tracks[1]) == 2
    assert sorted(t["frames"] for t in joined["tracks"]) == sorted(t["frames"] for t in alone["tracks"])


def test_segments_cover_a_recording_once_with_an_overlap_before_each():
    from vcam.segments import Segment, plan

    assert plan(45, 10.0, 1.0, 0.5) == [Segment(0, 0, 10), Segment(5, 10, 20), Segment(15, 20, 30),
                                        Segment(25, 30, 45)]
    assert plan(15, 10.0, 1.0, 0.5) == [Segment(0, 0, 15)]  # up to 1.5 segments: whole
    assert plan(9000, 30.0, 0, 2.0) == [Segment(0, 0, 9000)] and plan(0, 30.0, 300) == [Segment(0, 0, 0)]


def test_a_killed_worker_is_restarted_by_ray_and_its_recording_finishes(head, ray_env, tmp_path):
    clip = make_clip(tmp_path / "long.mp4", "obama.jpg", frames=120)
    out = tmp_path / "out"
    run = subprocess.Popen([*VCAM, "batch", str(clip), "--out", str(out), "--address", head[0], "--workers", "1",
                            "--sample", "all", "--no-progress"], env=ray_env, stderr=subprocess.PIPE, text=True)
    killed = _kill_a_busy_worker(head[1].pid)
    _, stderr = run.communicate(timeout=240)
    assert run.returncode == 0, stderr
    entry = index_of(out)["long"]
    assert entry["status"] == "done" and entry["analysed"] == 120
    assert not entry["worker"].endswith(f":{killed}")


def _kill_a_busy_worker(session: int, timeout: float = 120) -> int:
    """SIGKILL the first process of ``session`` that runs ``Worker.analyse``; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in _session_processes(session):
            if _cmdline(pid).startswith("ray::Worker.analyse"):
                time.sleep(0.5)  # well into the recording
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.05)
    pytest.fail("no worker was seen analysing")


def _session_processes(session: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # after the name: state, ppid, pgrp, session
            pids.append(int(stat.parent.name))
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_without_an_address_a_local_ray_instance_runs_the_batch_with_timeline_and_report(clips, ray_env, tmp_path):
    result = batch(str(clips / "obama.mp4"), "--out", str(tmp_path), "--workers", "1", "--timeline", "--report",
                   env=ray_env)
    assert result.returncode == 0, result.stderr
    assert "Ray on this machine with 1 workers" in result.stderr
    rate = [line for line in result.stderr.splitlines() if "batch: worker " in line]
    assert len(rate) == 1 and "1 recordings, 1.5 s of video in" in rate[0] and "frames/s" in rate[0], result.stderr
    entry = index_of(tmp_path)["obama"]
    assert (tmp_path / entry["outputs"]["report"]).read_text().lstrip().lower().startswith("<!doctype html")
    assert (tmp_path / entry["outputs"]["timeline"] / "session.json").is_file()


def test_the_progress_bar_counts_frames_of_parts_and_fills_up_for_a_failed_recording():
    from vcam.batch_progress import Progress
    from vcam.batch_worker import Outcome

    progress = Progress(frames=100, recordings=2, enabled=False)
    progress.part(Outcome("a", "done", frames=30, analysed=10, duration_s=1.0, wall_s=2.0, worker="w1", cpu_s=1.5))
    progress.part(Outcome("a", "done", frames=30, analysed=10, duration_s=1.0, wall_s=2.0, worker="w2", cpu_s=2.0))
    progress.recording(Outcome("a", "done", frames=60), 60)
    progress.part(Outcome("b", "failed", "cannot read video", wall_s=0.5, worker="w1"))
    progress.recording(Outcome("b", "failed", "cannot read video"), 40)
    assert progress.frames_done == 100 and (progress.done, progress.failed) == (1, 1)
    rates = {r.worker: r for r in progress.workers.values()}
    assert (rates["w1"].recordings, rates["w1"].video_s, rates["w1"].busy_s, rates["w1"].cpu_s) == (2, 1.0, 2.5, 1.5)
    assert "2 recordings, 1.0 s of video in 2.5 s: 0.40× real time" in rates["w1"].line()
    assert progress.close() >= 0


def test_an_unreachable_address_is_one_clear_error(clips, ray_env, tmp_path):
    result = batch(str(clips / "obama.mp4"), "--out", str(tmp_path), "--address", f"127.0.0.1:{_free_port()}",
                   env=ray_env, timeout=120)
    assert result.returncode == 2 and "cannot start or reach the Ray cluster" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, says", [
    (["nowhere.mp4"], "batch input not found"),
    (["--sample", "0hz", "."], "bad --sample '0hz'"),
    (["--report", "."], "--report needs --timeline"),
])
def test_bad_batch_arguments_are_one_clear_error_before_ray_starts(args, says, tmp_path, ray_env):
    result = subprocess.run([*VCAM, "batch", *args, "--out", str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=60, env=ray_env, cwd=tmp_path)
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "Ray" not in result.stderr


def test_folders_are_searched_for_videos_and_same_named_files_get_distinct_folders(tmp_path):
    from vcam.batch import find_recordings, folder_names

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "talk.MP4").write_bytes(b"x")
    (tmp_path / "a" / "notes.txt").write_text("not a video")
    found = find_recordings([tmp_path])
    assert found == [tmp_path / "a" / "talk.MP4", tmp_path / "b" / "talk.MP4"]
    names = folder_names(found)
    assert len(set(names.values())) == 2 and all(n.startswith("talk-") for n in names.values())
    assert folder_names(found) == names


@pytest.mark.parametrize("fps, rate, indices", [
    (30, "10hz", list(range(0, 30, 3))),
    (25, "10hz", [0, 3, 5, 8, 10, 13, 15, 18, 20, 23]),
    (10, "30hz", list(range(10))),
    (30, "2.5hz", [0, 12, 24]),
])
def test_a_sample_rate_takes_the_first_frame_of_each_slot_of_media_time(fps, rate, indices):
    from vcam.analyze import Sampler
    from vcam.types import Frame

    sampler = Sampler(rate)
    image = np.zeros((4, 4, 3), np.uint8)
    assert [i for i in range(fps) if sampler.wants(Frame(image, i, i / fps))] == indices


@pytest.mark.parametrize("spec", ["0hz", "-1hz", "hz", "1e3hz", "nanhz", "1001hz", "10 hz", "１０hz"])
def test_a_bad_sample_rate_is_a_config_error_naming_it(spec):
    from vcam.analyze import parse_sample
    from vcam.errors import ConfigError

    with pytest.raises(ConfigError, match="bad --sample"):
        parse_sample(spec)
