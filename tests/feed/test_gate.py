"""Connections before their request is read (vcam.feed.gate): a real server, real sockets, hostile clients.

The memory test runs the server in a process of its own and reads that process's RSS from /proc, so
the clients' buffers are not counted; the peak is sampled all through the flood.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import waiting

from vcam.feed.server import FeedServer

SERVER = """
import sys
from vcam.feed.server import FeedServer
server = FeedServer().start()
print(server.port, flush=True)
sys.stdin.read()  # until the test closes our stdin
server.stop()
"""
HEADER_LINE = b"X-Pad: " + b"a" * 8000 + b"\r\n"  # websockets' own limit is 8 KiB a line
UNFINISHED = b"GET /feed?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + HEADER_LINE * 127  # about 1 MB, no blank line


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakSampler:
    """The highest RSS of a process, sampled every few milliseconds on a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, rss_mb(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._done.set()
        self._thread.join(5)
        return self.peak


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen, int]]:
    """A feed server alone in a child process: ``(process, port)``, after it answered one request."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        assert get(port, "/health")[0] == 200
        yield proc, port
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer(max_opening=4) as srv:
        yield srv


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def push(sock: socket.socket, data: bytes) -> None:
    """Send ``data``; the server may hang up part-way, which is what it should do with a flood."""
    try:
        sock.sendall(data)
    except OSError:
        pass


def hold(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` and keep the connection open for as long as the server keeps it (until it closes)."""
    push(sock, data)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection and read everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        push(sock, data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def test_a_flood_of_unfinished_headers_grows_memory_by_at_most_64_mb_and_it_comes_back(server_process):
    proc, port = server_process
    baseline = rss_mb(proc.pid)
    sampler = PeakSampler(proc.pid)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(100)]
    senders = [threading.Thread(target=hold, args=(sock, UNFINISHED)) for sock in socks]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(60)
    for sock in socks:
        sock.close()
    peak = sampler.stop() - baseline
    assert peak <= 64, f"100 connections of 1 MB unfinished headers grew the server by {peak:.0f} MB at the peak"
    came_back = waiting.wait_until(lambda: rss_mb(proc.pid) - baseline <= 32, 10, interval=0.1)
    assert came_back, f"the server stayed {rss_mb(proc.pid) - baseline:.0f} MB above its baseline after the flood"
    # The closed flood leaves the gate as the server's loop reads each close; a 503 until then says
    # "try again in a moment", so the server must answer again within a moment, not at once.
    answers = waiting.wait_until(lambda: get(port, "/health")[0] == 200, 5, interval=0.1)
    assert answers, "the server still refused /health 5 s after the flood's connections closed"


def test_headers_over_32_kib_are_answered_431(server):
    def request(kib: int) -> bytes:
        pads = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(kib))
        return b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + pads + b"\r\n"
    answer = raw(server.port, request(40))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert raw(server.port, request(20)).startswith(b"HTTP/1.1 200 "), "20 KiB of headers is fine"


def test_connections_beyond_the_limit_opening_at_once_are_answered_503_until_some_finish(server):
    silent = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
    try:
        waiting.wait_until(lambda: server.stats()["opening"] == 4, 10, interval=0.01)
        assert raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in silent:
            sock.close()
    assert waiting.wait_until(lambda: server.stats()["opening"] == 0, 10, interval=0.01)
    assert get(server.port, "/health")[0] == 200


@pytest.mark.parametrize("line", [b"\x16\x03\x01garbage", b"HELLO", b"GET / HTTP/9.9",
                                  b"GET /health HTTP/1.1\r\nno colon"])
def test_a_request_that_is_not_http_is_answered_400(server, line):
    answer = raw(server.port, line + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]


def test_what_follows_a_refused_request_is_discarded_without_an_error(server, caplog):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"HELLO\r\n\r\n")
        assert sock.recv(13) == b"HTTP/1.1 400 "
        hold(sock, b"junk" * 20_000)
    assert waiting.wait_until(lambda: server.stats()["opening"] == 0, 10, interval=0.01)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "nothing failed on the server"


def test_a_request_that_never_ends_is_cut_off_and_frees_its_place(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        waiting.wait_until(lambda: server.stats()["opening"] == 1, 10, interval=0.01)
        try:
            assert slow.recv(100) == b"", "the server closes it (its open_timeout)"
        except ConnectionResetError:
            pass  # aborted: closed too
    assert waiting.wait_until(lambda: server.stats()["opening"] == 0, 10, interval=0.01)
