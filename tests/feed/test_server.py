"""The feed server: a real websockets server on 127.0.0.1, real clients, hostile ones too."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
import waiting

from vcam.errors import VcamError
from vcam.feed import validate
from vcam.feed.events import SCHEMA_VERSION, alert, status
from vcam.feed.clients import ClientQueue
from vcam.feed.server import FeedServer

HELLO = {"type": "hello", "schema_version": SCHEMA_VERSION, "session_id": "s1", "started_at": 0.0, "source": "demo",
         "features": {"gaze": True, "identity": False, "emotion": False, "aggregate_only": False, "eu_mode": False}}


def snapshot(seq: int, pad: int = 0) -> dict:
    return {"type": "audience", "seq": seq, "pad": "x" * pad}


@pytest.fixture
def static(tmp_path):
    root = tmp_path / "static"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>vcam</title><script src=app.js></script>")
    (root / "app.js").write_text("console.log('dashboard')")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture
def server(static):
    with FeedServer(static_dir=static) as srv:
        srv.publish(HELLO)
        yield srv


def get(srv: FeedServer, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """A plain HTTP GET of ``path`` sent exactly as written (no normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_until(condition, timeout: float = 5.0) -> None:
    assert waiting.wait_until(condition, timeout, interval=0.01), "timed out"


async def refused_status(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=5, **kwargs):
            pass
    return refused.value.response.status_code


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


# -- the stream ------------------------------------------------------------------------
def test_a_client_gets_hello_first_then_the_audience_stream(server):
    async def scenario():
        async with connect(server.feed_url) as ws:
            assert (await recv_json(ws))["type"] == "hello"
            for seq in range(3):
                server.publish(snapshot(seq))
                assert (await recv_json(ws)) == snapshot(seq)
    asyncio.run(scenario())


def test_alerts_and_a_new_hello_reach_every_client(server):
    async def scenario():
        async with connect(server.feed_url) as a, connect(server.feed_url) as b:
            await recv_json(a), await recv_json(b)
            server.publish(alert(1.0, "person_left", "person 2 left", 2))
            server.publish({**HELLO, "features": {**HELLO["features"], "emotion": True}})
            for ws in (a, b):
                assert (await recv_json(ws))["kind"] == "person_left"
                assert (await recv_json(ws))["features"]["emotion"] is True
        async with connect(server.feed_url) as late:
            assert (await recv_json(late))["features"]["emotion"] is True, "a late client gets the latest hello"
    asyncio.run(scenario())


def test_a_new_client_gets_the_latest_hello_then_the_latest_status_before_the_stream(server):
    lost = status(3.0, "source_lost", "webcam:0", source_lost=1, stage_errors=0,
                  message="camera 0 stopped sending frames; retrying in 4 s")
    back = status(9.5, "running", "webcam:0", source_lost=1, stage_errors=2, message=None)

    async def scenario():
        async with connect(server.feed_url) as early:
            assert (await recv_json(early))["type"] == "hello"
            server.publish(lost)
            assert (await recv_json(early)) == lost, "a status reaches the clients already connected"
            async with connect(server.feed_url) as late:
                assert [(await recv_json(late))["type"] for _ in range(2)] == ["hello", "status"]
            server.publish(back)
            server.publish(snapshot(1))
            assert (await recv_json(early)) == back and (await recv_json(early)) == snapshot(1)
        async with connect(server.feed_url) as later:
            first, second = await recv_json(later), await recv_json(later)
            assert first["type"] == "hello" and second == back, "only the latest status is replayed"
            validate(second)
    asyncio.run(scenario())


def test_publish_refuses_events_of_no_known_type_or_with_nan(server):
    with pytest.raises(ValueError, match="type"):
        server.publish({"kind": "x"})
    with pytest.raises(ValueError):
        server.publish({"type": "audience", "t": float("nan")})


def test_publish_before_start_and_after_stop_is_a_harmless_no_op(static):
    srv = FeedServer(static_dir=static)
    srv.publish(snapshot(0))
    srv.start()
    srv.stop()
    srv.publish(snapshot(1))
    srv.stop()
    assert srv.published == 2


def test_a_port_in_use_is_one_clear_error(server):
    with pytest.raises(VcamError, match=f"{server.port}.*another port"):
        FeedServer(port=server.port).start()


# -- HTTP ------------------------------------------------------------------------------
def test_health_answers_without_a_token_and_carries_no_audience_data(server):
    server.publish(snapshot(1))
    status, headers, body = get(server, "/health")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"ok": True, "clients": 0, "published": 2}


def test_the_dashboard_needs_the_token_and_sets_a_strict_cookie_for_its_assets(server):
    assert get(server, "/")[0] == 401
    assert get(server, "/?token=wrong")[0] == 401
    status, headers, body = get(server, f"/?token={server.token}")
    assert status == 200 and body.startswith(b"<!doctype html>") and headers["Content-Type"].startswith("text/html")
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert headers["Referrer-Policy"] == "no-referrer"
    assert get(server, "/app.js")[0] == 401
    status, headers, body = get(server, "/app.js", {"Cookie": cookie.split(";")[0]})
    assert status == 200 and body == b"console.log('dashboard')" and "javascript" in headers["Content-Type"]
    assert get(server, f"/app.js?token={server.token}")[0] == 200
    assert get(server, "/missing.js", {"Cookie": cookie.split(";")[0]})[0] == 404


def test_no_cookie_carries_the_token_and_the_cookie_opens_nothing_but_the_dashboards_files(server):
    """Cookies ignore ports: every other service on 127.0.0.1 the presenter's browser visits receives them."""
    _, headers, _ = get(server, f"/?token={server.token}")
    name, _, value = headers["Set-Cookie"].split(";")[0].partition("=")
    assert server.token not in headers["Set-Cookie"] and len(value) >= 32
    jar = {"Cookie": f"{name}={value}"}
    assert get(server, "/app.js", jar)[0] == 200, "the page's own files load with the cookie"
    assert get(server, "/", jar)[0] == 401, "the dashboard itself needs the token"
    base = server.feed_url.split("?")[0]
    assert asyncio.run(refused_status(base, additional_headers=jar)) == 401, "the cookie never opens the feed"
    assert asyncio.run(refused_status(f"{base}?token={value}")) == 401
    with FeedServer(static_dir=server.static_dir) as other:
        assert get(other, "/app.js", jar)[0] == 401, "each server has its own cookie secret"


@pytest.mark.parametrize("path", ["/" + "a" * 256, "/" + "a" * 300 + ".js", "/static/" + "%41" * 400,
                                  "/" + "%C3%A9" * 200])
def test_a_path_component_longer_than_any_file_name_is_404_not_an_internal_error(server, path, caplog):
    assert get(server, f"{path}?token={server.token}")[0] == 404
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "nothing failed on the server"


def test_a_request_line_longer_than_8_kib_is_414(server):
    assert get(server, "/" + "a/" * 5000)[0] == 414


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                                  "/%2E%2E/secret.txt", "/../secret.txt", "/static/../../secret.txt",
                                  "/%252e%252e/secret.txt", "//etc/passwd", "/.%2e/secret.txt", "/..\\secret.txt"])
def test_static_paths_never_leave_the_static_folder(server, path):
    status, _, body = get(server, f"{path}?token={server.token}")
    assert status in (403, 404) and b"not for the web" not in body and b"root:" not in body


def test_a_missing_static_folder_answers_404(tmp_path):
    with FeedServer(static_dir=tmp_path / "nowhere") as srv:
        assert get(srv, f"/?token={srv.token}")[0] == 404


# -- who may connect ---------------------------------------------------------------------
def test_a_websocket_without_the_right_token_is_refused_with_401(server):
    base = server.feed_url.split("?")[0]
    assert asyncio.run(refused_status(base)) == 401
    assert asyncio.run(refused_status(base + "?token=wrong")) == 401
    assert asyncio.run(refused_status(base + "?token=" + server.token[:-1])) == 401


def test_a_foreign_origin_is_refused_with_403_even_with_the_right_token(server):
    assert asyncio.run(refused_status(server.feed_url, origin="http://evil.example")) == 403
    assert asyncio.run(refused_status(server.feed_url, origin=f"http://evil.example:{server.port}")) == 403
    assert asyncio.run(refused_status(server.feed_url, origin="null")) == 403


def test_the_dashboards_own_origin_and_allowed_origins_may_connect(static):
    async def hello_from(url: str, origin: str | None) -> str:
        async with connect(url, origin=origin) as ws:
            return (await recv_json(ws))["type"]
    with FeedServer(static_dir=static, allowed_origins=["http://127.0.0.1:5173"]) as srv:
        srv.publish(HELLO)
        for origin in (None, f"http://127.0.0.1:{srv.port}", f"http://localhost:{srv.port}", "http://127.0.0.1:5173"):
            assert asyncio.run(hello_from(srv.feed_url, origin)) == "hello"


def test_the_server_binds_loopback_only_by_default(server):
    assert server.host == "127.0.0.1" and server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")
    assert len(server.token) >= 32
    assert [sock.getsockname()[0] for sock in server._server.sockets] == ["127.0.0.1"]


# -- the per-client queue -------------------------------------------------------------
def test_a_full_queue_drops_its_oldest_snapshot_never_a_hello_or_alert():
    queue = ClientQueue(1)
    for kind, text in [("hello", "h"), ("audience", "a1"), ("alert", "x1"), ("audience", "a2"), ("alert", "x2")]:
        assert queue.offer(kind, text)
    items = [queue.queue.get_nowait() for _ in range(queue.queue.qsize())]
    assert [text for _, text in items] == ["h", "x1", "a2", "x2"] and queue.dropped == 1 and queue.high_water == 1


def test_a_burst_of_alerts_is_queued_whole_for_a_client_that_reads():
    queue = ClientQueue(4)
    assert all(queue.offer("alert", f"person {i} arrived") for i in range(9)), "a 3x3 gallery starting"
    assert queue.queue.qsize() == 9


def test_a_queue_piled_with_unread_alerts_refuses_the_next_but_still_takes_snapshots():
    queue = ClientQueue(2, keep=2)
    queue.offer("hello", "h"), queue.offer("alert", "x1")
    assert queue.offer("audience", "a")
    assert not queue.offer("alert", "x2"), "the server then closes this client"
    assert [queue.queue.get_nowait()[1] for _ in range(3)] == ["h", "x1", "a"]


# -- hostile clients ---------------------------------------------------------------------
@pytest.mark.parametrize("message, code", [("{not json", 1003), (b"\x00\x01", 1003), ("x" * 100 * 1024, 1009)])
def test_a_bad_message_closes_only_that_client(server, message, code):
    async def scenario():
        async with connect(server.feed_url) as good, connect(server.feed_url, max_size=None) as bad:
            await recv_json(good), await recv_json(bad)
            await bad.send(message)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(bad.recv(), 5)
            assert closed.value.rcvd.code == code
            for seq in range(5):
                server.publish(snapshot(seq))
                assert (await recv_json(good))["seq"] == seq
            await good.send(json.dumps({"hi": 1}))  # well-formed messages are ignored
            server.publish(snapshot(99))
            assert (await recv_json(good))["seq"] == 99
    asyncio.run(scenario())
    wait_until(lambda: server.stats()["clients"] == 0)


def test_a_client_that_never_reads_does_not_slow_publish_and_its_queue_stays_bounded(server):
    async def scenario():
        async with connect(server.feed_url, max_queue=1, close_timeout=0.5) as stalled, \
                connect(server.feed_url) as reader:
            await recv_json(reader)
            got: list[dict] = []
            done = asyncio.Event()

            async def read_all():
                while not done.is_set():
                    event = await recv_json(reader)
                    got.append(event)
                    if event["type"] == "alert":
                        done.set()
            reading = asyncio.create_task(read_all())
            highs = []

            def publish_all():
                for seq in range(2000):
                    server.publish(snapshot(seq, pad=20_000))
                    if seq % 100 == 0:
                        highs.append(max(c["high_water"] for c in server.client_stats()))
                server.publish(alert(9.0, "attention_low", "the end"))
            publisher = threading.Thread(target=publish_all)
            start = time.monotonic()
            publisher.start()
            await asyncio.to_thread(publisher.join)
            publish_seconds = time.monotonic() - start
            await asyncio.wait_for(reading, 10)
            stats = server.client_stats()
            assert max(highs) <= server.queue_size and max(c["high_water"] for c in stats) <= server.queue_size
            assert max(c["dropped"] for c in stats) > 0, "the stalled client's oldest snapshots were dropped"
            assert got[-1]["type"] == "alert", "alerts are never dropped"
            assert len(got) > 50 and [e["seq"] for e in got[:-1]] == sorted(e["seq"] for e in got[:-1])
            assert stalled.state.name == "OPEN"
            return publish_seconds
    publish_seconds = asyncio.run(scenario())
    print(f"2000 publishes of 20 kB with a stalled client: {publish_seconds:.2f} s")


def test_a_thousand_connects_and_disconnects_leave_nothing_behind(server):
    async def churn(n: int, parallel: int = 20) -> None:
        async def one():
            async with connect(server.feed_url, open_timeout=5, close_timeout=2):
                pass
        for _ in range(n // parallel):
            await asyncio.gather(*(one() for _ in range(parallel)))

    async def scenario():
        baseline = server.stats()
        await churn(1000)
        async with connect(server.feed_url) as ws:
            await recv_json(ws)
            wait_until(lambda: server.stats()["clients"] == 1 and server.stats()["connections"] == 1)
            got = []

            def publish_at_20_hz():
                for seq in range(20):
                    server.publish(snapshot(seq))
                    time.sleep(0.05)
            publisher = threading.Thread(target=publish_at_20_hz)
            publisher.start()
            while len(got) < 20:
                try:
                    got.append((await recv_json(ws, timeout=2))["seq"])
                except TimeoutError:
                    break
            await asyncio.to_thread(publisher.join)
            assert len(got) >= 18, f"a normal client still receives at the publish rate, got {got}"
            assert len(server.client_stats()) == 1
        wait_until(lambda: server.stats()["clients"] == baseline["clients"] == 0)
        assert server.stats()["connections"] == 0
    asyncio.run(scenario())
