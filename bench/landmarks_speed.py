"""Landmarks stage speed and memory: the batched stage (LiteRT or onnxruntime) against FaceMesh, on the demo gallery.

    .venv/bin/python bench/landmarks_speed.py [--runs 3] [--frames 40] [--warmup 10] [--grids 7x7,3x3,1x1]
                                              [--variants facemesh,new-w1,new-w2,onnx-w2] [--json out.json]

The profile loop: ``vcam.pipeline.Analyzer(["gaze"])`` (vcam's default stages, the landmarks stage
swapped) processing ``Frame(DemoSource(rows, cols, realtime=False).render(i), i, i / 30)`` at 1920×1080,
as fast as it can, on this thread. Each (variant, grid, run) is a fresh child process, so its peak RSS
(``ru_maxrss``) is its own; the variants of one run are interleaved so a busy machine slows them alike.

Variants: ``facemesh`` is vcam's former stage (one MediaPipe FaceMesh graph per track, 2 worker
threads; ``tests/facemesh_reference.py``); ``new-wW-tT-bB`` the new stage with ``W`` workers (default 2),
LiteRT on ``T`` threads per call (default 1) and ``B`` faces per model call (default 1; ``new-w1-b64``:
every face in one call); ``onnx-wW-tT-bB`` the same stage on onnxruntime and the ONNX conversions
(``Landmarks(runtime="onnx")``, what runs where LiteRT does not install: Windows). Printed per variant and grid, medians over runs of each run's median over the measured
frames: landmarks ms per frame (wall, and the process CPU time during the stage: all threads, MediaPipe's
own included), the whole analysis ms per frame, faces analysed per frame, and the
resulting rate of analyses per face per second (1000 / frame ms: every face is analysed each frame),
peak RSS MB; then the ratios of the first variant to each other one. It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from common import emit_result, machine, print_machine, run_child

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("facemesh", "new-w1", "new-w2")


def make_stage(variant: str):
    """The landmarks stage of ``variant``."""
    if variant == "facemesh":
        sys.path.insert(0, str(ROOT / "tests"))
        from facemesh_reference import FaceMeshLandmarks

        return FaceMeshLandmarks()
    from vcam.pipeline.landmarks import Landmarks

    keys = {"w": "workers", "t": "threads", "b": "batch"}
    kind, *parts = variant.split("-")
    runtime = {"new": "litert", "onnx": "onnx"}[kind]
    return Landmarks(runtime=runtime, **{keys[part[0]]: int(part[1:]) for part in parts})


class CpuTimed:
    """A stage wrapper recording the process CPU time (all threads, ms) of each call: unlike wall time,
    it does not depend on how many threads get a core on a busy machine."""

    def __init__(self, stage) -> None:
        self.stage, self.name, self.feature, self.cpu_ms = stage, stage.name, stage.feature, 0.0

    def __call__(self, frame, faces):
        start = time.process_time()
        try:
            return self.stage(frame, faces)
        finally:
            self.cpu_ms = (time.process_time() - start) * 1000

    def forget(self, track_ids: set[int]) -> None:
        self.stage.forget(track_ids)

    def close(self) -> None:
        self.stage.close()


def measure(variant: str, grid: str, frames: int, warmup: int) -> dict:
    """Child: the profile loop; per-frame medians after ``warmup`` frames, and peak RSS."""
    from vcam.nativelog import filter_native_logs
    from vcam.pipeline import Analyzer, default_stages
    from vcam.sources.demo import DemoSource
    from vcam.types import Frame

    filter_native_logs()
    rows, cols = (int(v) for v in grid.split("x"))
    timed = CpuTimed(make_stage(variant))
    stages = [timed if s.name == "landmarks" else s for s in default_stages()]
    landmarks, cpu, total, faces = [], [], [], []
    with Analyzer(["gaze"], stages=stages) as analyzer, DemoSource(rows=rows, cols=cols, realtime=False) as source:
        for i in range(frames):
            frame = Frame(source.render(i), i, i / 30)
            start = time.perf_counter()
            analysis = analyzer.process(frame)
            if i >= warmup:
                total.append((time.perf_counter() - start) * 1000)
                landmarks.append(analysis.timings["landmarks"])
                cpu.append(timed.cpu_ms)
                faces.append(len(analysis.faces))
    return {"variant": variant, "grid": grid, "landmarks_ms": statistics.median(landmarks),
            "landmarks_cpu_ms": statistics.median(cpu),
            "frame_ms": statistics.median(total), "faces": statistics.median(faces),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(results: list[dict], variants: list[str], grids: list[str]) -> dict:
    """Print the medians over runs and the ratios; return them."""
    table = {}
    print(f"{'grid':5s} {'variant':13s} {'landmarks ms':>12s} {'cpu ms':>7s} {'frame ms':>9s} {'faces':>6s} {'Hz/face':>8s} "
          f"{'RSS MB':>7s}")
    for grid in grids:
        for variant in variants:
            runs = [r for r in results if r.get("grid") == grid and r.get("variant") == variant and "error" not in r]
            if not runs:
                print(f"{grid:5s} {variant:13s} failed: {[r.get('error') for r in results if r.get('variant') == variant]}")
                continue
            keys = ("landmarks_ms", "landmarks_cpu_ms", "frame_ms", "faces", "rss_mb")
            med = {k: statistics.median(r[k] for r in runs) for k in keys}
            table[(grid, variant)] = med
            print(f"{grid:5s} {variant:13s} {med['landmarks_ms']:12.1f} {med['landmarks_cpu_ms']:7.1f} {med['frame_ms']:9.1f} "
                  f"{med['faces']:6.0f} "
                  f"{1000 / med['frame_ms']:8.1f} {med['rss_mb']:7.0f}   ({len(runs)} runs)")
    for grid in grids:
        for variant in variants[1:]:
            a, b = table.get((grid, variants[0])), table.get((grid, variant))
            if a and b:
                print(f"{grid} {variants[0]} / {variant}: landmarks x{a['landmarks_ms'] / b['landmarks_ms']:.2f}, "
                      f"landmarks CPU x{a['landmarks_cpu_ms'] / b['landmarks_cpu_ms']:.2f}, "
                      f"frame x{a['frame_ms'] / b['frame_ms']:.2f}, RSS {a['rss_mb'] - b['rss_mb']:+.0f} MB saved")
    return {f"{g} {v}": m for (g, v), m in table.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=40, help="frames per run, warm-up included")
    parser.add_argument("--warmup", type=int, default=10, help="frames not measured (models load, tracks start)")
    parser.add_argument("--grids", default="7x7,3x3,1x1")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", help="also write every run's figures here")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "GRID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.exit(emit_result(lambda: measure(*args.child, args.frames, args.warmup),
                             variant=args.child[0], grid=args.child[1]))
    print_machine(machine())
    grids, variants = args.grids.split(","), args.variants.split(",")
    results = []
    for run in range(args.runs):
        for grid in grids:
            for variant in variants:
                cmd = [sys.executable, __file__, "--child", variant, grid, "--frames", str(args.frames),
                       "--warmup", str(args.warmup)]
                results.append(run_child(cmd, timeout=600, variant=variant, grid=grid))
                print(f"run {run + 1} {grid} {variant}: {json.dumps(results[-1])}", file=sys.stderr)
    medians = report(results, variants, grids)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "medians": medians}, indent=1))


if __name__ == "__main__":
    main()
