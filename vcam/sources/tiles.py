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


# -- the meeting apps' layouts (themed demo) -----------------------------------------------------------------

MAX_PEOPLE = 49
"""Most people one gallery page shows (Zoom's and Teams' 7x7)."""
FILMSTRIP_MAX = 5
"""Most thumbnails in a speaker view's filmstrip."""
FILMSTRIP_HEIGHT = 0.14
"""A speaker view's filmstrip thumbnails are this fraction of the frame's height."""


def app_grid(people: int) -> tuple[int, int]:
    """``(rows, cols)`` a meeting app uses for ``people`` tiles (>= 1): as square as it can be.

    Columns are ``ceil(sqrt(n))`` and rows as many as needed, so 23 people get 5x5 with 3 in the last row.
    """
    cols = 1
    while cols * cols < people:
        cols += 1
    return -(-people // cols), cols


def gallery(people: int, rows: int, cols: int, width: int, height: int, gap: int, margin: int) -> list[Rect]:
    """Reading-order 16:9 rects of ``people`` tiles in a ``rows`` x ``cols`` grid with ``gap`` px between
    tiles and at least ``margin`` px around them; the grid is centred and so is an uneven last row.

    With ``people == rows * cols`` and ``margin == gap`` this is :func:`grid` with the given gap.
    """
    tile_w = min((width - 2 * margin - (cols - 1) * gap) / cols,
                 (height - 2 * margin - (rows - 1) * gap) / rows * TILE_ASPECT)
    tw, th = int(tile_w), int(tile_w / TILE_ASPECT)
    used_rows = -(-people // cols)
    y0 = (height - used_rows * th - (used_rows - 1) * gap) // 2
    rects = []
    for r in range(used_rows):
        k = min(cols, people - r * cols)
        x0 = (width - k * tw - (k - 1) * gap) // 2
        rects += [(x0 + c * (tw + gap), y0 + r * (th + gap), tw, th) for c in range(k)]
    return rects


def speaker_view(others: int, width: int, height: int, gap: int, strip_on_top: bool = True) -> list[Rect]:
    """A speaker view: up to :data:`FILMSTRIP_MAX` thumbnails for ``others`` people in a centred filmstrip
    (on top, as in Zoom, or at the bottom, as in Teams) and one large 16:9 tile filling the rest.

    Returns the rects in reading order: the filmstrip's (left to right) then the large tile's, or the
    large tile's first when the strip is at the bottom.
    """
    k = min(others, FILMSTRIP_MAX)
    th = max(MIN_TILE[1], round(height * FILMSTRIP_HEIGHT)) if k else 0
    tw = int(th * TILE_ASPECT)
    x0 = (width - k * tw - (k - 1) * gap) // 2
    strip_y = gap if strip_on_top else height - gap - th
    strip = [(x0 + i * (tw + gap), strip_y, tw, th) for i in range(k)]
    free = height - th - (3 if k else 2) * gap
    main_w = int(min(width - 2 * gap, free * TILE_ASPECT))
    main_h = int(main_w / TILE_ASPECT)
    top = (th + 2 * gap if k and strip_on_top else gap) + (free - main_h) // 2
    main = ((width - main_w) // 2, top, main_w, main_h)
    return strip + [main] if strip_on_top else [main] + strip
