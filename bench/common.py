"""What the benchmarks share: machine facts, and the child-process protocol (one JSON result line).

Each benchmark runs every measurement in a fresh child process (so peak RSS and
warm-up belong to that run); the child prints one ``RESULT_MARK`` line of JSON,
the parent reads it back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LOAD_WARN = 0.5
"""1-minute load average above which the figures are flagged as taken on a busy machine."""
RESULT_MARK = "BENCH-RESULT "
"""Prefix of the child's one JSON line on stdout (anything else on stdout is ignored)."""


def machine() -> dict[str, Any]:
    """nproc, CPU model, load average now."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": model,
            "loadavg": list(os.getloadavg()), "python": platform.python_version()}


def print_machine(info: dict[str, Any]) -> None:
    """The machine lines every report starts with, with a warning when it is busy."""
    load = info["loadavg"]
    print(f"machine: nproc {info['nproc']} (cpu_count {info['cpu_count']}), {info['cpu_model']}, Python {info['python']}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)")
    if load[0] > LOAD_WARN:
        print(f"WARNING: 1-min load average {load[0]:.2f} > {LOAD_WARN}: the machine is busy; figures will be worse than on an idle one")


def emit_result(measure: Callable[[], dict[str, Any]], **labels: Any) -> int:
    """Child side: run ``measure`` and print its result (or its error, with ``labels``) as the one JSON line."""
    try:
        result = measure()
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        logging.getLogger(__name__).exception("child failed")
        print(RESULT_MARK + json.dumps({**labels, "error": str(err)}), flush=True)
        return 1
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


def run_child(cmd: list[str], timeout: float, **labels: Any) -> dict[str, Any]:
    """Parent side: run ``cmd`` and return its JSON result, or ``{**labels, "error": ...}``."""
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**labels, "error": "child timed out"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    return {**labels, "error": f"child exited {proc.returncode} without a result"}


CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium: playwright drives it without downloading a browser (none can be downloaded here)."""
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@contextlib.contextmanager
def dashboard_page(url: str, init_script: str, timeout_ms: int = 20000) -> Iterator[Any]:
    """The dashboard at ``url`` in headless Chromium, connected to its feed; closed on exit.

    ``init_script`` runs before the page's own scripts (the benchmarks wrap ``WebSocket`` with it
    to count or time messages). Yields the playwright ``Page``; use it on this thread only.
    """
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="vcam-bench-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                        args=CHROMIUM_ARGS)
        try:
            page = context.new_page()
            page.add_init_script(init_script)
            page.goto(url)
            page.wait_for_selector('#conn-state[data-state="connected"]', timeout=timeout_ms)
            yield page
        finally:
            context.close()
