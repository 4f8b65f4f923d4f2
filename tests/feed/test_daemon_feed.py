"""The feed inside a running daemon on the demo: hostile clients never stop the video or grow memory.

Rates (snapshots a second, the CPU that clients cost) are measured by ``bench/feed.py``, not asserted here."""

from __future__ import annotations

import json
import os
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from vcam.config import Config
from vcam.daemon import Daemon
from vcam.feed import validate


def rss_mb() -> float:
    """This process's resident memory in MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture(scope="module")
def daemon():
    d = Daemon(Config(source="demo", output="none", port=0, seconds=120)).start()
    time.sleep(3.0)  # models loaded, every face tracked
    yield d
    d.stop()
    assert d.error is None


def frames_sent(daemon: Daemon, seconds: float = 2.0) -> int:
    """Frames the daemon sends out over ``seconds``."""
    before = daemon.stats.sent
    time.sleep(seconds)
    return daemon.stats.sent - before


def receive_audience(url: str, seconds: float) -> list[dict]:
    events = []
    with connect(url, open_timeout=5) as ws:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                event = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                break
            validate(event)
            events.append(event)
    return [e for e in events if e["type"] == "audience"]


def test_every_event_from_the_demo_validates_and_snapshots_keep_coming(daemon):
    snapshots = receive_audience(daemon.feed.feed_url, 3.0)
    assert len(snapshots) >= 2
    assert snapshots[-1]["room"]["people"] == 9 and len(snapshots[-1]["people"]) == 9


def test_after_hostile_clients_the_daemon_still_streams_and_memory_is_flat(daemon):
    url = daemon.feed.feed_url
    baseline_rss = rss_mb()
    for message in ("{not json", "x" * 100_000, b"\x00\x01"):
        with connect(url, open_timeout=5, max_size=None) as ws:
            ws.send(message)
            with pytest.raises(ConnectionClosed):
                for _ in range(100):
                    ws.recv(timeout=5)
    with connect(url, open_timeout=5):  # a client that never reads, for the rest of the test
        for _ in range(300):
            with connect(url, open_timeout=5):
                pass
        sent = frames_sent(daemon)
        snapshots = receive_audience(url, 2.0)
    assert sent > 0, "the video still goes out"
    assert snapshots, "a normal client still gets snapshots"
    time.sleep(0.5)
    assert daemon.feed.stats()["clients"] == 0, "every client is gone from the server"
    assert rss_mb() - baseline_rss < 40, "memory grew with the connects"
