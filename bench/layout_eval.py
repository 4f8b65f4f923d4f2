"""How well find_layout reads meeting screens, and what it and LayoutFinder cost. Prints figures; not a test.

    .venv/bin/python bench/layout_eval.py [--runs 7] [--json out.json]

The screens are drawn by ``tests/galleries.py`` from the real portraits (Zoom, Teams, Meet and Webex
themes, light and dark): grids from 1x1 to 7x7 (uneven last rows, 4:3 tiles, camera-off tiles),
speaker views, screen shares with a strip, at 1280x720, 1920x1080 and 3840x2160, some as JPEG
(a recording) or as a window on a desktop. Screens with no gallery: slides, documents, the group
photos and portraits as a webcam would show them.

Per layout kind and per theme: **exact** (the kind and the tile count right and every tile, in reading
order, at IoU >= 0.8 with the truth), the mean IoU of the tiles matched one to one, and camera-off
accuracy over the tiles of exact reads. **false layouts**: no-gallery screens read as a gallery.
**Costs** at 1920x1080: the median ms of ``find_layout`` over ``--runs`` runs per screen, and of
``LayoutFinder.update`` on frames whose layout did not change (the probe), plus its mean over 10 s
at 15 fps including the periodic re-checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import galleries as g  # noqa: E402
from common import machine, print_machine  # noqa: E402
from vcam.pipeline.layout import LayoutFinder, find_layout  # noqa: E402
from vcam.pipeline.track import iou_matrix  # noqa: E402
from vcam.types import Frame  # noqa: E402


def jpeg(screen: g.Screen, quality: int = 80) -> g.Screen:
    """The screen as a recording would hold it."""
    ok, buf = cv2.imencode(".jpg", screen.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return g.Screen(cv2.imdecode(buf, cv2.IMREAD_COLOR), screen.kind, screen.tiles, screen.camera_off, screen.names)


def on_desktop(screen: g.Screen, at: tuple[int, int] = (60, 40)) -> g.Screen:
    """The screen as a window on a 1920x1080 desktop, its tiles moved with it."""
    image = np.full((1080, 1920, 3), (90, 60, 30), np.uint8)
    h, w = screen.image.shape[:2]
    image[at[1]:at[1] + h, at[0]:at[0] + w] = screen.image
    return g.Screen(image, screen.kind, screen.tiles + np.array([*at, 0, 0], np.float32), screen.camera_off, screen.names)


def galleries() -> list[tuple[str, str, g.Screen]]:
    """``(variant, theme, screen)`` of every labelled gallery screen."""
    out = []
    for i, theme in enumerate(g.THEMES):
        out += [("grid 1x1", theme, g.grid(1, 1, theme, seed=i)), ("grid 2x2", theme, g.grid(2, 2, theme, seed=i)),
                ("grid 3x3", theme, g.grid(3, 3, theme, off=(4,), seed=i, speaking=1)),
                ("grid 4x4 uneven", theme, g.grid(4, 4, theme, count=13, seed=i)),
                ("grid 5x5", theme, g.grid(5, 5, theme, off=(0, 7), seed=i)),
                ("grid 7x7 uneven", theme, g.grid(7, 7, theme, count=45, off=(3, 20), seed=i)),
                ("grid 3x4 4:3", theme, g.grid(3, 4, theme, aspect=4 / 3, seed=i)),
                ("speaker top", theme, g.speaker(5, theme, seed=i)),
                ("speaker right", theme, g.speaker(4, theme, side="right", off=(2,), seed=i)),
                ("speaker bottom", theme, g.speaker(6, theme, side="bottom", seed=i)),
                ("strip right", theme, g.strip(4, theme, off=(1,), seed=i)),
                ("strip top", theme, g.strip(5, theme, side="top", seed=i)),
                ("grid 3x3 720p", theme, g.grid(3, 3, theme, size=(1280, 720), seed=i)),
                ("grid 4x4 4k", theme, g.grid(4, 4, theme, size=(3840, 2160), seed=i)),
                ("grid 3x3 jpeg", theme, jpeg(g.grid(3, 3, theme, seed=i))),
                ("grid 3x3 window", theme, on_desktop(g.grid(3, 3, theme, size=(1400, 850), seed=i)))]
    return out


def no_galleries() -> list[tuple[str, g.Screen]]:
    """``(name, screen)`` of screens that show no gallery."""
    out = [(f"slide {s}", g.slide(size, seed=s)) for s, size in enumerate([(1920, 1080), (1280, 720), (3840, 2160)])]
    out += [(f"document {s}", g.document(size, seed=s)) for s, size in enumerate([(1920, 1080), (1280, 720), (2560, 1440)])]
    out += [(f"photo group{i}", g.Screen(cv2.imread(str(g.DATA / f"group{i}.jpg")), None)) for i in range(1, 7)]
    for name in ("obama", "biden", "grace_hopper", "astronaut"):
        out.append((f"webcam {name}", g.Screen(g._cover(cv2.imread(str(g.DATA / f"{name}.jpg")), 1280, 720), None)))
    return out


def judge(screen: g.Screen, layout) -> dict:
    """exact, mean IoU of the one-to-one matched tiles, camera-off hits and tiles (of an exact read)."""
    if layout is None:
        return {"exact": False, "iou": 0.0, "off_ok": 0, "off_n": 0}
    iou = iou_matrix(screen.tiles, layout.tiles)
    rows, cols = linear_sum_assignment(-iou)
    matched = float(iou[rows, cols].sum() / len(screen.tiles))
    exact = (layout.kind == screen.kind and len(layout) == len(screen.tiles)
             and bool(np.diag(iou).min() >= 0.8))
    off_ok = int((layout.camera_off == screen.camera_off).sum()) if exact else 0
    return {"exact": exact, "iou": matched, "off_ok": off_ok, "off_n": len(screen.tiles) if exact else 0}


def accuracy() -> dict:
    """Per variant kind and per theme: exact share, mean IoU, camera-off accuracy; false layouts."""
    by: dict[str, list[dict]] = defaultdict(list)
    misses = []
    for variant, theme, screen in galleries():
        result = judge(screen, find_layout(screen.image))
        short = variant.split(" ", 1)[1] if variant.startswith("grid") else variant
        for key in (f"kind {screen.kind}", f"theme {theme}", f"variant {short}", "all"):
            by[key].append(result)
        if not result["exact"]:
            misses.append(f"{variant} / {theme}")
    table = {key: {"screens": len(rs), "exact": sum(r["exact"] for r in rs) / len(rs),
                   "iou": float(np.mean([r["iou"] for r in rs])),
                   "camera_off": sum(r["off_ok"] for r in rs) / max(1, sum(r["off_n"] for r in rs))}
             for key, rs in by.items()}
    none = no_galleries()
    false = [name for name, screen in none if find_layout(screen.image) is not None]
    return {"table": table, "misses": misses, "no_gallery": len(none), "false_layouts": false}


def median_ms(fn, runs: int) -> float:
    """Median wall ms of ``fn()`` over ``runs`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def costs(runs: int) -> dict:
    """find_layout per screen, and the finder's per-frame cost on an unchanged meeting, at 1920x1080."""
    screens = {"grid 3x3": g.grid(3, 3), "grid 7x7": g.grid(7, 7, "teams-light"), "speaker": g.speaker(5),
               "strip": g.strip(4, "meet"), "slide (none)": g.slide(), "photo (none)": g.webcam((1920, 1080))}
    out = {f"find_layout {name}": median_ms(lambda s=s: find_layout(s.image), runs) for name, s in screens.items()}
    for name in ("grid 3x3", "grid 7x7", "slide (none)"):
        image = screens[name].image
        finder = LayoutFinder()
        finder.update(Frame(image, 0, 0.0, "screen"))
        t = iter(np.arange(1, 10_000) / 15.0 % 2.5 + 0.3)  # frame times that never reach a re-check
        out[f"probe {name}"] = median_ms(lambda: finder.update(Frame(image, 1, next(t), "screen")), runs * 50)
        finder = LayoutFinder()
        start = time.perf_counter()
        for i in range(150):
            finder.update(Frame(image, i, i / 15.0, "screen"))
        out[f"update mean over 10 s at 15 fps, {name}"] = (time.perf_counter() - start) * 1000 / 150
        out[f"finds in those 10 s, {name}"] = finder.finds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per timing (median)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    info = machine()
    print_machine(info)
    acc = accuracy()
    print(f"\n{len(galleries())} gallery screens, {acc['no_gallery']} with no gallery")
    print(f"{'':28s} {'screens':>7s} {'exact':>6s} {'IoU':>5s} {'cam-off':>7s}")
    for key, row in sorted(acc["table"].items()):
        print(f"{key:28s} {row['screens']:7d} {row['exact']:6.0%} {row['iou']:5.2f} {row['camera_off']:7.0%}")
    print(f"not exact: {', '.join(acc['misses']) or 'none'}")
    print(f"false layouts on no-gallery screens: {len(acc['false_layouts'])}/{acc['no_gallery']} "
          f"{acc['false_layouts'] or ''}")
    cost = costs(args.runs)
    print(f"\ncosts at 1920x1080 (median of {args.runs} runs; probe: of {args.runs * 50}):")
    for key, value in cost.items():
        print(f"  {key:45s} {value:8.3f}{'' if key.startswith('finds') else ' ms'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "accuracy": acc, "costs": cost}, indent=1))


if __name__ == "__main__":
    main()
