"""The names stage's CPU cost on a 7x7 gallery at 1920x1080: the share of one core over a run.

```
.venv/bin/python bench/names_budget.py [--seconds 60] [--rate 10] [--rows 7 --cols 7]
```

The demo source (``vcam.sources.demo``: real portraits that drift, zoom and turn inside their tiles, with
static name labels) is analysed at ``--rate`` frames per second of wall time, as the analysis thread
would. It counts the CPU time of ``Names.__call__`` on this thread (crops and change keys of every
label) and of every read on the worker thread (``time.thread_time`` around ``NameReader.read_line``), and
prints both as a share of one core over the run, with the number of reads. Target: <= 5 % of one core
with the labels static (OCR only runs when a label band changes).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

import numpy as np

from vcam.pipeline.name_reader import NameReader
from vcam.pipeline.names import Names
from vcam.sources.demo import DemoSource
from vcam.types import Faces, Frame, Layout

log = logging.getLogger("bench.names_budget")


class TimedReader(NameReader):
    """A NameReader that adds up the CPU seconds its reads take (on the worker thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu = 0.0
        self.lock = threading.Lock()

    def read_line(self, label_bgr: np.ndarray) -> tuple[str | None, tuple[int, int, int, int] | None]:
        start = time.thread_time()
        try:
            return super().read_line(label_bgr)
        finally:
            with self.lock:
                self.cpu += time.thread_time() - start


def run(seconds: float, rate: float, rows: int, cols: int) -> dict:
    """Analyse the demo gallery for ``seconds`` at ``rate`` Hz; the figures as a dict."""
    readers: list[TimedReader] = []
    source = DemoSource(rows, cols, 1920, 1080, realtime=False)
    with source:
        layout = Layout.of("grid", np.array(source.tile_rects(), np.float32))
        stage = Names(lambda: layout, lambda names: None, lambda: readers.append(TimedReader()) or readers[-1])
        faces = Faces.from_boxes(np.zeros((len(layout), 4), np.float32)).replace(tile=np.arange(len(layout)))
        warm_until = time.monotonic() + 3.0
        while time.monotonic() < warm_until or not stage.idle():  # first reads of every label: not counted
            stage(Frame(source.render(0), 0, 0.0, 0.0), faces)
            time.sleep(1 / rate)
        start_reads, start_cpu = readers[0].calls, readers[0].cpu
        main_cpu, t0, index = 0.0, time.monotonic(), 0
        while (now := time.monotonic()) - t0 < seconds:
            index += 1
            frame = Frame(source.render(int((now - t0) * 30)), index, now - t0, now)
            c0 = time.thread_time()
            out = stage(frame, faces)
            main_cpu += time.thread_time() - c0
            time.sleep(max(0.0, t0 + index / rate - time.monotonic()))
        wall = time.monotonic() - t0
        stage.close()
    reader = readers[0]
    return {"frames": index, "wall_s": wall, "reads": reader.calls - start_reads,
            "analysis_pct": 100 * main_cpu / wall, "worker_pct": 100 * (reader.cpu - start_cpu) / wall,
            "ms_per_frame": 1000 * main_cpu / max(1, index), "named": int(sum(n is not None for n in out.participant)),
            "tiles": len(layout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0, help="analysed frames per second")
    parser.add_argument("--rows", type=int, default=7)
    parser.add_argument("--cols", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    r = run(args.seconds, args.rate, args.rows, args.cols)
    total = r["analysis_pct"] + r["worker_pct"]
    log.info("%dx%d gallery at 1920x1080, %d frames in %.0f s (%.0f Hz): %d/%d tiles named",
             args.rows, args.cols, r["frames"], r["wall_s"], r["frames"] / r["wall_s"], r["named"], r["tiles"])
    log.info("analysis thread: %.2f ms per frame, %.2f %% of one core", r["ms_per_frame"], r["analysis_pct"])
    log.info("worker: %d reads, %.2f %% of one core", r["reads"], r["worker_pct"])
    log.info("total: %.2f %% of one core (target <= 5 %%): %s", total, "PASS" if total <= 5 else "MISS")


if __name__ == "__main__":
    main()
