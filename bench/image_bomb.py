"""``vcam enroll`` and ``vcam analyze`` handed an image bomb: how long until the answer, and the peak memory.

::

    .venv/bin/python bench/image_bomb.py [--runs 3] [--sizes 20000 40000]

For each size it writes a PNG of SIZE×SIZE black grey pixels (a small file: 0.4 MB for 20000), then runs
``vcam enroll Bob BOMB.png`` and ``vcam analyze BOMB.png`` ``--runs`` times, each in a fresh process, and prints the
median wall time (the process's whole life, Python start-up and vcam's imports included), the peak RSS (the
child's VmHWM, which it prints at exit) and the exit status and last error line. Target (issue 12,
item 6): refused with a clear error in under a second.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

log = logging.getLogger("bench.image_bomb")

CHILD = ("import atexit, sys\n"
         "def peak():\n"
         "    hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
         "    sys.stdout.write('PEAK_KIB ' + hwm + '\\n')\n"
         "atexit.register(peak)\n"
         "from vcam.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


def black_png(path: Path, side: int) -> Path:
    """A valid 8-bit grey PNG of ``side`` × ``side`` black pixels, compressed row by row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row = zlib.compressobj(9), b"\0" * (side + 1)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def run_once(args: list[str], folder: Path) -> dict:
    """One fresh ``vcam`` process: seconds, peak MB, exit status and its last error line."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=folder,
                         env={**os.environ, "VCAM_CONFIG": str(folder / "config.toml"), "HOME": str(folder)})
    seconds = time.perf_counter() - start
    peak = next((int(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("PEAK_KIB")), 0)
    lines = [line for line in out.stderr.splitlines() if "error" in line]
    return {"seconds": seconds, "peak_mb": peak / 1024, "status": out.returncode, "said": lines[-1][:160] if lines else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 40_000])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for side in args.sizes:
            bomb = black_png(folder / f"bomb{side}.png", side)
            commands = {"enroll": ["enroll", "Bob", str(bomb), "--gallery", str(folder / "g.sqlite3")],
                        "analyze": ["analyze", str(bomb), "--json", str(folder / "a.json"), "--no-progress"]}
            for name, command in commands.items():
                runs = [run_once(command, folder) for _ in range(args.runs)]
                log.info("%s of %d×%d (%.1f MB file): median %.2f s, peak %.0f MB over %d runs; exit %s: %s", name, side,
                         side, bomb.stat().st_size / 1e6, statistics.median(r["seconds"] for r in runs),
                         statistics.median(r["peak_mb"] for r in runs), len(runs), runs[-1]["status"], runs[-1]["said"])
                log.debug("%s", json.dumps(runs))


if __name__ == "__main__":
    main()
