"""The dashboard (vcam/feed/static) in a real Chromium, fed through the real feed server.

Debian's /usr/bin/chromium is driven by Python playwright; playwright never
downloads a browser here (none could be downloaded).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from vcam.feed.events import PERSON_EXTRA, SCHEMA_VERSION
from vcam.feed.server import FeedServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "vcam" / "feed" / "schema.json"
ARTIFACTS = REPO / "artifacts"
NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", None, "Katherine"]
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
T0 = round(time.time()) - 45.0  # the session started 45 s ago (unix seconds)


# -- events (checked against vcam/feed/schema.json) -------------------------------------------
def _validator():
    if not SCHEMA.exists():
        return None
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


VALIDATOR = _validator()


def checked(event: dict) -> dict:
    """``event``, after checking that it is valid under the committed feed schema."""
    if VALIDATOR is not None:
        VALIDATOR.validate(event)
    return event


def hello(session_id: str, *, gaze: bool = True, emotion: bool = True, aggregate_only: bool = False,
          eu_mode: bool = False) -> dict:
    features = {"gaze": gaze, "names": True, "identity": True, "emotion": emotion and not eu_mode,
                "aggregate_only": aggregate_only, "eu_mode": eu_mode}
    return checked({"type": "hello", "schema_version": SCHEMA_VERSION, "session_id": session_id,
                    "started_at": T0, "source": "screen:1", "features": features})


def person(track_id: int, name: str | None, attention: float, engagement: float, label: str) -> dict:
    return {
        "track_id": track_id, "name": name, "attention": attention, "looking": attention >= 0.5,
        "emotion": {"label": label, "confidence": 0.8}, "valence": 0.3, "arousal": 0.6, "estimated": True,
        "engagement": engagement,
        "components": {"attention": attention, "expression": 0.5, "weights": {"attention": 0.7, "expression": 0.3}},
        **dict.fromkeys(PERSON_EXTRA),  # the fields since 1.2, which the dashboard does not show (null: unknown)
    }


def nine_people(step: int) -> list[dict]:
    """Nine people; on ``step`` 0 the first six look (attention 0.9) and the last three do not (0.2)."""
    wobble = [0.12 * math.sin(step / 5 + i) for i in range(9)]
    return [
        person(i + 1, NAMES[i], 0.9 if i < 6 else 0.2, round(min(1.0, max(0.0, (0.8 if i < 6 else 0.3) + w)), 2),
               ["happy", "neutral", "surprise"][i % 3])
        for i, w in enumerate(wobble)
    ]


def audience(step: int, room: dict | None, people: list[dict]) -> dict:
    return checked({"type": "audience", "schema_version": SCHEMA_VERSION, "t": float(step), "frame_index": step * 8,
                    "captured_at": T0 + step, "room": room, "people": people})


def room(people: int, attending: int, engagement: float, emotions: dict | None = None) -> dict:
    return {"people": people, "attending": attending, "attention_pct": 100 * attending / people,
            "engagement": engagement, "emotions": emotions}


HAPPY_ROOM = {"angry": 0.0, "disgust": 0.0, "fear": 0.05, "happy": 0.4, "sad": 0.05, "surprise": 0.1, "neutral": 0.4}


def alert(kind: str, message: str, track_id: int | None = None) -> dict:
    return checked({"type": "alert", "schema_version": SCHEMA_VERSION, "t": 30.0, "kind": kind,
                    "message": message, "track_id": track_id})


def status(state: str, *, stage_errors: int = 0, message: str | None = None) -> dict:
    return checked({"type": "status", "schema_version": SCHEMA_VERSION, "t": 40.0, "state": state,
                    "source": "webcam:0", "source_lost": 1, "stage_errors": stage_errors, "message": message})


# -- browser and server -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the dashboard tests need Debian's chromium; "
                    "install it with `bash installer/linux/dev.sh setup` (as root) and run again")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 720})
        yield context
        context.close()


@pytest.fixture
def page(browser) -> Page:
    """A fresh 1280×720 tab; the test fails if the page throws or asks any host but 127.0.0.1 for anything."""
    browser.clear_cookies()
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 720})
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("request", lambda req: urlsplit(req.url).hostname == "127.0.0.1" or elsewhere.append(req.url))
    yield page
    page.close()
    assert errors == [], f"the dashboard threw: {errors}"
    assert elsewhere == [], f"the dashboard fetched from outside the vcam server: {elsewhere}"


@pytest.fixture
def server():
    feed = FeedServer(host="127.0.0.1", port=0)
    feed.start()
    yield feed
    feed.stop()


def with_token(url: str, token: str | None) -> str:
    """``url`` with its ``token`` query parameter replaced (or removed when ``token`` is None)."""
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qs(parts.query).items() if k != "token"}
    if token is not None:
        query["token"] = [token]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def open_dashboard(page: Page, feed: FeedServer) -> None:
    response = page.goto(feed.url)
    assert response is not None and response.status == 200, f"dashboard answered {response and response.status}"
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=5000)


def deliver(feed: FeedServer, page: Page, event: dict, condition: str, timeout: float = 5.0) -> None:
    """Publish ``event`` until the page shows ``condition`` (a JS expression).

    The page's socket can open a moment before the server counts it as a client,
    so the first event is repeated until it lands; later ones then arrive in order.
    """
    deadline = time.monotonic() + timeout
    while True:
        feed.publish(event)
        try:
            page.wait_for_function(condition, timeout=250)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def start_session(feed: FeedServer, page: Page, session_id: str, **features) -> None:
    open_dashboard(page, feed)
    deliver(feed, page, hello(session_id, **features), f"document.body.dataset.sessionId === {session_id!r}")


def text(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def dataset(page: Page, selector: str, key: str) -> list[str]:
    return page.locator(selector).evaluate_all(f"els => els.map(e => e.dataset.{key})")


# -- tests ------------------------------------------------------------------------------------
def test_the_dashboard_shows_the_room_people_emotions_and_alerts_pushed_through_the_server(page, server):
    start_session(server, page, "live")
    for step in range(40):  # 40 s of history for the timeline and the sparklines
        engagement, attending = 0.62 + 0.12 * math.sin(step / 6), 6 + round(2 * math.sin(step / 9))
        server.publish(audience(step, room(9, attending, round(engagement, 2), HAPPY_ROOM), nine_people(step)))
        time.sleep(0.01)
    final = audience(40, room(9, 6, 0.72, HAPPY_ROOM), nine_people(0))
    deliver(server, page, final, "document.querySelector('#engagement').dataset.value === '72'")
    server.publish(alert("person_left", "Margaret left", 7))
    server.publish(alert("attention_low", "Attention fell below 50% for 30 s"))
    page.wait_for_function("document.querySelectorAll('#alerts li').length === 2")

    assert text(page, "#conn-state") == "connected"
    assert text(page, "#attention-pct") == "67%"
    assert text(page, "#attention-count") == "6 of 9 looking"
    assert text(page, "#engagement") == "72"
    assert dataset(page, ".person", "trackId") == [str(i) for i in range(1, 10)]
    assert page.locator(".person .name").all_inner_texts() == [n or "#8" for n in NAMES]
    assert dataset(page, ".person", "attention") == ["90"] * 6 + ["20"] * 3
    assert dataset(page, ".person", "emotion") == ["happy", "neutral", "surprise"] * 3
    assert text(page, '.person[data-track-id="1"] .emo-label').lower() == "happy"
    assert text(page, '.person[data-track-id="1"] .va') == "valence +0.3 · arousal +0.6 (est.)"
    bars = dict(zip(dataset(page, "#emotions .emo", "emotion"), dataset(page, "#emotions .emo", "value")))
    assert bars == {name: str(round(HAPPY_ROOM[name] * 100)) for name in EMOTIONS}
    assert int(page.locator("#timeline").get_attribute("data-points")) >= 2
    assert page.locator("#alerts li").first.inner_text().endswith("Attention fell below 50% for 30 s")
    assert page.locator("#emotion-note").is_hidden()

    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let the bar and gauge transitions finish
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    assert_fits(page)


def assert_fits(page: Page) -> None:
    """At each screen size the page never scrolls and every tile and big number stays inside its panel."""
    for width, height in [(640, 360), (1280, 720), (1920, 1080)]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(100)
        overflow = page.evaluate("""() => {
            const d = document.documentElement, bad = [];
            if (d.scrollWidth > innerWidth || d.scrollHeight > innerHeight) bad.push('page scrolls');
            const inside = (el, box) => { const a = el.getBoundingClientRect(), b = box.getBoundingClientRect();
                return a.width > 0 && a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1 && a.bottom <= b.bottom + 1; };
            for (const el of document.querySelectorAll('.person')) if (!inside(el, document.querySelector('#people-panel'))) bad.push('tile ' + el.dataset.trackId);
            for (const id of ['#engagement', '#attention-pct', '#attention-count'])
                if (!inside(document.querySelector(id), document.querySelector(id).closest('.panel'))) bad.push(id);
            return bad; }""")
        assert overflow == [], f"at {width}×{height}: {overflow}"
    page.set_viewport_size({"width": 1280, "height": 720})


def test_the_health_banner_shows_a_lost_source_hides_while_running_and_counts_stage_errors(page, server):
    start_session(server, page, "health")
    banner = page.get_by_role("status").and_(page.locator("#status-banner"))
    assert banner.get_attribute("aria-live") == "polite"
    assert banner.is_hidden() and page.locator("#stage-errors").is_hidden()

    lost = "camera 0 stopped sending frames; retrying in 4 s"
    deliver(server, page, status("source_lost", message=lost),
            "document.querySelector('#status-banner').dataset.state === 'source_lost'")
    assert banner.is_visible() and text(page, "#status-banner .state") == "Source lost"
    assert text(page, "#status-banner .msg") == lost
    assert page.locator("#stage-errors").is_hidden(), "no counter before the first stage error"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-source-lost.png"))
    assert_fits(page)

    server.publish(status("running", stage_errors=3))
    page.wait_for_function("document.querySelector('#status-banner').dataset.state === 'running'", timeout=5000)
    assert banner.is_hidden() and text(page, "#status-banner") == ""
    assert text(page, "#stage-errors") == "stage errors: 3"
    assert "unannotated" in page.locator("#stage-errors").get_attribute("title")

    server.publish(status("paused", stage_errors=3))
    page.reload()  # a new client learns the current status from the server, right after hello
    page.wait_for_function("document.querySelector('#status-banner').dataset.state === 'paused'", timeout=5000)
    assert text(page, "#status-banner .state") == "Analysis paused"
    assert text(page, "#stage-errors") == "stage errors: 3"


def test_the_vendored_chart_library_matches_its_recorded_sha256():
    vendor = REPO / "vcam" / "feed" / "static" / "vendor"
    recorded = re.findall(r"`([^`]+)` \| `[^`]+` \| [^|]+ \| `([0-9a-f]{64})`", (vendor / "SOURCES.md").read_text())
    assert len(recorded) == 3, "vendor/SOURCES.md should list the three uPlot files"
    for name, digest in recorded:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, f"vendor/{name} changed"


def test_the_dashboard_is_refused_without_the_token_and_with_a_wrong_one(page, server):
    for url in (with_token(server.url, None), with_token(server.url, "not-the-token")):
        response = page.goto(url)
        assert response is not None and response.status in (401, 403), f"{url} answered {response and response.status}"
        assert page.locator("#conn-state").count() == 0


def test_no_cookie_the_browser_keeps_holds_the_token_and_a_reload_still_connects(page, server, browser):
    """Cookies ignore ports: any other service on 127.0.0.1 would receive them. The page keeps the token in its URL."""
    open_dashboard(page, server)
    cookies = browser.cookies()
    assert cookies, "the dashboard's files are opened by a cookie of their own"
    assert all(server.token not in cookie["value"] for cookie in cookies)
    assert all(cookie["httpOnly"] and cookie["sameSite"] == "Strict" for cookie in cookies)
    page.reload()
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=5000)


def test_aggregate_only_shows_no_person_and_hides_the_room_below_three_people(page, server):
    start_session(server, page, "aggregate", aggregate_only=True)
    deliver(server, page, audience(1, room(5, 4, 0.6, HAPPY_ROOM), []),
            "document.querySelector('#attention-pct').dataset.value === '80'")
    assert page.locator(".person").count() == 0
    assert page.locator("#people-panel").is_hidden()
    assert page.locator("#room-empty").is_hidden()

    deliver(server, page, audience(2, None, []), "document.body.classList.contains('room-empty')")
    assert page.locator("#room-empty").is_visible()
    assert "Fewer than 3 people" in text(page, "#room-empty")
    assert page.locator("#attention-pct").is_hidden()
    assert page.locator(".person").count() == 0


def test_emotion_bars_are_hidden_with_a_note_in_eu_mode(page, server):
    start_session(server, page, "eu", eu_mode=True)
    deliver(server, page, audience(1, room(9, 6, 0.7, None), nine_people(0)),
            "document.querySelectorAll('.person').length === 9")
    assert page.locator("#emotions").is_hidden()
    assert "EU mode" in text(page, "#emotion-note")
    assert page.locator(".person .emo-label").all_inner_texts() == [""] * 9
    assert page.locator(".person .va").all_inner_texts() == [""] * 9


def test_without_gaze_attention_shows_a_dash_never_zero(page, server):
    start_session(server, page, "no-gaze", gaze=False)
    blind = [dict(p, attention=None, looking=None, engagement=None,
                  components=dict(p["components"], attention=None)) for p in nine_people(0)[:3]]
    no_gaze = {"people": 3, "attending": None, "attention_pct": None, "engagement": None, "emotions": HAPPY_ROOM}
    deliver(server, page, audience(1, no_gaze, blind), "document.querySelectorAll('.person').length === 3")
    assert text(page, "#attention-pct") == "–"
    assert text(page, "#engagement") == "–"
    assert "gaze off" in text(page, "#attention-count")
    assert page.locator(".person .att").all_inner_texts() == ["–"] * 3


def test_the_connection_state_shows_reconnecting_until_a_server_returns_on_the_same_port(page):
    first = FeedServer(host="127.0.0.1", port=0)
    first.start()
    try:
        start_session(first, page, "reconnect")
    finally:
        first.stop()
    port, token = urlsplit(first.url).port, parse_qs(urlsplit(first.url).query)["token"][0]
    page.wait_for_selector('#conn-state[data-state="reconnecting"]', timeout=5000)
    assert text(page, "#conn-state") == "reconnecting"

    again = FeedServer(host="127.0.0.1", port=port, token=token)
    again.start()
    try:
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=8000)
        deliver(again, page, audience(3, room(4, 1, 0.3, HAPPY_ROOM), []),
                "document.querySelector('#attention-pct').dataset.value === '25'")
    finally:
        again.stop()


def test_the_page_shows_live_values_from_a_daemon_running_the_demo(page):
    from vcam.config import Config
    from vcam.daemon import Daemon

    daemon = Daemon(Config(source="demo", output="none", port=0, emotion=True, seconds=90)).start()
    try:
        page.goto(daemon.feed.url)
        page.wait_for_function("document.querySelector('#conn-state').dataset.state === 'connected'", timeout=30000)
        page.wait_for_function("document.querySelectorAll('.person').length === 9", timeout=30000)
        page.wait_for_function("document.querySelectorAll('#emotions .emo[data-value]').length === 7", timeout=30000)
        assert re.search(r"\b\d of 9\b", page.inner_text("#attention-count"))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-demo.png"))
    finally:
        daemon.stop()
    assert daemon.error is None


def test_a_page_from_another_origin_cannot_open_the_feed_even_with_the_token(page, server, tmp_path):
    """Any web page the presenter opens could otherwise read the audience."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    (tmp_path / "other.html").write_text(
        "<script>window.result = 'pending';"
        f"const ws = new WebSocket({json.dumps(server.feed_url)});"
        "ws.onopen = () => { window.result = 'open'; };"
        "ws.onerror = () => { window.result = 'refused'; };</script>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as other:
        threading.Thread(target=other.serve_forever, daemon=True).start()
        try:
            page.goto(f"http://127.0.0.1:{other.server_address[1]}/other.html")
            page.wait_for_function("window.result !== 'pending'", timeout=10000)
            assert page.evaluate("window.result") == "refused"
        finally:
            other.shutdown()


def test_participant_names_lead_and_camera_off_participants_are_listed_apart(page, server):
    start_session(server, page, "meeting")
    people = nine_people(0)[:3]
    people[0] = dict(people[0], name=None, participant="José Álvarez")
    people[1] = dict(people[1], participant="Zoë Müller")  # enrolled as NAMES[1]: both are shown
    people[2] = dict(people[2], name=None, participant="Room 4", shared=True)
    people.append(dict(nine_people(0)[3], name="Zoë Müller", participant="zoe  MULLER"))  # the same, read plainly
    event = audience(1, dict(room(4, 2, 0.7, HAPPY_ROOM), camera_off=2), people)
    event["camera_off"] = ["Łukasz Wiśniewski", None]
    deliver(server, page, checked(event), "document.querySelectorAll('.person').length === 4")
    assert page.locator(".person .name").all_inner_texts() == [
        "José Álvarez", f"Zoë Müller ({NAMES[1]})", "Room 4 · shared camera", "zoe MULLER"]
    assert page.locator("#camera-off").is_visible()
    assert text(page, "#camera-off") == "Camera off: Łukasz Wiśniewski, 1 unnamed"

    deliver(server, page, audience(2, room(3, 2, 0.7, HAPPY_ROOM), people),
            "document.querySelector('#camera-off').hidden")


def test_each_person_away_shows_why_and_the_reason_goes_when_they_look_again(page, server):
    start_session(server, page, "why")
    people = nine_people(0)[5:9]  # the sixth looks; the last three do not
    reasons = [None, "eyes closed", "looking down", "head turned"]
    people = [dict(p, away_reason=r, gaze_calibrated=i < 2) for i, (p, r) in enumerate(zip(people, reasons))]
    deliver(server, page, audience(1, room(4, 1, 0.5, HAPPY_ROOM), people),
            "document.querySelectorAll('.person').length === 4")
    assert page.locator(".person .why").all_inner_texts() == ["", "eyes closed", "looking down", "head turned"]
    assert page.locator('.person[data-track-id="7"] .why').is_visible()
    assert page.locator('.person[data-track-id="6"] .why').is_hidden()
    assert page.locator('.person[data-track-id="8"] .dot').get_attribute("title") == "looking away: looking down"
    assert page.locator('.person[data-track-id="6"] .dot').get_attribute("title") == "looking (gaze calibrated)"
    assert page.locator('.person[data-track-id="7"] .dot').get_attribute("title") == (
        "looking away: eyes closed (gaze calibrated)")
    assert page.locator('.person[data-track-id="9"]').get_attribute("data-calibrated") == "false"
    assert_fits(page)

    back = [dict(p, looking=True, away_reason=None) for p in people]
    deliver(server, page, audience(2, room(4, 4, 0.8, HAPPY_ROOM), back),
            "[...document.querySelectorAll('.person')].every(t => t.dataset.why === '')")
    assert page.locator(".person .why").all_inner_texts() == [""] * 4
