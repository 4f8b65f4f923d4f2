"""How fast recordings are analysed: ``vcam analyze --sample 10hz`` on a 30 s 3×3 1080p recording, and
``vcam batch --workers 2`` against ``--workers 1`` on several recordings (issue 13, item 6).

    .venv/bin/python bench/batch_speed.py [--runs 3] [--clips DIR] [--recordings 6] [--skip-batch]

1. **analyze**: ``vcam analyze FILE --sample 10hz --json OUT --no-progress`` as a user runs it (a fresh
   process, start-up included), on 30 s of the demo meeting ``demo:3x3@1920x1080`` (900 frames at 30 fps,
   H.264), gaze and names on (the defaults). Printed: wall seconds and CPU seconds (user + system of the
   process), and the real-time factor (30 s / wall). Target: wall <= 15 s (2× real time).
2. **batch**: ``vcam batch`` on ``--recordings`` recordings of 10 s of the same meeting (copies under other
   names), once with ``--workers 1`` and once with ``--workers 2``, each run in a fresh process with a
   local Ray of its own. Printed: the whole command's wall seconds, and the seconds from Ray's start to the
   last recording (``Summary.seconds``, which leaves out importing vcam and starting Ray). The speed-up is
   the ratio of the two runs' medians, and each round's own ratio (1 and 2 workers run back to back, so a
   change in the machine's load touches both less). Target: >= 1.6× (each worker keeps to one core). The
   share of a core each worker got (its CPU seconds over its wall seconds) says whether the machine gave them
   a core each.

The clips are made once into ``--clips`` (default: a folder under the system's temp folder) and reused.
Medians of ``--runs`` runs. Timings on a busy machine are worse; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit_result, machine, print_machine, run_child  # noqa: E402

CLIP_S = 30
BATCH_CLIP_S = 10
FPS = 30


def make_clip(path: Path, seconds: int) -> Path:
    """``seconds`` of ``demo:3x3@1920x1080`` at 30 fps as an H.264 file at ``path`` (kept when it exists)."""
    from vcam.outputs import make_output
    from vcam.sources.demo import DemoSource

    if path.is_file():
        return path
    partial = path.with_suffix(".partial.mp4")
    with DemoSource(rows=3, cols=3, width=1920, height=1080, fps=FPS, realtime=False) as src, \
            make_output(f"file:{partial}", width=1920, height=1080, fps=FPS) as out:
        for _ in range(seconds * FPS):
            out.send(src.read().image)
    partial.replace(path)
    return path


def time_analyze(clip: Path, work: Path) -> dict:
    """One ``vcam analyze --sample 10hz`` of ``clip`` in a fresh process: wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "vcam.cli", "analyze", str(clip), "--sample", "10hz", "--json",
                    str(work / "analysis.json"), "--no-progress"], check=True, capture_output=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    frames = json.loads((work / "analysis.json").read_text())["source"]["analysed"]
    return {"wall_s": wall, "cpu_s": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
            "analysed": frames}


def batch_child(folder: str, workers: int) -> int:
    """Child side: one batch of ``folder`` with ``workers`` workers on a local Ray of its own."""
    from vcam.batch import run_batch

    def measure() -> dict:
        out = Path(tempfile.mkdtemp(prefix="vcam-bench-batch-"))
        try:
            started = time.monotonic()
            summary = run_batch([folder], out, features=("gaze", "names"), sample="10hz", workers=workers,
                                progress=False)
            wall = time.monotonic() - started
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return {"workers": workers, "wall_s": wall, "ray_s": summary.seconds, "done": len(summary.done),
                "failed": len(summary.failed), "worker_rates": [r.line() for r in summary.workers]}

    return emit_result(measure, workers=workers)


def batch_folder(clips: Path, count: int) -> Path:
    """A folder of ``count`` copies of the 10 s clip under distinct names."""
    clip = make_clip(clips / f"grid3x3-{BATCH_CLIP_S}s.mp4", BATCH_CLIP_S)
    folder = clips / f"batch-{count}"
    folder.mkdir(exist_ok=True)
    for n in range(count):
        if not (folder / f"meeting{n}.mp4").exists():
            shutil.copyfile(clip, folder / f"meeting{n}.mp4")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "vcam-bench-clips")
    parser.add_argument("--recordings", type=int, default=6)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--batch-child", nargs=2, metavar=("FOLDER", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch_child:
        sys.exit(batch_child(args.batch_child[0], int(args.batch_child[1])))
    print_machine(machine())
    args.clips.mkdir(parents=True, exist_ok=True)
    report_analyze(make_clip(args.clips / f"grid3x3-{CLIP_S}s.mp4", CLIP_S), args.runs)
    if not args.skip_batch:
        report_batch(batch_folder(args.clips, args.recordings), args.runs)


def report_analyze(clip: Path, runs: int) -> None:
    """Print each analyze run and the medians against the target."""
    results = []
    with tempfile.TemporaryDirectory(prefix="vcam-bench-analyze-") as work:
        for n in range(runs):
            results.append(time_analyze(clip, Path(work)))
            print(f"analyze run {n + 1}: wall {results[-1]['wall_s']:.1f} s, CPU {results[-1]['cpu_s']:.1f} s, "
                  f"{results[-1]['analysed']} frames analysed (load {os.getloadavg()[0]:.2f})")
    wall = statistics.median(r["wall_s"] for r in results)
    cpu = statistics.median(r["cpu_s"] for r in results)
    print(f"analyze --sample 10hz, {CLIP_S} s 3x3 1080p: median wall {wall:.1f} s = {CLIP_S / wall:.2f}x real time "
          f"(target >= 2x: {'PASS' if wall <= CLIP_S / 2 else 'MISS'}); median CPU {cpu:.1f} s "
          f"= {CLIP_S / cpu:.2f}x real time per core")


def report_batch(folder: Path, runs: int) -> None:
    """Print each batch run (workers 1 and 2 in turn) and the speed-up of the medians against the target."""
    by_workers: dict[int, list[dict]] = {1: [], 2: []}
    for n in range(runs):
        for workers in (1, 2):
            result = run_child([sys.executable, __file__, "--batch-child", str(folder), str(workers)], 1800,
                               workers=workers)
            if "error" in result:
                print(f"batch run {n + 1}, {workers} workers: ERROR {result['error']}")
                continue
            by_workers[workers].append(result)
            print(f"batch run {n + 1}, {workers} workers: wall {result['wall_s']:.1f} s, from Ray's start "
                  f"{result['ray_s']:.1f} s, {result['done']} done (load {os.getloadavg()[0]:.2f})")
            for line in result["worker_rates"]:
                print(f"    worker {line}")
    if not (by_workers[1] and by_workers[2]):
        return
    med = {w: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "ray_s")} for w, rs in by_workers.items()}
    for key, label in (("wall_s", "whole command"), ("ray_s", "from Ray's start")):
        ratio = med[1][key] / med[2][key]
        paired = [one[key] / two[key] for one, two in zip(by_workers[1], by_workers[2])]
        print(f"batch workers 2 vs 1 ({label}): medians {med[1][key]:.1f} s / {med[2][key]:.1f} s = {ratio:.2f}x "
              f"(target >= 1.6x: {'PASS' if ratio >= 1.6 else 'MISS'}); each round's ratio "
              f"{', '.join(f'{r:.2f}x' for r in paired)}, median {statistics.median(paired):.2f}x")
    shares = [statistics.mean(float(line.split(" of a core")[0].rsplit("(", 1)[1]) for line in r["worker_rates"])
              for r in by_workers[2]]
    print("share of a core each of the 2 workers got, per round: " + ", ".join(f"{x:.2f}" for x in shares)
          + " (below 1: other work on the machine took the rest)")


if __name__ == "__main__":
    main()
