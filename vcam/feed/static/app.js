// vcam dashboard: reads the live feed (vcam/feed/schema.json) over a WebSocket
// and draws the room. Plain ES2020, no framework, no build step, no network
// beyond the vcam server itself. Every value from the feed reaches the page
// through textContent or attributes, never as HTML.
(() => {
  "use strict";

  const SCHEMA_MAJOR = "1";
  const BACKOFF_MIN_MS = 500;      // first retry after a lost connection
  const BACKOFF_MAX_MS = 5000;     // retries never wait longer than this
  const OFFLINE_AFTER_MS = 15000;  // "reconnecting" turns "offline" after this long without a server
  const SPARK_SECONDS = 60;        // per-person engagement history shown in each tile
  const TIMELINE_STEP_S = 1;       // the session timeline keeps at most one point per second
  const TIMELINE_MAX_POINTS = 6 * 3600;
  const ALERTS_KEPT = 20;
  const EMOTIONS = ["neutral", "happy", "surprise", "sad", "fear", "angry", "disgust"];
  const STATE_LABELS = { paused: "Analysis paused", source_lost: "Source lost", ended: "Source ended" };

  const $ = (sel) => document.querySelector(sel);
  const body = document.body;
  const token = new URLSearchParams(location.search).get("token");

  const state = {
    hello: null,
    features: { gaze: true, identity: true, emotion: true, aggregate_only: false, eu_mode: false },
    people: new Map(),   // track_id -> tile element
    history: new Map(),  // track_id -> [[captured_at, engagement 0..1], ...] (last SPARK_SECONDS)
    timeline: [[], [], []],
    lastAudienceAt: 0,
  };

  // ---- helpers ---------------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function levelClass(value01) {
    if (value01 == null) return "";
    return value01 >= 0.65 ? "lvl-good" : value01 >= 0.4 ? "lvl-mid" : "lvl-low";
  }

  function setLevel(node, value01) {
    node.classList.remove("lvl-good", "lvl-mid", "lvl-low");
    const cls = levelClass(value01);
    if (cls) node.classList.add(cls);
  }

  function pct(value01) {
    return Math.round(Math.max(0, Math.min(1, value01)) * 100);
  }

  function toEpochMs(when) {
    if (typeof when === "number") return when * 1000;
    const ms = Date.parse(when);
    return Number.isNaN(ms) ? null : ms;
  }

  function compareIds(a, b) {
    const na = Number(a), nb = Number(b);
    if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
    return String(a).localeCompare(String(b));
  }

  // ---- connection ------------------------------------------------------------
  let delay = BACKOFF_MIN_MS;
  let lostAt = null;

  function feedUrl() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = token ? `?token=${encodeURIComponent(token)}` : "";
    return `${scheme}://${location.host}/feed${query}`;
  }

  function setConn(name) {
    const node = $("#conn-state");
    node.dataset.state = name;
    node.textContent = name;
    body.classList.toggle("stale", name !== "connected");
  }

  function lostState() {
    return lostAt && Date.now() - lostAt > OFFLINE_AFTER_MS ? "offline" : "reconnecting";
  }

  function connect() {
    const ws = new WebSocket(feedUrl());
    ws.onopen = () => {
      delay = BACKOFF_MIN_MS;
      lostAt = null;
      setConn("connected");
    };
    ws.onmessage = (msg) => receive(msg.data);
    ws.onclose = () => {
      if (lostAt === null) lostAt = Date.now();
      setConn(lostState());
      const jitter = 0.85 + Math.random() * 0.3;
      setTimeout(connect, Math.min(delay * jitter, BACKOFF_MAX_MS));
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    };
  }

  function receive(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch (err) {
      console.warn("vcam: feed sent something that is not JSON", err);
      return;
    }
    checkVersion(event.schema_version);
    if (event.type === "hello") onHello(event);
    else if (event.type === "audience") onAudience(event);
    else if (event.type === "alert") onAlert(event);
    else if (event.type === "status") onStatus(event);
  }

  function checkVersion(version) {
    const major = String(version || "").split(".")[0];
    if (major === SCHEMA_MAJOR) return;
    $("#source").textContent = `feed schema ${version} (expected ${SCHEMA_MAJOR}.x): update the dashboard`;
  }

  // ---- hello -----------------------------------------------------------------
  function onHello(hello) {
    if (state.hello && state.hello.session_id !== hello.session_id) resetSession();
    state.hello = hello;
    state.features = Object.assign({}, state.features, hello.features || {});
    body.classList.remove("no-hello");
    body.classList.toggle("aggregate", !!state.features.aggregate_only);
    body.dataset.sessionId = hello.session_id || "";
    $("#source").textContent = hello.source || "";
    renderFeatures(state.features);
    renderEmotionNote();
    layoutPeople();
  }

  function renderFeatures(f) {
    const chips = [
      ["gaze", f.gaze], ["identity", f.identity], ["emotion", f.emotion && !f.eu_mode],
    ].map(([name, on]) => el("span", on ? "chip on" : "chip", on ? name : `${name} off`));
    if (f.aggregate_only) chips.push(el("span", "chip warn", "aggregate-only"));
    if (f.eu_mode) chips.push(el("span", "chip warn", "EU mode"));
    $("#features").replaceChildren(...chips);
  }

  function emotionShown() {
    return !!state.features.emotion && !state.features.eu_mode;
  }

  function renderEmotionNote() {
    const note = $("#emotion-note");
    const shown = emotionShown();
    $("#emotions").hidden = !shown;
    note.hidden = shown;
    body.classList.toggle("no-emotion", !shown);
    note.textContent = state.features.eu_mode
      ? "Emotion inference is off in EU mode."
      : "Emotion is off for this session.";
  }

  function resetSession() {
    state.people.forEach((tile) => tile.remove());
    state.people.clear();
    state.history.clear();
    state.timeline = [[], [], []];
    if (chart) chart.setData(state.timeline);
    $("#alerts").replaceChildren();
    onStatus({ state: "running", stage_errors: 0, source_lost: 0, message: null });
  }

  // ---- audience --------------------------------------------------------------
  function onAudience(event) {
    const t = typeof event.captured_at === "number" ? event.captured_at : Date.now() / 1000;
    state.lastAudienceAt = t;
    renderRoom(event.room);
    renderPeople(event.people || [], t);
    renderCameraOff(event.camera_off || []);
    pushTimeline(t, event.room);
  }

  function renderRoom(room) {
    body.classList.toggle("room-empty", room == null);
    $("#room-empty").hidden = room != null;
    $("#room-empty .big").textContent = state.features.aggregate_only
      ? "Fewer than 3 people: nothing shown"
      : "Nobody in view";
    if (room == null) return;
    renderEngagement(room.engagement);
    renderAttention(room);
    if (emotionShown()) renderEmotions(room.emotions);
  }

  function renderEngagement(value01) {
    const node = $("#engagement");
    const value = value01 == null ? null : pct(value01);
    node.textContent = value == null ? "–" : String(value);
    node.dataset.value = value == null ? "" : String(value);
    const arc = $("#gauge-arc");
    arc.setAttribute("stroke-dasharray", `${value || 0} 101`);
    arc.style.visibility = value ? "visible" : "hidden"; // a zero-length dash still draws its round cap
    setLevel($("#gauge-panel"), value01);
  }

  // attending and attention_pct are null while gaze is off
  function renderAttention(room) {
    const value = room.attention_pct == null ? null : Math.round(room.attention_pct);
    const node = $("#attention-pct");
    node.textContent = value == null ? "–" : `${value}%`;
    node.dataset.value = value == null ? "" : String(value);
    const count = $("#attention-count");
    count.dataset.attending = room.attending == null ? "" : String(room.attending);
    count.dataset.people = String(room.people);
    if (room.attending == null) {
      count.replaceChildren(el("b", "", String(room.people)), room.people === 1 ? " person · gaze off" : " people · gaze off");
      return;
    }
    count.replaceChildren(el("b", "", String(room.attending)), " of ", el("b", "", String(room.people)), " looking");
  }

  function renderEmotions(emotions) {
    const box = $("#emotions");
    if (!emotions) {
      box.replaceChildren(el("p", "note", "No emotion reading yet."));
      return;
    }
    if (!box.querySelector(".emo")) box.replaceChildren(...EMOTIONS.map(emotionRow));
    const top = EMOTIONS.reduce((a, b) => ((emotions[b] || 0) > (emotions[a] || 0) ? b : a));
    for (const name of EMOTIONS) {
      const row = box.querySelector(`.emo[data-emotion="${name}"]`);
      const value = pct(emotions[name] || 0);
      row.dataset.value = String(value);
      row.classList.toggle("top", name === top && value > 0);
      row.querySelector(".fill").style.width = `${value}%`;
      row.querySelector(".pct").textContent = `${value}%`;
    }
  }

  function emotionRow(name) {
    const row = el("div", "emo");
    row.dataset.emotion = name;
    const bar = el("div", "bar");
    bar.append(el("div", "fill"));
    row.append(el("span", "label", name), bar, el("span", "pct", "0%"));
    return row;
  }

  // ---- people ----------------------------------------------------------------
  function renderPeople(people, t) {
    if (state.features.aggregate_only) people = [];
    const seen = new Set();
    for (const person of people) {
      seen.add(String(person.track_id));
      remember(person, t);
      updateTile(tileFor(person.track_id), person);
    }
    for (const [id, tile] of state.people) {
      if (!seen.has(id)) { tile.remove(); state.people.delete(id); }
    }
    forgetOld(t);
    $("#people-count").textContent = people.length ? String(people.length) : "";
    layoutPeople();
  }

  // Tiles whose camera is off: listed apart, never counted as looking away.
  function renderCameraOff(names) {
    const box = $("#camera-off");
    if (state.features.aggregate_only) names = [];
    box.hidden = names.length === 0;
    const unnamed = names.filter((n) => !n).length;
    const text = names.filter(Boolean).join(", ") + (unnamed ? `${names.some(Boolean) ? ", " : ""}${unnamed} unnamed` : "");
    box.querySelector(".list").textContent = text;
    box.dataset.count = String(names.length);
  }

  function tileFor(trackId) {
    const id = String(trackId);
    let tile = state.people.get(id);
    if (tile) return tile;
    tile = el("article", "person");
    tile.dataset.trackId = id;
    const head = el("div", "head"), mid = el("div", "mid");
    head.append(el("span", "name"), el("span", "dot"));
    mid.append(el("span", "att"), el("span", "emo-label"));
    tile.append(head, mid, el("div", "why"), el("div", "va"), sparkSvg());
    const after = [...state.people.keys()].sort(compareIds).find((other) => compareIds(other, id) > 0);
    $("#people").insertBefore(tile, after === undefined ? null : state.people.get(after));
    state.people.set(id, tile);
    return tile;
  }

  // A name without case, spacing or accents: the tile reader often drops accents ("Zoe Muller" is "Zoë Müller").
  const plain = (name) => name.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase().split(/\s+/).join(" ").trim();

  // The meeting's participant name (read from their tile) first; the enrolled name beside it when they differ.
  function shownName(p) {
    const main = p.participant || p.name;
    if (!main) return `#${p.track_id}`;
    const also = p.participant && p.name && plain(p.name) !== plain(p.participant) ? ` (${p.name})` : "";
    return main + also + (p.shared ? " · shared camera" : "");
  }

  function updateTile(tile, p) {
    const name = tile.querySelector(".name");
    name.textContent = shownName(p);
    name.classList.toggle("anon", !(p.participant || p.name));
    tile.dataset.name = p.name || "";
    tile.dataset.participant = p.participant || "";
    // attention, looking and engagement are null while gaze is off
    tile.dataset.attention = p.attention == null ? "" : String(pct(p.attention));
    tile.dataset.engagement = p.engagement == null ? "" : String(pct(p.engagement));
    tile.dataset.looking = p.looking == null ? "" : String(p.looking);
    tile.dataset.emotion = (p.emotion && p.emotion.label) || "";
    tile.querySelector(".att").textContent = p.attention == null ? "–" : `${pct(p.attention)}%`;
    tile.querySelector(".dot").title = p.looking == null ? "gaze off" : p.looking ? "looking" : "looking away";
    renderWhy(tile, p);
    tile.dataset.calibrated = String(p.gaze_calibrated === true);
    if (p.gaze_calibrated) tile.querySelector(".dot").title += " (gaze calibrated)";
    setLevel(tile, p.engagement);
    renderTileEmotion(tile, p);
    drawSpark(tile.querySelector(".spark"), state.history.get(String(p.track_id)));
  }

  // Why someone is not looking (eyes closed, looking up/down/aside, head turned), only while they are not.
  function renderWhy(tile, p) {
    const why = p.looking === false && p.away_reason ? p.away_reason : "";
    tile.dataset.why = why;
    tile.querySelector(".why").textContent = why;
    if (why) tile.querySelector(".dot").title = `looking away: ${why}`;
  }

  function renderTileEmotion(tile, p) {
    const shown = emotionShown() && p.emotion;
    tile.querySelector(".emo-label").textContent = shown ? p.emotion.label : "";
    const va = shown && (p.valence != null || p.arousal != null);
    tile.querySelector(".va").textContent = va ? vaText(p) : "";
  }

  function vaText(p) {
    const sign = (v) => (v > 0 ? "+" : "") + v.toFixed(1);
    const bits = [];
    if (p.valence != null) bits.push(`valence ${sign(p.valence)}`);
    if (p.arousal != null) bits.push(`arousal ${sign(p.arousal)}`);
    return `${bits.join(" · ")} (est.)`;
  }

  function remember(p, t) {
    const id = String(p.track_id);
    if (p.engagement == null) return;
    if (!state.history.has(id)) state.history.set(id, []);
    state.history.get(id).push([t, p.engagement]);
  }

  function forgetOld(now) {
    for (const [id, points] of state.history) {
      while (points.length && points[0][0] < now - SPARK_SECONDS) points.shift();
      if (!points.length) state.history.delete(id);
    }
  }

  const SVG = "http://www.w3.org/2000/svg";
  function sparkSvg() {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", `0 0 ${SPARK_SECONDS} 100`);
    svg.setAttribute("preserveAspectRatio", "none");
    const mid = document.createElementNS(SVG, "line");
    for (const [k, v] of Object.entries({ x1: 0, x2: SPARK_SECONDS, y1: 50, y2: 50 })) mid.setAttribute(k, v);
    svg.append(mid, document.createElementNS(SVG, "polygon"), document.createElementNS(SVG, "polyline"));
    return svg;
  }

  function drawSpark(svg, points) {
    if (!points || !points.length) {
      svg.querySelector("polyline").setAttribute("points", "");
      svg.querySelector("polygon").setAttribute("points", "");
      return;
    }
    const now = points[points.length - 1][0];
    // y runs 4..96 so a full or empty line stays inside the tile
    const xy = points.map(([t, v]) => `${(SPARK_SECONDS - (now - t)).toFixed(2)},${(96 - v * 92).toFixed(1)}`);
    svg.querySelector("polyline").setAttribute("points", xy.join(" "));
    const x0 = (SPARK_SECONDS - (now - points[0][0])).toFixed(2);
    svg.querySelector("polygon").setAttribute("points", `${x0},100 ${xy.join(" ")} ${SPARK_SECONDS},100`);
  }

  // Choose columns × rows so the tiles come out as large as possible at ~1.6:1.
  function layoutPeople() {
    const box = $("#people");
    const n = Math.max(1, state.people.size);
    const w = box.clientWidth || 1, h = box.clientHeight || 1;
    let best = { cols: 1, rows: n, size: 0 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const size = Math.min(w / cols / 1.6, h / rows);
      if (size > best.size) best = { cols, rows, size };
    }
    box.style.setProperty("--cols", best.cols);
    box.style.setProperty("--rows", best.rows);
  }

  // ---- session timeline (uPlot) ---------------------------------------------
  // uPlot draws on a canvas with fixed-pixel fonts, so the chart is rebuilt
  // when the page's font size changes (the viewport grew or shrank a lot).
  const X_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
  let chart = null;
  let chartFontPx = 0;

  function clockLabel(unixSeconds, withSeconds) {
    const d = new Date(unixSeconds * 1000);
    const two = (n) => String(n).padStart(2, "0");
    const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
    return withSeconds ? `${hm}:${two(d.getSeconds())}` : hm;
  }

  function chartOptions(box, fontPx) {
    const axis = {
      stroke: "#8b95a7",
      font: `${fontPx}px "Liberation Sans", "DejaVu Sans", sans-serif`,
      grid: { stroke: "#ffffff12", width: 1 },
      ticks: { stroke: "#ffffff20", width: 1, size: 4 },
    };
    const xValues = (u, splits) => {
      const withSeconds = u.scales.x.max - u.scales.x.min < 600;
      return splits.map((t) => clockLabel(t, withSeconds));
    };
    return {
      width: Math.max(box.clientWidth, 50),
      height: Math.max(box.clientHeight, 30),
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: { auto: false, range: [0, 100] } },
      axes: [
        Object.assign({ size: fontPx * 2.2, space: fontPx * 6, incrs: X_STEPS, values: xValues }, axis),
        Object.assign({ size: fontPx * 2.6, space: fontPx * 2.5, incrs: [25, 50] }, axis),
      ],
      series: [
        {},
        { label: "engagement", stroke: "#2dd4bf", width: 2, fill: "#2dd4bf1c", points: { show: false } },
        { label: "attention %", stroke: "#a78bfa", width: 2, points: { show: false } },
      ],
    };
  }

  function makeChart() {
    const box = $("#timeline");
    chartFontPx = Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.85);
    if (chart) chart.destroy();
    chart = new uPlot(chartOptions(box, chartFontPx), state.timeline, box);
  }

  function watchSize() {
    const box = $("#timeline");
    new ResizeObserver(() => {
      const fontPx = Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.85);
      if (fontPx !== chartFontPx) makeChart();
      else chart.setSize({ width: Math.max(box.clientWidth, 50), height: Math.max(box.clientHeight, 30) });
      layoutPeople();
    }).observe(box);
  }

  function pushTimeline(t, room) {
    const [xs, eng, att] = state.timeline;
    if (xs.length && t - xs[xs.length - 1] < TIMELINE_STEP_S) return;
    xs.push(t);
    eng.push(room && room.engagement != null ? pct(room.engagement) : null);
    att.push(room && room.attention_pct != null ? room.attention_pct : null);
    if (xs.length > TIMELINE_MAX_POINTS) state.timeline.forEach((s) => s.shift());
    $("#timeline").dataset.points = String(xs.length);
    if (chart) chart.setData(state.timeline);
  }

  // ---- alerts ----------------------------------------------------------------
  function onAlert(alert) {
    const list = $("#alerts");
    const item = el("li", "fresh");
    item.dataset.kind = alert.kind;
    if (alert.track_id != null) item.dataset.trackId = String(alert.track_id);
    const when = new Date(alertTime(alert.t));
    item.append(el("span", "when", when.toLocaleTimeString([], { hour12: false })), el("span", "msg", alert.message));
    list.prepend(item);
    while (list.children.length > ALERTS_KEPT) list.lastChild.remove();
    list.dataset.count = String(list.children.length);
  }

  // An alert's t is unix seconds, or seconds since the session started.
  function alertTime(t) {
    if (typeof t !== "number") return Date.now();
    if (t > 1e9) return t * 1000;
    const started = state.hello && toEpochMs(state.hello.started_at);
    return started == null ? Date.now() : started + t * 1000;
  }

  // ---- status: the daemon's health --------------------------------------------
  // The banner is empty while running: CSS collapses it, and the live region stays
  // in the page so a screen reader announces the text when it appears.
  function onStatus(status) {
    const banner = $("#status-banner");
    const stateName = String(status.state || "running");
    const label = STATE_LABELS[stateName] || stateName.replace(/_/g, " ");
    banner.dataset.state = stateName;
    body.dataset.health = stateName;
    const detail = status.message || (stateName === "paused" ? "" : status.source || "");
    if (stateName === "running") banner.replaceChildren();
    else banner.replaceChildren(el("strong", "state", label), ...(detail ? [el("span", "msg", detail)] : []));
    renderStageErrors(status.stage_errors || 0);
  }

  function renderStageErrors(count) {
    const node = $("#stage-errors");
    node.dataset.count = String(count);
    node.textContent = `stage errors: ${count}`;
    node.hidden = count <= 0;
  }

  // ---- clock -----------------------------------------------------------------
  function tickClock() {
    if (lostAt) setConn(lostState());
    const started = state.hello && toEpochMs(state.hello.started_at);
    if (started == null) return;
    const s = Math.max(0, Math.floor((Date.now() - started) / 1000));
    const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    $("#clock").textContent = hh ? `${hh}:${two(mm)}:${two(ss)}` : `${two(mm)}:${two(ss)}`;
  }

  // ---- start -----------------------------------------------------------------
  makeChart();
  watchSize();
  renderEmotionNote();
  window.addEventListener("resize", layoutPeople);
  setInterval(tickClock, 1000);
  setConn("connecting");
  connect();
})();
