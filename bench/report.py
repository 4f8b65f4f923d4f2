"""The session report on a session that re-acquired faces many times: time, peak memory and file size.

::

    .venv/bin/python bench/report.py [--tracks 20000] [--seconds 7200] [--runs 3]

Writes one synthetic session (:func:`write_session`: ``--tracks`` track ids over ``--seconds`` seconds, about 16
people present at any second, each id present a few seconds, as when faces are lost and found again), then draws
its report ``--runs`` times, each in a fresh child process, and prints the median wall time, peak RSS and the
HTML's size. Target (issue 12, item 7): 20 000 track ids in at most 30 s and 1 GB.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger("bench.report")

EMOTIONS = ("neutral", "happy", "sad", "surprise")


def write_session(folder: Path, tracks: int = 20_000, seconds: int = 7200, present: int = 16, seed: int = 0) -> Path:
    """A session folder as the recorder writes it, with ``tracks`` ids spread over ``seconds`` seconds.

    ``present`` people are in view each second; each id stays ``present * seconds / tracks`` seconds (at least 1),
    so the ids are re-acquisitions of the same few people. Names (identity) and participant names (names) are on,
    and some names hold ``$``, which matplotlib would read as mathtext.
    """
    from vcam.session.recorder import ROOM_COLUMNS, TIMELINE_COLUMNS

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stay = max(1, present * seconds // tracks)
    with (folder / "timeline.csv").open("w", newline="") as f, (folder / "room.csv").open("w", newline="") as r:
        timeline, room = csv.writer(f, lineterminator="\n"), csv.writer(r, lineterminator="\n")
        timeline.writerow(TIMELINE_COLUMNS)
        room.writerow(ROOM_COLUMNS)
        for t in range(seconds):
            ids = [(t // stay) * present + k for k in range(present) if (t // stay) * present + k < tracks]
            eng = rng.uniform(0, 1, len(ids))
            for tid, e in zip(ids, eng):
                row = {"t": t, "track_id": tid, "name": f"P$ {tid % 40}", "participant": f"Guest {tid % 50}",
                       "looking": int(e > 0.4), "attention": round(e, 3), "engagement": round(e, 3),
                       "emotion": EMOTIONS[tid % len(EMOTIONS)]}
                timeline.writerow([row.get(c, "") for c in TIMELINE_COLUMNS])
            room.writerow([t, len(ids), int((eng > 0.4).sum()), round(100 * eng.mean(), 1) if len(ids) else "",
                           round(eng.mean(), 3) if len(ids) else ""])
    meta = {"started": "2026-12-04T06:00:00+00:00", "ended": "2026-12-04T08:00:00+00:00", "every": 1.0,
            "features": ["gaze", "identity", "emotion", "names"]}
    (folder / "session.json").write_text(json.dumps(meta))
    return folder


def _child(session: Path, out: Path) -> None:
    """Draw the report once and print the figures as one JSON line."""
    import time

    from vcam.session import write_report

    start = time.perf_counter()
    write_report(session, out)
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text().splitlines()
    peak = int(next(line.split()[1] for line in status if line.startswith("VmHWM"))) / 1024  # this process's own peak
    print(json.dumps({"seconds": round(seconds, 2), "peak_mb": round(peak), "html_kb": out.stat().st_size // 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=7200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("SESSION", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        session = write_session(Path(tmp) / "session", args.tracks, args.seconds)
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--child", str(session), f"{tmp}/r.html"],
                                          check=True, capture_output=True, text=True).stdout.splitlines()[-1])
                for _ in range(args.runs)]
    for key in ("seconds", "peak_mb", "html_kb"):
        log.info("%s: median %s over %d runs (%s)", key, statistics.median(r[key] for r in runs), len(runs),
                 ", ".join(str(r[key]) for r in runs))


if __name__ == "__main__":
    main()
