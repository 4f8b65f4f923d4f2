"""What capture through the ScreenCast portal costs: ``vcam run`` on a Wayland desktop's shared screen against
the same meeting from the demo source directly.

Starts the tests' headless desktop (``tests/wayland/stack.py``: sway, PipeWire, xdg-desktop-portal and its wlr
backend, a window playing ``demo:zoom:n=6:@1280x720`` at 10 fps), then alternates, ``--runs`` times:

- ``vcam run --source portal`` (the window's pixels through PipeWire and GStreamer), and
- ``vcam run --source demo:zoom:n=6:@1280x720`` (the same meeting drawn in-process),

each for ``--seconds`` with ``--output none``, and prints the output frame rate and analysis rate of each,
with their medians and the ratio portal / demo. Both share the machine with the desktop, so the ratio is what
the portal path costs, not what the desktop costs.

    python bench/portal_capture.py --runs 3 --seconds 20
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "wayland"), str(ROOT / "tests")]

from stack import WaylandStack, build_portal_wlr  # noqa: E402

log = logging.getLogger("bench.portal_capture")
SUMMARY = re.compile(r"sent (\d+) frames in ([\d.]+) s \(([\d.]+) fps\).*analysed (\d+) \(([\d.]+) Hz\)")


def run(source: str, seconds: float, env: dict[str, str]) -> tuple[float, float]:
    """``vcam run --source SOURCE`` for ``seconds``; its (output fps, analysis Hz)."""
    done = subprocess.run([sys.executable, "-m", "vcam.cli", "run", "--source", source, "--output", "none",
                           "--seconds", str(seconds)], capture_output=True, text=True, env=env, timeout=seconds + 120)
    found = SUMMARY.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"vcam run --source {source} failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(found.group(3)), float(found.group(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    backend = build_portal_wlr(Path(tempfile.gettempdir()) / "vcam-test-portal-wlr")
    stack = WaylandStack(backend).start()
    state = tempfile.mkdtemp(prefix="vcam-bench-state-")
    env = {**os.environ, **{k: stack.env[k] for k in ("XDG_RUNTIME_DIR", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")},
           "XDG_STATE_HOME": state, "PYTHONPATH": str(ROOT)}
    figures: dict[str, list[tuple[float, float]]] = {"portal": [], "demo": []}
    try:
        for i in range(args.runs):
            for name, source in (("portal", "portal"), ("demo", stack.spec)):
                figures[name].append(run(source, args.seconds, env))
                log.info("run %d %-6s %.1f fps, %.1f analyses/s", i + 1, name, *figures[name][-1])
    finally:
        stack.stop()
    for name, runs in figures.items():
        log.info("%-6s median %.1f fps, %.1f analyses/s", name, statistics.median(r[0] for r in runs),
                 statistics.median(r[1] for r in runs))
    ratio = [p[1] / d[1] for p, d in zip(figures["portal"], figures["demo"])]
    log.info("analysis rate portal / demo, per round: %s (median %.2f)", ", ".join(f"{r:.2f}" for r in ratio),
             statistics.median(ratio))


if __name__ == "__main__":
    main()
