"""Where the demo gallery's tiles go: plain arithmetic, so that a ``demo:RxC@WxH`` spec can be checked
without making a :class:`~vcam.sources.demo.DemoSource` (and without importing OpenCV or numpy).
"""

from __future__ import annotations

from vcam.errors import ConfigError
from vcam.limits import HEIGHT, WIDTH

ROWS, COLS = 3, 3
"""The default grid: nine people, as a meeting's gallery view shows them."""
SIZE = (1920, 1080)
"""The default frame ``(width, height)`` in pixels: a full-HD screen."""
TILE_ASPECT = 16 / 9
"""Width / height of a tile, as in Zoom's and Teams' gallery views."""
MIN_TILE = (32, 18)
"""Smallest tile ``(width, height)`` in pixels: a face in a smaller one is too small to find."""

Rect = tuple[int, int, int, int]
"""``(x, y, w, h)`` in frame pixels."""


def check_grid(rows: int, cols: int, width: int, height: int) -> None:
    """Raise ConfigError naming the argument when the grid or the frame is out of range or the tiles too small.

    Args:
        rows, cols: tiles down and across, each >= 1.
        width, height: the frame in pixels, within :data:`~vcam.limits.WIDTH` and :data:`~vcam.limits.HEIGHT`.
    """
    for name, value in (("rows", rows), ("cols", cols)):
        if not value >= 1:
            raise ConfigError(f"DemoSource {name} must be >= 1, got {value!r}")
    WIDTH.check(width, "DemoSource width")
    HEIGHT.check(height, "DemoSource height")
    tile_w, tile_h = tile_size(rows, cols, width, height)
    if tile_w < MIN_TILE[0] or tile_h < MIN_TILE[1]:
        raise ConfigError(f"DemoSource {rows}x{cols} tiles in {width}x{height} pixels are too small "
                          f"({tile_w}x{tile_h}); use fewer rows/cols or a larger frame")


def grid(rows: int, cols: int, width: int, height: int) -> list[Rect]:
    """Row-major 16:9 tile rects, centred in the frame with small gaps."""
    gap = _gap(width, height)
    tile_w, tile_h = tile_size(rows, cols, width, height)
    x0 = (width - cols * tile_w - (cols - 1) * gap) // 2
    y0 = (height - rows * tile_h - (rows - 1) * gap) // 2
    return [(x0 + c * (tile_w + gap), y0 + r * (tile_h + gap), tile_w, tile_h) for r in range(rows) for c in range(cols)]


def tile_size(rows: int, cols: int, width: int, height: int) -> tuple[int, int]:
    """``(w, h)`` of each tile in pixels: the largest 16:9 tile that fits the grid, gaps included."""
    gap = _gap(width, height)
    tile_w = min((width - gap * (cols + 1)) / cols, (height - gap * (rows + 1)) / rows * TILE_ASPECT)
    return int(tile_w), int(tile_w / TILE_ASPECT)


def _gap(width: int, height: int) -> int:
    """Pixels between tiles and around them: 8 at 1080p, never under 2."""
    return max(2, round(min(width, height) / 135))
