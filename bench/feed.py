"""Benchmark of the live feed: delay and rate in a real dashboard, and the CPU cost of clients.

What runs
    Each run is a fresh child process (this script with ``--child``) running the real
    :class:`vcam.daemon.Daemon` on the demo source (``demo``: the 3x3 grid at 1920x1080,
    30 fps), with emotion on, output ``none`` and the feed on a free port.

What is measured
    1. Dashboard open: Debian's Chromium (playwright, headless) opens ``daemon.feed.url``.
       An init script, added before navigation, wraps ``window.WebSocket`` so every
       ``audience`` message records ``Date.now()/1000 - captured_at`` (capture-to-browser
       delay; both are this machine's wall clock) and its arrival time. After
       ``WARMUP_S`` s of warm-up, ``--seconds`` are measured: delay p50/p95 ms and
       snapshots per second. The browser is closed afterwards.
    2. CPU of serving 10 dashboards: the daemon process's CPU time (``os.times()``,
       user + system) over two equal ``--seconds`` windows, (a) with no feed client and
       (b) with ``CLIENTS`` raw WebSocket clients connected from another process (this
       script with ``--clients N``), so their own CPU is not counted. Reported as % of one
       core, and the difference per client. The feed thread's own CPU time
       (``pthread_getcpuclockid``) is shown too: it is the part that serves the clients,
       without the analysis' noise.

Targets (on the medians over runs): delay p95 <= 500 ms; snapshot rate >= 2 Hz.

Run ``.venv/bin/python bench/feed.py --help``; see bench/README.md.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import dashboard_page, emit_result, machine, print_machine
from common import run_child as run_child_process

WARMUP_S = 3.0
"""Seconds after the dashboard connects before the delay window starts (and before each CPU window)."""
CLIENTS = 10
"""Raw feed clients for the CPU measurement."""
MAX_DELAY_P95_MS = 500.0
MIN_SNAPSHOT_HZ = 2.0
READY_MARK = "CLIENTS-READY"
INIT_SCRIPT = """
(() => {
  const Orig = window.WebSocket;
  window.__vcamBench = [];
  window.WebSocket = class extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        const now = Date.now() / 1000;
        try {
          const msg = JSON.parse(ev.data);
          if (msg && msg.type === 'audience') window.__vcamBench.push([now - msg.captured_at, now]);
        } catch (e) { /* not JSON: not ours to judge */ }
      });
    }
  };
})();
"""


# ---------------------------------------------------------------------------------
# helper process: N raw clients that read until stdin closes
# ---------------------------------------------------------------------------------
def clients_main(n: int, url: str) -> int:
    """Connect ``n`` clients to ``url``, print ``READY_MARK``, read until stdin closes, print counts."""
    from websockets.sync.client import connect

    conns = [connect(url, open_timeout=10) for _ in range(n)]
    counts = [0] * n

    def read(i: int) -> None:
        try:
            for _ in conns[i]:
                counts[i] += 1
        except Exception:  # noqa: BLE001 - closed at the end
            pass

    threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    print(READY_MARK, flush=True)
    sys.stdin.read()  # the parent closes stdin when its window is over
    for c in conns:
        c.close()
    for t in threads:
        t.join(timeout=5)
    print(json.dumps({"messages_per_client": counts}), flush=True)
    return 0


# ---------------------------------------------------------------------------------
# child: one run
# ---------------------------------------------------------------------------------
def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def thread_cpu(name: str) -> float:
    """CPU seconds of the live thread called ``name`` (NaN if none)."""
    for t in threading.enumerate():
        if t.name == name and t.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(t.ident))
    return float("nan")


def cpu_window(seconds: float) -> tuple[float, float]:
    """(process CPU % of one core, feed thread CPU % of one core) over ``seconds`` of wall time."""
    w0, c0, f0 = time.monotonic(), cpu_seconds(), thread_cpu("vcam-feed")
    time.sleep(seconds)
    w1, c1, f1 = time.monotonic(), cpu_seconds(), thread_cpu("vcam-feed")
    return 100.0 * (c1 - c0) / (w1 - w0), 100.0 * (f1 - f0) / (w1 - w0)


def measure_dashboard(url: str, seconds: float) -> dict[str, Any]:
    """Open the dashboard in Chromium, measure ``seconds`` after warm-up; close the browser."""
    import numpy as np

    with dashboard_page(url, INIT_SCRIPT, timeout_ms=15000) as page:
        time.sleep(WARMUP_S)
        start = time.time()
        time.sleep(seconds)
        end = time.time()
        records = page.evaluate("window.__vcamBench")
    inside = [(d, at) for d, at in records if start <= at <= end]
    ms = np.asarray([d for d, _ in inside]) * 1000.0
    nan = float("nan")
    return {
        "snapshots": len(inside),
        "snapshot_hz": len(inside) / (end - start),
        "delay_ms_p50": float(np.percentile(ms, 50)) if len(ms) else nan,
        "delay_ms_p95": float(np.percentile(ms, 95)) if len(ms) else nan,
        "delay_ms_max": float(ms.max()) if len(ms) else nan,
    }


def measure_cpu(daemon: Any, seconds: float) -> dict[str, Any]:
    """Daemon CPU with 0 clients, then with ``CLIENTS`` clients from another process."""
    time.sleep(WARMUP_S)  # let the browser's connection go before the idle window
    idle_clients = daemon.feed.stats()["clients"]
    idle, idle_feed = cpu_window(seconds)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--clients", str(CLIENTS), "--url", daemon.feed.feed_url]
    helper = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = helper.stdout.readline().strip()
        if line != READY_MARK:
            raise RuntimeError(f"client helper did not connect (said {line!r})")
        time.sleep(1.0)  # the server counts a client a moment after the handshake
        loaded_clients = daemon.feed.stats()["clients"]
        busy, busy_feed = cpu_window(seconds)
        loaded_after = daemon.feed.stats()["clients"]
        out, _ = helper.communicate(timeout=30)  # closes its stdin: the helper disconnects and reports
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
    counts = json.loads(out.strip().splitlines()[-1])["messages_per_client"] if out.strip() else []
    return {
        "cpu_idle_pct": idle, "cpu_clients_pct": busy, "cpu_per_client_pct": (busy - idle) / CLIENTS,
        "feed_cpu_idle_pct": idle_feed, "feed_cpu_clients_pct": busy_feed,
        "feed_cpu_per_client_pct": (busy_feed - idle_feed) / CLIENTS,
        "clients_idle": float(idle_clients), "clients_connected": float(min(loaded_clients, loaded_after)),
        "messages_per_client_min": float(min(counts)) if counts else 0.0,
    }


def run_child(seconds: float) -> dict[str, Any]:
    from vcam.config import Config
    from vcam.daemon import Daemon

    total = 60.0 + 3 * WARMUP_S + 3 * seconds + 30.0  # browser start, dashboard, two CPU windows, slack
    daemon = Daemon(Config(source="demo", output="none", port=0, emotion=True, seconds=total))
    daemon.start()
    try:
        result = {"seconds": seconds, **measure_dashboard(daemon.feed.url, seconds), **measure_cpu(daemon, seconds)}
        if not daemon.running:
            raise RuntimeError(f"the daemon stopped during the run: {daemon.error}")
        result["feed_dropped"] = float(daemon.feed.stats()["dropped"])
    finally:
        daemon.stop()
    if daemon.error is not None:
        raise RuntimeError(f"daemon error: {daemon.error}")
    return result


def child_main(seconds: float) -> int:
    """Entry of ``--child``: print one ``RESULT_MARK`` JSON line."""
    return emit_result(lambda: run_child(seconds))


# ---------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------
def run_once(seconds: float) -> dict[str, Any]:
    """One run in a fresh child process; its JSON result (with ``error`` if it failed)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--seconds", str(seconds)]
    return run_child_process(cmd, 240.0 + 4 * seconds)


ROWS: list[tuple[str, str, str]] = [
    ("dashboard: audience snapshots received", "snapshots", "{:.0f}"),
    ("dashboard: snapshot rate Hz", "snapshot_hz", "{:.2f}"),
    ("dashboard: capture->browser delay p50 ms", "delay_ms_p50", "{:.1f}"),
    ("dashboard: capture->browser delay p95 ms", "delay_ms_p95", "{:.1f}"),
    ("dashboard: capture->browser delay max ms", "delay_ms_max", "{:.1f}"),
    ("feed clients during idle window", "clients_idle", "{:.0f}"),
    ("feed clients during loaded window", "clients_connected", "{:.0f}"),
    ("messages read per client, min", "messages_per_client_min", "{:.0f}"),
    ("daemon CPU % of a core, 0 clients", "cpu_idle_pct", "{:.1f}"),
    (f"daemon CPU % of a core, {CLIENTS} clients", "cpu_clients_pct", "{:.1f}"),
    ("daemon CPU % per client (difference/N)", "cpu_per_client_pct", "{:.2f}"),
    ("feed thread CPU %, 0 clients", "feed_cpu_idle_pct", "{:.2f}"),
    (f"feed thread CPU %, {CLIENTS} clients", "feed_cpu_clients_pct", "{:.2f}"),
    ("feed thread CPU % per client", "feed_cpu_per_client_pct", "{:.3f}"),
    ("snapshots dropped at publish", "feed_dropped", "{:.0f}"),
]


def parent_main(args: argparse.Namespace) -> int:
    print_machine(machine())
    runs = []
    for i in range(args.runs):
        print(f"[feed] run {i + 1}/{args.runs} ...", flush=True)
        runs.append(run_once(args.seconds))
    print()
    print(f"== feed: demo 3x3 @ 1920x1080, 30 fps, emotion on, output none; dashboard in headless Chromium; "
          f"{args.seconds:g} s per window after {WARMUP_S:g} s warm-up ==")
    for r in runs:
        if "error" in r:
            print(f"run FAILED: {r['error']}")
    good = [r for r in runs if "error" not in r]
    if not good:
        return 1
    median = {key: statistics.median(r[key] for r in good) for _, key, _ in ROWS}
    heads = [f"run {i + 1}" for i in range(len(good))] + ["median"]
    print(f"{'':44s}" + "".join(f"{h:>10s}" for h in heads))
    for label, key, fmt in ROWS:
        cells = [fmt.format(r[key]) for r in good] + [fmt.format(median[key])]
        print(f"{label:44s}" + "".join(f"{c:>10s}" for c in cells))
    checks = [
        (median["delay_ms_p95"] <= MAX_DELAY_P95_MS,
         f"capture->browser delay p95 <= {MAX_DELAY_P95_MS:g} ms: {median['delay_ms_p95']:.1f} ms"),
        (median["snapshot_hz"] >= MIN_SNAPSHOT_HZ,
         f"snapshot rate >= {MIN_SNAPSHOT_HZ:g} Hz: {median['snapshot_hz']:.2f} Hz"),
    ]
    print("targets (on the medians):")
    for ok, line in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {line}")
    return 0 if len(good) == len(runs) else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark the live feed: dashboard delay and rate, CPU per client.")
    p.add_argument("--seconds", type=float, default=15.0, help=f"measured seconds per window, after {WARMUP_S:g} s warm-up")
    p.add_argument("--runs", type=int, default=3, help="runs, each in a fresh process")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.seconds < 2 or args.runs < 1:
        p.error("--seconds must be >= 2 and --runs >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.clients:
        return clients_main(args.clients, args.url)
    try:
        from vcam.nativelog import filter_native_logs
        filter_native_logs()
    except ImportError:
        pass
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.child:
        return child_main(args.seconds)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
