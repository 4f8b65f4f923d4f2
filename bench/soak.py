"""Soak benchmark: the demo for 30 minutes with the feed and one dashboard client. Memory and fps over time.

What runs
    One fresh child process (this script with ``--child``) runs the real
    :class:`vcam.daemon.Daemon` on the ``demo`` source (the 3x3 meeting grid at
    1920x1080, 30 fps, real-time paced) with gaze, identity and emotion on, the feed
    on a free port, and :class:`VirtualCamOutput` at 1280x720@30 through
    ``pyvirtualcam.Camera``. Only the device is fake, as in ``live.py``: a backend
    registered with ``pyvirtualcam.register_backend`` counts frames and drops them.
    One dashboard client reads the feed from a helper process (this script with
    ``--client URL``), so its memory and CPU are not the daemon's: a real websocket
    client reading every message (default), or with ``--browser`` the real dashboard
    page in headless Debian Chromium through playwright.

Every ``--interval`` s it samples RSS (Linux /proc) of the daemon process and of it plus its
descendants (the identity descriptor is a child; the client is not counted), output fps,
stage errors, source losses, threads and fds. After ``--warmup`` s it judges two targets,
printed as PASS/FAIL, never asserted: total RSS growth < 5 % (start and end are medians
of ``EDGE_SAMPLES`` samples; the slope is a least-squares fit), and no drop in fps (the last
window's median >= 95 % of the first's). bench/README.md explains every figure.

Run ``.venv/bin/python bench/soak.py --help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import dashboard_page, emit_result, machine, print_machine
from common import run_child as run_child_process

OUTPUT_SIZE = (1280, 720)
SOURCE_FPS = 30.0
FAKE_BACKEND = "vcam-soak-fake"
MAX_GROWTH = 0.05
"""Target: RSS growth from start (after warm-up) to end."""
FPS_TOLERANCE = 0.05
"""Allowed drop of the last window's median fps against the first's."""
FPS_WINDOW_S = 300.0
"""Length of the first and last fps windows (shortened to half the measured time)."""
EDGE_SAMPLES = 3
"""Samples whose median is the start / end RSS (one sample alone is noisy)."""
READY_MARK = "SOAK-CLIENT-READY"
RECONNECT_S = 1.0
"""Seconds the websocket client waits before reconnecting after the server closed it."""
INIT_SCRIPT = """
(() => {
  const Orig = window.WebSocket;
  window.__vcamSoak = {n: 0, types: {}, opens: 0};
  window.WebSocket = class extends Orig {
    constructor(...args) {
      super(...args);
      window.__vcamSoak.opens += 1;
      this.addEventListener('message', (ev) => {
        const s = window.__vcamSoak;
        s.n += 1;
        try { const t = JSON.parse(ev.data).type; s.types[t] = (s.types[t] || 0) + 1; } catch (e) { /* counted */ }
      });
    }
  };
})();
"""


# ---------------------------------------------------------------------------------
# helper process: one dashboard client, reads until stdin closes
# ---------------------------------------------------------------------------------
def poll_counts(count: Callable[[], int], interval: float, stop: threading.Event) -> list[int]:
    """Messages received in each ``interval`` until ``stop`` is set (the last one may be partial)."""
    per_interval, last = [], 0
    while not stop.wait(interval):
        now = count()
        per_interval.append(now - last)
        last = now
    per_interval.append(count() - last)
    return per_interval


def stdin_closed() -> threading.Event:
    """An event set when the parent closes our stdin (the end of the run)."""
    done = threading.Event()

    def wait() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done


class FeedReader:
    """A raw websockets client that reads (and parses) every message on its own thread. When the
    server closes it, it records why and reconnects after ``RECONNECT_S``, as the dashboard does."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.url, self._connect = url, connect
        self.total, self.types, self.closes = 0, Counter(), []
        self.done = threading.Event()
        self.conn = connect(url, open_timeout=15, max_size=None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.conn is not None:
            try:
                for message in self.conn:
                    self.total += 1
                    self.types[json.loads(message).get("type", "?")] += 1
            except Exception as err:  # noqa: BLE001 - a close, recorded below
                logging.getLogger(__name__).debug("feed read ended: %s", err)
            if self.done.is_set():
                return
            self.closes.append(f"after {self.total} messages: {self.conn.close_code} {self.conn.close_reason!r}")
            self.conn = self._reconnect()

    def _reconnect(self) -> Any:
        """A new connection after ``RECONNECT_S`` (retrying), or None once ``done`` is set."""
        while not self.done.wait(RECONNECT_S):
            try:
                return self._connect(self.url, open_timeout=15, max_size=None)
            except Exception as err:  # noqa: BLE001 - retried
                logging.getLogger(__name__).warning("feed reconnect failed: %s", err)
        return None

    def close(self) -> bool:
        """Stop reading; whether it was connected at that moment."""
        self.done.set()
        conn = self.conn
        connected = conn is not None and conn.close_code is None
        if conn is not None:
            conn.close()
        self.thread.join(timeout=5)
        return connected


def websocket_client(url: str, interval: float) -> dict[str, Any]:
    """Read the feed with a :class:`FeedReader` until stdin closes."""
    reader = FeedReader(url)
    print(READY_MARK, flush=True)
    per_interval = poll_counts(lambda: reader.total, interval, stdin_closed())
    connected = reader.close()
    return {"messages": reader.total, "per_interval": per_interval, "types": dict(reader.types),
            "connected_at_end": connected, "closed_by_server": len(reader.closes), "close_reasons": reader.closes[:10]}


def browser_client(url: str, interval: float) -> dict[str, Any]:
    """The real dashboard page in headless Chromium, counting messages with an init script."""
    with dashboard_page(url, INIT_SCRIPT) as page:
        print(READY_MARK, flush=True)
        # poll_counts runs on this thread: playwright's sync API must stay on it
        per_interval = poll_counts(lambda: page.evaluate("window.__vcamSoak.n"), interval, stdin_closed())
        counts = page.evaluate("window.__vcamSoak")
        connected = page.locator('#conn-state[data-state="connected"]').count() == 1
    return {"messages": counts["n"], "per_interval": per_interval, "types": counts["types"],
            "connected_at_end": connected, "closed_by_server": counts["opens"] - 1, "close_reasons": []}


def client_main(url: str, browser: bool, interval: float) -> int:
    """Entry of ``--client``: print ``READY_MARK``, read until stdin closes, print one JSON line."""
    try:
        result = (browser_client if browser else websocket_client)(url, interval)
    except Exception as err:  # noqa: BLE001 - reported to the parent
        logging.getLogger(__name__).exception("dashboard client failed")
        result = {"error": f"dashboard client failed: {err}"}
    print(json.dumps(result), flush=True)
    return 0 if "error" not in result else 1


# ---------------------------------------------------------------------------------
# child: the daemon, sampled
# ---------------------------------------------------------------------------------
def make_counting_backend(sent: list[int]) -> type:
    """A pyvirtualcam backend class that counts frames in ``sent[0]`` and drops them (no growing list)."""

    class CountingCamera:
        def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
            self.width, self.height = width, height

        def send(self, frame: Any) -> None:
            sent[0] += 1

        def close(self) -> None:
            pass

        def device(self) -> str:
            return "/dev/soak-fakecam"

        def native_fourcc(self) -> None:
            return None

    return CountingCamera


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def children_of() -> dict[int, list[int]]:
    """parent pid -> child pids, for every process now (Linux /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_mb(root: int, exclude: set[int]) -> tuple[float, float]:
    """``(RSS of root, RSS of root + descendants)`` in MB; ``exclude`` s subtrees are skipped."""
    tree, total, todo = children_of(), 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in exclude:
            continue
        total += rss_mb(pid)
        todo.extend(tree.get(pid, []))
    return rss_mb(root), total


def take_sample(daemon: Any, sent: int, t: float, exclude: set[int]) -> dict[str, Any]:
    """One sample of the run at ``t`` s after start."""
    main, total = tree_rss_mb(os.getpid(), exclude)
    stats = daemon.stats
    return {
        "t": t, "rss_main_mb": main, "rss_total_mb": total, "sent": sent, "analysed": stats.analysed,
        # stage_errors/source_lost: None on a daemon without them (older vcam), never a made-up 0
        "stage_errors": getattr(stats, "stage_errors", None), "source_lost": getattr(stats, "source_lost", None),
        "reconnects": getattr(stats, "reconnects", None), "state": getattr(daemon, "state", "running"),
        "threads": threading.active_count(), "native_threads": len(os.listdir("/proc/self/task")),
        "fds": len(os.listdir("/proc/self/fd")),
    }


def start_client(url: str, browser: bool, interval: float) -> subprocess.Popen:
    """The dashboard client helper, connected (RuntimeError if it could not connect)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--client", url, "--interval", str(interval)]
    helper = subprocess.Popen(cmd + (["--browser"] if browser else []), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    line = helper.stdout.readline().strip()
    if line != READY_MARK:
        helper.kill()
        helper.wait()
        raise RuntimeError(f"the dashboard client did not connect (it said {line!r})")
    return helper


def stop_client(helper: subprocess.Popen) -> dict[str, Any]:
    """Close the helper's stdin and read its result."""
    try:
        out, _ = helper.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        helper.kill()
        out, _ = helper.communicate()
    lines = out.strip().splitlines()
    return json.loads(lines[-1]) if lines else {"error": f"dashboard client exited {helper.returncode} silently"}


def sample_run(daemon: Any, sent: list[int], seconds: float, interval: float, exclude: set[int]) -> list[dict]:
    """Sample every ``interval`` s on a fixed schedule for ``seconds`` (or until the daemon stops)."""
    start = time.monotonic()
    samples = [take_sample(daemon, sent[0], 0.0, exclude)]
    tick = 1
    while tick * interval <= seconds + 1e-6 and daemon.running:
        time.sleep(max(0.0, start + tick * interval - time.monotonic()))
        sample = take_sample(daemon, sent[0], time.monotonic() - start, exclude)
        samples.append(sample)
        print_sample(samples[-2], sample, file=sys.stderr)
        tick += 1
    return samples


def print_sample(prev: dict[str, Any], cur: dict[str, Any], file: Any) -> None:
    """One progress line (stderr: the child's stdout carries the result)."""
    fps = (cur["sent"] - prev["sent"]) / (cur["t"] - prev["t"])
    print(f"[soak] t={cur['t']:6.0f} s  rss main {cur['rss_main_mb']:6.0f} MB  total {cur['rss_total_mb']:6.0f} MB  "
          f"out {fps:5.1f} fps  stage errors {cur['stage_errors']}  state {cur['state']}", file=file, flush=True)


def run_child(seconds: float, interval: float, browser: bool) -> dict[str, Any]:
    import pyvirtualcam

    from vcam.config import Config
    from vcam.daemon import Daemon

    sent = [0]
    pyvirtualcam.register_backend(FAKE_BACKEND, make_counting_backend(sent))
    config = Config(source="demo", output=f"vcam:{FAKE_BACKEND}", width=OUTPUT_SIZE[0], height=OUTPUT_SIZE[1],
                    fps=SOURCE_FPS, gaze=True, identity=True, emotion=True, feed=True, port=0)
    daemon = Daemon(config).start()
    helper = None
    try:
        helper = start_client(daemon.feed.url if browser else daemon.feed.feed_url, browser, interval)
        samples = sample_run(daemon, sent, seconds, interval, exclude={helper.pid})
        ended_early = not daemon.running
    finally:
        client = stop_client(helper) if helper is not None else {}
        daemon.stop()
    if ended_early or daemon.error is not None:
        raise RuntimeError(f"the daemon stopped during the run: {daemon.error}")
    return {"samples": samples, "client": client, "source_size": list(daemon.source.size),
            "summary": {k: v for k, v in daemon.stats.summary().items() if isinstance(v, (int, float))}}


# ---------------------------------------------------------------------------------
# parent: the figures
# ---------------------------------------------------------------------------------
def slope_per_hour(ts: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``values`` over ``ts`` (s), per hour (NaN with fewer than 2 points)."""
    if len(ts) < 2:
        return float("nan")
    mt, mv = statistics.fmean(ts), statistics.fmean(values)
    var = sum((t - mt) ** 2 for t in ts)
    return 3600.0 * sum((t - mt) * (v - mv) for t, v in zip(ts, values)) / var if var else float("nan")


def memory_figures(post: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Start/end RSS (median of ``EDGE_SAMPLES`` at each end), growth %, slope MB/h for ``key``."""
    values = [s[key] for s in post]
    start = statistics.median(values[:EDGE_SAMPLES])
    end = statistics.median(values[-EDGE_SAMPLES:])
    return {"start_mb": start, "end_mb": end, "growth_pct": 100.0 * (end - start) / start,
            "slope_mb_per_h": slope_per_hour([s["t"] for s in post], values)}


def fps_figures(samples: list[dict[str, Any]], warmup: float) -> dict[str, float]:
    """Output fps per interval after warm-up: median, worst, and the first vs last window's medians."""
    intervals = [((a["t"], b["t"]), (b["sent"] - a["sent"]) / (b["t"] - a["t"]))
                 for a, b in zip(samples, samples[1:]) if a["t"] >= warmup - 1e-6]
    begin, end = intervals[0][0][0], intervals[-1][0][1]
    window = min(FPS_WINDOW_S, (end - begin) / 2)
    first = [f for (t0, t1), f in intervals if t1 <= begin + window + 1e-6]
    last = [f for (t0, t1), f in intervals if t0 >= end - window - 1e-6]
    fps = [f for _, f in intervals]
    return {"fps_median": statistics.median(fps), "fps_min_interval": min(fps), "window_s": window,
            "fps_first_window": statistics.median(first), "fps_last_window": statistics.median(last)}


def counter_delta(samples: list[dict[str, Any]], key: str) -> tuple[int | None, int | None]:
    """``(during the whole run, after warm-up)`` of a cumulative counter; None if the daemon lacks it."""
    if samples[-1][key] is None:
        return None, None
    return samples[-1][key], samples[-1][key] - samples[0][key]


def summarise(result: dict[str, Any], warmup: float) -> dict[str, Any]:
    """Every reported figure, from the child's samples."""
    samples = result["samples"]
    post = [s for s in samples if s["t"] >= warmup - 1e-6]
    if len(post) < 2:
        raise ValueError(f"only {len(post)} sample(s) after the {warmup:g} s warm-up: run longer")
    client = result["client"]
    per = client.get("per_interval", [])[:-1] or client.get("per_interval", [0])  # the last one is partial
    return {
        "rss_main": memory_figures(post, "rss_main_mb"), "rss_total": memory_figures(post, "rss_total_mb"),
        **fps_figures(samples, warmup),
        "feed_messages": client.get("messages"), "feed_messages_min_interval": min(per),
        "feed_types": client.get("types"), "client_connected_at_end": client.get("connected_at_end"),
        "client_error": client.get("error"), "client_closed_by_server": client.get("closed_by_server"),
        "client_close_reasons": client.get("close_reasons"),
        "stage_errors": counter_delta(post, "stage_errors"), "source_lost": counter_delta(post, "source_lost"),
        "reconnects": counter_delta(post, "reconnects"),
        "states": dict(Counter(s["state"] for s in post)),
        "threads": (post[0]["native_threads"], post[-1]["native_threads"]), "fds": (post[0]["fds"], post[-1]["fds"]),
    }


def targets(fig: dict[str, Any]) -> list[tuple[bool, str]]:
    """``(passed, line)`` for the two targets."""
    growth = fig["rss_total"]["growth_pct"]
    need = fig["fps_first_window"] * (1.0 - FPS_TOLERANCE)
    return [
        (growth < 100 * MAX_GROWTH, f"flat memory: total RSS growth after warm-up < {100 * MAX_GROWTH:g} %: "
                                    f"{growth:+.1f} % ({fig['rss_total']['slope_mb_per_h']:+.1f} MB/h)"),
        (fig["fps_last_window"] >= need, f"no drop in fps: last {fig['window_s']:.0f} s median "
                                         f"{fig['fps_last_window']:.1f} >= {1 - FPS_TOLERANCE:.0%} of the first "
                                         f"{fig['window_s']:.0f} s median {fig['fps_first_window']:.1f}"),
    ]


def print_report(fig: dict[str, Any], args: argparse.Namespace) -> list[tuple[bool, str]]:
    client = "dashboard in headless Chromium" if args.browser else "one websocket client reading every message"
    print(f"\n== soak: demo 3x3 @ 1920x1080, {SOURCE_FPS:g} fps, gaze+identity+emotion, feed + {client} -> fake vcam "
          f"{OUTPUT_SIZE[0]}x{OUTPUT_SIZE[1]}; {args.minutes:g} min, {args.warmup:g} s warm-up, "
          f"sampled every {args.interval:g} s ==")
    for key, label in (("rss_main", "daemon process"), ("rss_total", "daemon + children")):
        m = fig[key]
        print(f"RSS {label:18s} start {m['start_mb']:7.1f} MB  end {m['end_mb']:7.1f} MB  "
              f"growth {m['growth_pct']:+6.2f} %  slope {m['slope_mb_per_h']:+8.1f} MB/h")
    print(f"output fps: median {fig['fps_median']:.1f}, worst interval {fig['fps_min_interval']:.1f}; "
          f"first {fig['window_s']:.0f} s median {fig['fps_first_window']:.1f}, "
          f"last {fig['window_s']:.0f} s median {fig['fps_last_window']:.1f}")
    print(f"feed messages received: {fig['feed_messages']} (fewest in one interval: {fig['feed_messages_min_interval']}; "
          f"by type {fig['feed_types']}); client connected at the end: {fig['client_connected_at_end']}")
    if fig["client_closed_by_server"]:
        print(f"the feed closed the client {fig['client_closed_by_server']} time(s); it reconnected "
              f"{RECONNECT_S:g} s later each time; first reasons: {fig['client_close_reasons']}")
    if fig["client_error"]:
        print(f"dashboard client FAILED: {fig['client_error']}")
    for key in ("stage_errors", "source_lost", "reconnects"):
        whole, post = fig[key]
        shown = "n/a (this daemon does not count it)" if whole is None else f"{whole} ({post} after warm-up)"
        print(f"{key.replace('_', ' ')}: {shown}")
    print(f"daemon state over post-warm-up samples: {fig['states']}; native threads {fig['threads'][0]} -> "
          f"{fig['threads'][1]}; open fds {fig['fds'][0]} -> {fig['fds'][1]}")
    checks = targets(fig)
    print("targets:")
    for ok, line in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {line}")
    return checks


def parent_main(args: argparse.Namespace) -> int:
    info = machine()
    print_machine(info)
    seconds = 60.0 * args.minutes
    print(f"[soak] running {args.minutes:g} min in a child process; progress below", flush=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--minutes", str(args.minutes),
           "--interval", str(args.interval), "--warmup", str(args.warmup)] + (["--browser"] if args.browser else [])
    result = run_child_process(cmd, seconds + 600.0)
    if "error" in result:
        print(f"soak FAILED: {result['error']}")
        return 1
    fig = summarise(result, args.warmup)
    checks = print_report(fig, args)
    if args.json:
        out = {"machine": info, "args": vars(args), "figures": fig, "targets": [{"pass": ok, "target": t}
                                                                            for ok, t in checks], **result}
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"\nwrote {args.json}")
    return 1 if fig["client_error"] or not fig["client_connected_at_end"] else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Soak the demo with the feed and a dashboard client: RSS and fps over time.")
    p.add_argument("--minutes", type=float, default=30.0, help="length of the run, warm-up included")
    p.add_argument("--warmup", type=float, default=120.0, help="seconds at the start shown but not judged")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--browser", action="store_true", help="the client is the real dashboard in headless Chromium")
    p.add_argument("--json", metavar="OUT", help="also write every sample and figure to this JSON file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.interval < 1 or args.warmup < 0:
        p.error(f"--interval must be >= 1 and --warmup >= 0, got {args.interval:g} and {args.warmup:g}")
    if 60.0 * args.minutes < args.warmup + (EDGE_SAMPLES + 1) * args.interval:
        p.error(f"--minutes {args.minutes:g} leaves fewer than {EDGE_SAMPLES + 1} samples after the "
                f"{args.warmup:g} s warm-up: run longer or shorten --warmup")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.client:
        return client_main(args.client, args.browser, args.interval)
    try:
        from vcam.nativelog import filter_native_logs
        filter_native_logs()
    except ImportError:
        pass
    if args.child:
        return emit_result(lambda: run_child(60.0 * args.minutes, args.interval, args.browser))
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
