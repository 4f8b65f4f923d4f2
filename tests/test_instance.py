"""One vcam per user (vcam.instance), with real processes, real sockets and real OS locks.

Each test gets its own VCAM_RUNTIME_DIR (tests/conftest.py), inherited by the processes it starts.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vcam.errors import AlreadyRunningError, ConfigError
from vcam.instance import claim, deliver, send

FIRST = """
import sys, threading
from vcam.instance import claim
quit = threading.Event()
def on_message(text):
    print("got", text, flush=True)
    if text == "quit":
        quit.set()
instance = claim(on_message, transport=sys.argv[1])
print("ready", flush=True)
quit.wait(120)
instance.close()
print("closed", flush=True)
"""

SECOND = """
import sys
from vcam.errors import AlreadyRunningError
from vcam.instance import claim
try:
    claim(print, transport=sys.argv[1])
except AlreadyRunningError as err:
    print(err)
    sys.exit(3)
print("became the instance")
"""

BUSY = """
import mmap, sys, time
from vcam.instance import claim
with open(sys.argv[1], "r+b") as f:
    flag = mmap.mmap(f.fileno(), 1)
def on_message(text):
    print("got", text, flush=True)
    while text == "show" and flag[0] == 0:  # busy, as 'vcam run' is while a quit stops it, until released
        time.sleep(0.01)
instance = claim(on_message, messages=("show", "quit", "ping"))
print("ready", flush=True)
sys.stdin.read()
instance.close()
"""


class Process:
    """A child ``python -c CODE`` whose stdout lines are collected as they come."""

    def __init__(self, code: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect(self, line: str, timeout: float = 20.0) -> None:
        """Wait until the child printed ``line``."""
        deadline = time.monotonic() + timeout
        while line not in self.seen:
            self.seen.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))

    def drain(self) -> list[str]:
        """Every line printed so far."""
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def first(request: pytest.FixtureRequest) -> Iterator[Process]:
    """A first vcam instance in its own process (unix transport unless parametrized), ready."""
    proc = Process(FIRST, getattr(request, "param", "unix"))
    try:
        proc.expect("ready")
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def busy(tmp_path: Path) -> Iterator[tuple[Process, Callable[[], None]]]:
    """A running instance whose thread is busy handling a "show" (it answers nobody) until ``release()``."""
    flag = tmp_path / "flag"
    flag.write_bytes(b"\0")
    proc = Process(BUSY, str(flag))

    def release() -> None:
        with open(flag, "r+b") as f:
            f.write(b"\1")

    try:
        proc.expect("ready")
        assert send("show") is True
        proc.expect("got show")
        yield proc, release
    finally:
        release()
        proc.stop()


def recorder() -> tuple[list[str], threading.Event, Callable[[str], None]]:
    """``(messages, got_one, on_message)`` for an instance claimed in this process."""
    messages: list[str] = []
    got = threading.Event()

    def on_message(text: str) -> None:
        messages.append(text)
        got.set()

    return messages, got, on_message


@pytest.mark.parametrize("first", ["unix", "tcp"], indirect=True)
def test_a_second_launch_exits_and_the_first_keeps_running(first: Process) -> None:
    transport = first.proc.args[-1]
    second = subprocess.run([sys.executable, "-c", SECOND, transport], capture_output=True, text=True, timeout=60)
    assert second.returncode == 3, second.stdout + second.stderr
    assert "vcam is already running" in second.stdout
    assert f"pid {first.proc.pid}" in second.stdout
    assert "Quit in its tray menu" in second.stdout and f"kill {first.proc.pid}" in second.stdout
    first.expect("got show")
    assert first.proc.poll() is None


def test_quit_is_delivered_and_then_the_next_launch_becomes_the_instance(first: Process) -> None:
    assert send("quit") is True
    first.expect("got quit")
    first.expect("closed")
    assert first.proc.wait(timeout=10) == 0
    messages, got, on_message = recorder()
    with claim(on_message) as instance:
        assert instance.pid == os.getpid()
        assert send("show") is True
        assert got.wait(5) and messages == ["show"]


def test_a_killed_instance_leaves_a_stale_socket_and_the_next_claim_succeeds(first: Process,
                                                                              private_runtime_dir: Path) -> None:
    sock = private_runtime_dir / "vcam.sock"
    assert sock.exists()
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    assert sock.exists(), "kill -9 gives the instance no chance to clean up"
    assert send("show", timeout=0.5) is False
    messages, got, on_message = recorder()
    with claim(on_message):
        assert send("show") is True
        assert got.wait(5) and messages == ["show"]


def test_a_busy_instance_is_told_from_an_absent_one_and_never_acts_on_the_message_its_sender_withdrew(busy) -> None:
    proc, release = busy
    delivery = deliver("quit", timeout=1.0)
    assert delivery.state == "busy" and delivery.pid == proc.proc.pid
    release()
    assert send("ping", timeout=20) is True, "once free it answers; the withdrawn quit was read first"
    proc.expect("got ping")
    assert "got quit" not in proc.drain() and proc.proc.poll() is None


def test_vcam_quit_says_a_busy_vcam_is_running_and_that_vcam_does_not_quit_later(busy) -> None:
    proc, release = busy
    quit_ = subprocess.run([sys.executable, "-m", "vcam", "quit"], capture_output=True, text=True, timeout=60)
    assert quit_.returncode == 2 and "no vcam is running" not in quit_.stderr
    assert f"vcam is running (pid {proc.proc.pid}) but did not answer within 5 s" in quit_.stderr
    assert f"kill {proc.proc.pid}" in quit_.stderr
    release()
    assert send("ping", timeout=20) is True
    proc.expect("got ping")
    assert "got quit" not in proc.drain() and proc.proc.poll() is None


def test_an_instance_acts_only_once_the_sender_confirms_it_got_the_answer(private_runtime_dir: Path) -> None:
    import json

    messages, got, on_message = recorder()
    with claim(on_message) as instance:
        token = json.loads((private_runtime_dir / "vcam.addr").read_text())["token"]
        with socket.socket(socket.AF_UNIX) as client:  # says quit, reads the answer, then leaves unconfirmed
            client.settimeout(5)
            client.connect(instance.address)
            client.sendall(f"{token} quit\n".encode())
            assert client.recv(100).startswith(b"ok ")
        assert send("show") is True
        assert got.wait(5) and messages == ["show"]


def test_garbage_silence_and_wrong_tokens_do_not_break_the_instance(first: Process, private_runtime_dir: Path) -> None:
    path = str(private_runtime_dir / "vcam.sock")
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(path)  # connects, says nothing, stays open
    for payload in (os.urandom(20000), b"\x00\xff" * 50 + b"\n", b"show\n", b"0123456789abcdef show\n", b""):
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(path)
            try:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)
                assert client.recv(100) == b"", "no answer without the right token"
            except (BrokenPipeError, ConnectionResetError):
                pass  # the instance hung up on an oversized line: fine
    assert send("show") is True
    first.expect("got show")
    silent.close()
    assert first.proc.poll() is None
    assert [line for line in first.drain() if line.startswith("got")] == ["got show"]


def test_the_socket_and_address_files_are_private(first: Process, private_runtime_dir: Path) -> None:
    assert stat.S_ISSOCK((private_runtime_dir / "vcam.sock").stat().st_mode)
    assert stat.S_IMODE((private_runtime_dir / "vcam.sock").stat().st_mode) == 0o600
    assert stat.S_IMODE((private_runtime_dir / "vcam.addr").stat().st_mode) == 0o600
    assert stat.S_IMODE((private_runtime_dir / "vcam.lock").stat().st_mode) == 0o600


def test_a_new_runtime_folder_is_created_private(private_runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = private_runtime_dir / "made" / "here"
    monkeypatch.setenv("VCAM_RUNTIME_DIR", str(folder))
    with claim(lambda text: None):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_runtime_folder_others_can_write_is_refused(private_runtime_dir: Path) -> None:
    private_runtime_dir.chmod(0o777)
    with pytest.raises(ConfigError, match=r"writable by other users \(mode 777\).*chmod 700"):
        claim(lambda text: None)


def test_send_says_false_quickly_when_no_instance_runs() -> None:
    start = time.monotonic()
    assert send("show") is False
    assert deliver("show").state == "absent"
    assert time.monotonic() - start < 1.0


def test_unknown_messages_are_answered_but_not_handed_on() -> None:
    messages, got, on_message = recorder()
    with claim(on_message):
        assert send("frobnicate") is True
        assert send("show") is True
        assert got.wait(5)
        assert messages == ["show"]


def test_a_failing_handler_does_not_stop_the_instance() -> None:
    calls: list[str] = []

    def on_message(text: str) -> None:
        calls.append(text)
        raise RuntimeError("handler bug")

    with claim(on_message):
        assert send("show") is True
        assert send("show") is True
    assert calls == ["show", "show"]


def test_close_is_idempotent_and_frees_the_name(private_runtime_dir: Path) -> None:
    instance = claim(lambda text: None)
    instance.close()
    instance.close()
    assert instance.closed
    assert not (private_runtime_dir / "vcam.sock").exists() and not (private_runtime_dir / "vcam.addr").exists()
    assert send("show") is False
    claim(lambda text: None).close()


def test_a_handler_may_close_its_own_instance() -> None:
    holder: list = []
    done = threading.Event()

    def on_message(text: str) -> None:
        holder[0].close()
        done.set()

    holder.append(claim(on_message))
    assert send("quit") is True
    assert done.wait(5) and holder[0].closed
    claim(lambda text: None).close()


def test_two_claims_in_one_process_collide_too() -> None:
    messages, got, on_message = recorder()
    with claim(on_message):
        with pytest.raises(AlreadyRunningError, match="already running"):
            claim(lambda text: None)
        assert got.wait(5) and messages == ["show"]


def test_names_are_separate_instances() -> None:
    with claim(lambda text: None, name="vcam"), claim(lambda text: None, name="other"):
        assert send("show", name="other") is True


def test_a_tcp_instance_ignores_a_client_without_the_token(private_runtime_dir: Path) -> None:
    messages, got, on_message = recorder()
    with claim(on_message, transport="tcp") as instance:
        with socket.create_connection(("127.0.0.1", int(instance.address)), timeout=5) as client:
            client.sendall(b"not-the-token show\n")
            assert client.recv(100) == b""
        assert not got.wait(0.3)
        assert send("show") is True
        assert got.wait(5) and messages == ["show"]


def test_a_holder_that_never_answers_gives_a_clear_error(private_runtime_dir: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(private_runtime_dir / 'vcam.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunningError, match=r"did not answer within 0\.5 s.*start vcam again"):
            claim(lambda text: None, timeout=0.5)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("name", ["", "a/b", "x" * 33, "vcam.sock"])
def test_a_bad_instance_name_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="instance name must be"):
        claim(lambda text: None, name=name)


@pytest.mark.parametrize("message", ["", " show", "two\nlines", "x" * 129, "café"])
def test_a_bad_message_is_refused(message: str) -> None:
    with pytest.raises(ConfigError, match="printable ASCII"):
        send(message)


def test_a_too_long_socket_path_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch,
                                                    private_runtime_dir: Path) -> None:
    deep = private_runtime_dir / ("d" * 60) / ("e" * 40)
    monkeypatch.setenv("VCAM_RUNTIME_DIR", str(deep))
    with pytest.raises(ConfigError, match="set VCAM_RUNTIME_DIR to a shorter folder"):
        claim(lambda text: None)
    assert send("show") is False, "the lock was released after the failure"


def test_a_lock_file_that_cannot_be_opened_says_which_and_how_to_fix_it(private_runtime_dir: Path) -> None:
    (private_runtime_dir / "vcam.lock").mkdir()  # a folder where the lock file belongs
    with pytest.raises(ConfigError, match=r"cannot open vcam's lock file .*vcam\.lock.*set VCAM_RUNTIME_DIR"):
        claim(lambda text: None)


# -- the vcam command itself ---------------------------------------------------------------


VCAM = [sys.executable, "-m", "vcam"]


class VcamRun:
    """``vcam run`` on the demo in its own process, its merged output read line by line."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([*VCAM, "run", "--source", "demo", "--output", "none", "--port", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first line from now on that holds ``text``."""
        deadline = time.monotonic() + timeout
        while text not in (line := self.lines.get(timeout=max(0.1, deadline - time.monotonic()))):
            pass
        return line


def test_a_second_vcam_run_exits_with_a_clear_message_and_the_first_keeps_running_until_vcam_quit(tmp_path):
    vcam = VCAM
    run = VcamRun()
    first = run.process
    try:
        run.wait_for("running: demo")
        second = subprocess.run([*vcam, "run", "--source", "demo", "--output", "none"], capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 2 and "vcam is already running" in second.stderr
        assert "vcam quit" in second.stderr
        time.sleep(0.5)
        assert first.poll() is None, "the first vcam keeps running"
        stopped = subprocess.run([*vcam, "quit"], capture_output=True, text=True, timeout=30)
        assert stopped.returncode == 0
        assert first.wait(timeout=30) == 0
    finally:
        first.kill()
    nothing = subprocess.run([*vcam, "quit"], capture_output=True, text=True, timeout=30)
    assert nothing.returncode == 2 and "no vcam is running" in nothing.stderr


def test_vcam_gaze_calibrate_and_forget_reach_a_running_vcam_run(tmp_path):
    """The command a desktop shortcut would run: the running vcam calibrates (the 3x3 demo: at least the seven
    into-lens faces) and says so in its log; with no vcam running, one clear line."""
    vcam = VCAM
    run = VcamRun()
    first, wait_for = run.process, run.wait_for
    try:
        wait_for("layout: grid of 9 tiles")  # analysing the gallery
        time.sleep(2.0)  # as a presenter would: the room was asked to look, then the shortcut pressed
        asked = subprocess.run([*vcam, "gaze", "calibrate"], capture_output=True, text=True, timeout=30)
        assert asked.returncode == 0 and "asked the running vcam to calibrate gaze" in asked.stderr
        done = re.search(r"gaze calibrated: (\d+) of (\d+) people", wait_for("gaze calibrated:"))
        assert int(done[1]) >= 7 and int(done[2]) >= 9
        forgot = subprocess.run([*vcam, "gaze", "forget"], capture_output=True, text=True, timeout=30)
        assert forgot.returncode == 0
        wait_for("gaze calibration forgotten:")
        assert subprocess.run([*vcam, "quit"], capture_output=True, text=True, timeout=30).returncode == 0
        assert first.wait(timeout=30) == 0
    finally:
        first.kill()
    nothing = subprocess.run([*vcam, "gaze", "calibrate"], capture_output=True, text=True, timeout=30)
    assert nothing.returncode == 2 and "no vcam is running, so there is no gaze to calibrate" in nothing.stderr
