"""Benchmark of ``overlay.draw`` on the meeting gallery at 1280×720: 3×3, 5×5 and 7×7.

What runs
    The golden scenes of ``tests/overlay`` (``conftest.gallery_scene``): the
    demo meeting's first frame and a fixed analysis with a layout, one face
    per tile, mixed states, accented names, camera-off tiles and a shared tile.
    For each grid, ``draw`` runs ``--frames`` times per round, ``--rounds``
    rounds, after a warm-up that fills the sprite caches (a live session draws
    the same names frame after frame). For comparison, the same faces drawn
    without the layout (the single-face view, every mark on every face).

What is printed
    Per grid: the first (cold-cache) draw in ms, then the median ms per frame of
    each round and the median of those medians, for the gallery view and the
    single-face view of the same faces.

Run ``.venv/bin/python bench/overlay_draw.py [--rounds 5] [--frames 50]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from common import machine, print_machine

ROOT = Path(__file__).resolve().parents[1]
GRIDS = (3, 5, 7)


def _scenes() -> Callable:
    """``gallery_scene(rows, cols)`` from ``tests/overlay/conftest.py``: the goldens' scenes."""
    spec = importlib.util.spec_from_file_location("overlay_scenes", ROOT / "tests" / "overlay" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.gallery_scene


def _ms_per_frame(draw: Callable[[], object], frames: int) -> float:
    """Median ms of ``frames`` calls of ``draw``."""
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        draw()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _bench(rows: int, rounds: int, frames: int) -> None:
    """Print the figures of one ``rows`` × ``rows`` grid."""
    from overlay import draw

    image, analysis = _scenes()(rows, rows)
    flat = dataclasses.replace(analysis, layout=None)
    t0 = time.perf_counter()
    draw(image, analysis)
    cold = (time.perf_counter() - t0) * 1000
    for _ in range(20):
        draw(image, analysis), draw(image, flat)
    gallery = [_ms_per_frame(lambda: draw(image, analysis), frames) for _ in range(rounds)]
    single = [_ms_per_frame(lambda: draw(image, flat), frames) for _ in range(rounds)]
    print(f"{rows}x{rows} ({len(analysis.layout)} tiles, {len(analysis.faces)} faces): first draw {cold:.1f} ms; "
          f"gallery view median {statistics.median(gallery):.2f} ms/frame (rounds: "
          f"{', '.join(f'{v:.2f}' for v in gallery)}); single-face view of the same faces "
          f"{statistics.median(single):.2f} ms/frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per grid; the median of their medians is printed")
    parser.add_argument("--frames", type=int, default=50, help="draw() calls per round")
    args = parser.parse_args()
    print_machine(machine())
    print(f"overlay.draw at 1280x720, {args.rounds} rounds of {args.frames} frames")
    for rows in GRIDS:
        _bench(rows, args.rounds, args.frames)


if __name__ == "__main__":
    main()
