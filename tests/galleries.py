"""Synthetic meeting screens with known tiles, made from real portraits: for the layout tests and bench.

Each screen is drawn as Zoom, Teams, Google Meet or Webex draw theirs (window colours from
their light and dark themes, gutters, rounded corners, name labels, a toolbar, an active-speaker
border), with the portraits of ``vcam/assets/portraits`` and crops of ``tests/data/group*.jpg``
as the participants' videos. Camera-off tiles show a coloured disc with initials (or, in Zoom,
the name in the middle). Screens with no gallery (a slide, a document, a photo, a webcam
picture) are here too. Every function returns a :class:`Screen` whose ``tiles`` are the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PORTRAITS = ROOT / "vcam" / "assets" / "portraits"


@dataclass(frozen=True)
class Theme:
    """One app's look (colours BGR): window, tile backdrop, label box (None: text only), toolbar."""

    window: tuple[int, int, int]
    tile: tuple[int, int, int]
    label: tuple[int, int, int] | None
    text: tuple[int, int, int]
    toolbar: tuple[int, int, int] | None
    radius: float = 0.0  # corner radius, share of tile height
    gutter: int = 6  # px at 1080p
    centre_name: bool = False  # camera-off shows the name in the middle (Zoom), else a disc with initials


THEMES = {
    "zoom-dark": Theme((26, 26, 26), (0, 0, 0), (20, 20, 20), (240, 240, 240), (12, 12, 12), 0.0, 6, True),
    "zoom-light": Theme((245, 245, 245), (222, 222, 222), (40, 40, 40), (240, 240, 240), (232, 232, 232), 0.0, 6, True),
    "teams-dark": Theme((31, 31, 31), (41, 41, 41), (30, 30, 30), (235, 235, 235), (41, 41, 41), 0.05, 8),
    "teams-light": Theme((245, 245, 245), (226, 226, 226), (60, 60, 60), (250, 250, 250), (255, 255, 255), 0.05, 8),
    "meet": Theme((36, 33, 32), (67, 64, 60), None, (255, 255, 255), None, 0.06, 10),
    "webex": Theme((0, 0, 0), (38, 38, 38), (0, 0, 0), (230, 230, 230), (30, 30, 30), 0.03, 4),
}
"""The themes by name."""

DISCS = [(180, 105, 60), (60, 140, 220), (120, 170, 70), (170, 80, 160), (80, 80, 200), (150, 150, 40)]
"""Avatar disc colours (BGR)."""


@dataclass
class Screen:
    """A drawn screen: the image and the truth.

    Attributes:
        image: ``(H, W, 3) uint8`` BGR.
        kind: the layout kind, or None for a screen with no gallery.
        tiles: ``(T, 4) float32`` ``[x, y, w, h]`` px of every tile (reading order).
        camera_off: ``(T,) bool``.
        names: each tile's participant.
    """

    image: np.ndarray
    kind: str | None
    tiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    camera_off: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    names: list[str] = field(default_factory=list)


_CACHE: dict[str, list[tuple[str, np.ndarray]]] = {}


def videos() -> list[tuple[str, np.ndarray]]:
    """``(name, image)`` participants: the 11 portraits, then 16:9 crops of the group photos."""
    if "v" not in _CACHE:
        out = [(p.stem.split("_", 1)[1].replace("_", " ").title(), cv2.imread(str(p)))
               for p in sorted(PORTRAITS.glob("*.jpg"))]
        for i in range(1, 7):
            img = cv2.imread(str(DATA / f"group{i}.jpg"))
            h, w = img.shape[:2]
            cw = min(w, int(h * 16 / 9))
            out.append((f"Room {i}", img[:, (w - cw) // 2:(w + cw) // 2]))
        _CACHE["v"] = out
    return _CACHE["v"]


def _cover(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """``image`` scaled and centre-cropped to fill ``w`` x ``h``."""
    ih, iw = image.shape[:2]
    s = max(w / iw, h / ih)
    big = cv2.resize(image, (max(w, round(iw * s)), max(h, round(ih * s))), interpolation=cv2.INTER_AREA)
    y0, x0 = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y0:y0 + h, x0:x0 + w]


def _initials(name: str) -> str:
    return "".join(word[0] for word in name.split()[:2]).upper()


def _draw_tile(canvas: np.ndarray, rect: tuple[int, int, int, int], theme: Theme, name: str, video: np.ndarray | None,
               letterbox: bool = False, speaking: bool = False) -> None:
    """One tile drawn in place: the video (or the camera-off avatar), the label, corners, a speaking border."""
    x, y, w, h = rect
    tile = canvas[y:y + h, x:x + w]
    tile[:] = theme.tile
    if video is None:
        _avatar(tile, theme, name)
    elif letterbox:
        vw = min(w, int(h * 4 / 3))
        tile[:, (w - vw) // 2:(w - vw) // 2 + vw] = _cover(video, vw, h)
    else:
        tile[:] = _cover(video, w, h)
    _label(tile, theme, name)
    if speaking:
        cv2.rectangle(tile, (0, 0), (w - 1, h - 1), (40, 200, 60), max(2, h // 90))
    _round(tile, theme.window, int(theme.radius * h))


def _avatar(tile: np.ndarray, theme: Theme, name: str) -> None:
    h, w = tile.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    if theme.centre_name:
        scale = h / 180
        (tw, th), _ = cv2.getTextSize(name, font, scale, 2)
        cv2.putText(tile, name, ((w - tw) // 2, (h + th) // 2), font, scale, theme.text, 2, cv2.LINE_AA)
        return
    r = int(h * 0.2)
    colour = DISCS[sum(map(ord, name)) % len(DISCS)]
    cv2.circle(tile, (w // 2, h // 2), r, colour, -1, cv2.LINE_AA)
    text, scale = _initials(name), r / 30
    (tw, th), _ = cv2.getTextSize(text, font, scale, 2)
    cv2.putText(tile, text, ((w - tw) // 2, (h + th) // 2), font, scale, (255, 255, 255), 2, cv2.LINE_AA)


def _label(tile: np.ndarray, theme: Theme, name: str) -> None:
    h = tile.shape[0]
    scale = max(0.35, h / 600)
    (tw, th), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    pad = max(3, h // 60)
    y1 = h - pad
    if theme.label is not None:
        cv2.rectangle(tile, (pad, y1 - th - base - 2 * pad), (pad + tw + 2 * pad, y1), theme.label, -1)
    cv2.putText(tile, name, (2 * pad, y1 - pad - base), cv2.FONT_HERSHEY_SIMPLEX, scale, theme.text, 1, cv2.LINE_AA)


def _round(tile: np.ndarray, colour: tuple[int, int, int], r: int) -> None:
    """Paint the tile's corners outside a radius ``r`` px with the window ``colour``."""
    if r < 2:
        return
    yy, xx = np.mgrid[0:r, 0:r]
    outside = (xx - r + 0.5) ** 2 + (yy - r + 0.5) ** 2 > r * r
    h, w = tile.shape[:2]
    for flip_y, flip_x in ((False, False), (False, True), (True, False), (True, True)):
        m = outside[::-1] if flip_y else outside
        m = m[:, ::-1] if flip_x else m
        ys = slice(h - r, h) if flip_y else slice(0, r)
        xs = slice(w - r, w) if flip_x else slice(0, r)
        tile[ys, xs][m] = colour


def _theme(theme: str | Theme) -> Theme:
    """A theme by name (one of :data:`THEMES`) or as given."""
    return THEMES[theme] if isinstance(theme, str) else theme


def _window(size: tuple[int, int], theme: Theme) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A blank window and the area ``(x, y, w, h)`` left for the gallery (above the toolbar)."""
    width, height = size
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = theme.window
    bar = 0
    if theme.toolbar is not None:
        bar = round(height * 0.065)
        canvas[height - bar:] = theme.toolbar
        for i in range(6):
            cx = width // 2 + (i - 2.5) * bar * 1.4
            cv2.circle(canvas, (int(cx), height - bar // 2), bar // 4, (128, 128, 128), -1, cv2.LINE_AA)
        cv2.rectangle(canvas, (width - bar * 2, height - bar + 8), (width - 12, height - 8), (40, 40, 220), -1)
    return canvas, (0, 0, width, height - bar)


def _fit_grid(area: tuple[int, int, int, int], rows: int, cols: int, gap: int, aspect: float) -> tuple[int, int]:
    _, _, aw, ah = area
    w = min((aw - gap * (cols + 1)) / cols, (ah - gap * (rows + 1)) / rows * aspect)
    return int(w), int(w / aspect)


def _place(canvas: np.ndarray, theme: Theme, rects: list[tuple[int, int, int, int]], off: set[int], seed: int,
           speaking: int | None = None) -> Screen:
    """Draw participants into ``rects`` (tiles in ``off`` with their camera off); the truth in reading order."""
    people = videos()
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(people))
    names = []
    for i, rect in enumerate(rects):
        name, video = people[pick[i % len(people)]]
        names.append(name)
        letterbox = bool(rng.random() < 0.2)
        _draw_tile(canvas, rect, theme, name, None if i in off else video, letterbox, speaking == i)
    tiles = np.array(rects, np.float32).reshape(-1, 4)
    return Screen(canvas, "grid", tiles, np.array([i in off for i in range(len(rects))], bool), names)


def grid(rows: int, cols: int, theme: str | Theme = "zoom-dark", size: tuple[int, int] = (1920, 1080), count: int | None = None,
         off: tuple[int, ...] = (), seed: int = 0, aspect: float = 16 / 9, speaking: int | None = None) -> Screen:
    """A ``rows`` x ``cols`` gallery of ``count`` tiles (default all), the last row centred when shorter."""
    t = _theme(theme)
    canvas, area = _window(size, t)
    gap = max(2, round(t.gutter * size[1] / 1080))
    w, h = _fit_grid(area, rows, cols, gap, aspect)
    count = rows * cols if count is None else count
    y0 = area[1] + (area[3] - rows * h - (rows - 1) * gap) // 2
    rects = []
    for r in range(rows):
        n = min(cols, count - r * cols)
        x0 = area[0] + (area[2] - n * w - (n - 1) * gap) // 2
        rects += [(x0 + c * (w + gap), y0 + r * (h + gap), w, h) for c in range(n)]
    return _place(canvas, t, rects, set(off), seed, speaking)


def speaker(n: int, theme: str | Theme = "zoom-dark", size: tuple[int, int] = (1920, 1080), side: str = "top",
            off: tuple[int, ...] = (), seed: int = 0) -> Screen:
    """One large tile and a filmstrip of ``n`` small ones on ``side`` ("top", "bottom" or "right")."""
    t = _theme(theme)
    canvas, (ax, ay, aw, ah) = _window(size, t)
    gap = max(2, round(t.gutter * size[1] / 1080))
    if side == "right":
        sw = aw // 7
        sh = int(sw * 9 / 16)
        x = ax + aw - sw - gap
        y0 = ay + (ah - n * sh - (n - 1) * gap) // 2
        small = [(x, y0 + i * (sh + gap), sw, sh) for i in range(n)]
        big_area = (ax, ay, aw - sw - 2 * gap, ah)
    else:
        sw = aw // 8
        sh = int(sw * 9 / 16)
        x0 = ax + (aw - n * sw - (n - 1) * gap) // 2
        y = ay + gap if side == "top" else ay + ah - sh - gap
        small = [(x0 + i * (sw + gap), y, sw, sh) for i in range(n)]
        big_area = (ax, ay + sh + 2 * gap, aw, ah - sh - 2 * gap) if side == "top" else (ax, ay, aw, ah - sh - 2 * gap)
    bw, bh = _fit_grid(big_area, 1, 1, gap, 16 / 9)
    big = (big_area[0] + (big_area[2] - bw) // 2, big_area[1] + (big_area[3] - bh) // 2, bw, bh)
    rects = small + [big]
    screen = _place(canvas, t, rects, set(off), seed)
    return _reading_order(Screen(screen.image, "speaker", screen.tiles, screen.camera_off, screen.names))


def _reading_order(screen: Screen) -> Screen:
    """The screen with its tiles sorted top to bottom (rows: tops within half a tile), then left to right."""
    tiles = screen.tiles
    rows = np.zeros(len(tiles))
    for i in np.argsort(tiles[:, 1]):
        above = [j for j in range(len(tiles)) if tiles[i, 1] - tiles[j, 1] > 0.5 * tiles[i, 3]]
        rows[i] = max((rows[j] + 1 for j in above), default=0)
    order = np.lexsort((tiles[:, 0], rows))
    return Screen(screen.image, screen.kind, tiles[order], screen.camera_off[order], [screen.names[i] for i in order])


def strip(n: int, theme: str | Theme = "zoom-dark", size: tuple[int, int] = (1920, 1080), side: str = "right",
          off: tuple[int, ...] = (), seed: int = 0) -> Screen:
    """Shared content (a slide) and a strip of ``n`` thumbnails on ``side`` ("right" or "top")."""
    t = _theme(theme)
    canvas, (ax, ay, aw, ah) = _window(size, t)
    gap = max(2, round(t.gutter * size[1] / 1080))
    if side == "right":
        sw = aw // 7
        sh = int(sw * 9 / 16)
        x = ax + aw - sw - gap
        thumbs = [(x, ay + gap + i * (sh + gap), sw, sh) for i in range(n)]
        content = (ax + gap, ay + gap, aw - sw - 3 * gap, ah - 2 * gap)
    else:
        sw = aw // 8
        sh = int(sw * 9 / 16)
        x0 = ax + (aw - n * sw - (n - 1) * gap) // 2
        thumbs = [(x0 + i * (sw + gap), ay + gap, sw, sh) for i in range(n)]
        content = (ax + gap, ay + sh + 2 * gap, aw - 2 * gap, ah - sh - 3 * gap)
    cw, ch = _fit_grid(content, 1, 1, 0, 16 / 9)
    cx, cy = content[0] + (content[2] - cw) // 2, content[1] + (content[3] - ch) // 2
    canvas[cy:cy + ch, cx:cx + cw] = slide((cw, ch), seed).image
    screen = _place(canvas, t, thumbs, set(off), seed)
    return Screen(screen.image, "strip", screen.tiles, screen.camera_off, screen.names)


WORDS = "the meeting gallery layout quarterly results revenue growth team plan next steps review data model".split()


def _text_lines(canvas: np.ndarray, x: int, y: int, w: int, n: int, size: float, rng: np.random.Generator,
                colour: tuple[int, int, int] = (30, 30, 30), step: float = 1.9) -> int:
    """``n`` lines of words from ``(x, y)`` no wider than ``w``; returns the y below them."""
    line_h = int(30 * size * step)
    for i in range(n):
        words, cursor = [], 0
        while True:
            word = str(rng.choice(WORDS))
            (tw, _), _ = cv2.getTextSize(word + " ", cv2.FONT_HERSHEY_SIMPLEX, size, 1)
            if cursor + tw > w * rng.uniform(0.75, 1.0):
                break
            words.append(word)
            cursor += tw
        cv2.putText(canvas, " ".join(words), (x, y + (i + 1) * line_h), cv2.FONT_HERSHEY_SIMPLEX, size, colour,
                    max(1, int(size * 2)), cv2.LINE_AA)
    return y + (n + 1) * line_h


def slide(size: tuple[int, int] = (1920, 1080), seed: int = 0) -> Screen:
    """A white slide: a title, bullets and a bar chart with axes. No gallery."""
    width, height = size
    rng = np.random.default_rng(seed)
    canvas = np.full((height, width, 3), 255, np.uint8)
    u = height / 1080
    cv2.putText(canvas, "Quarterly review", (int(80 * u), int(130 * u)), cv2.FONT_HERSHEY_SIMPLEX, 2.2 * u,
                (90, 40, 20), max(1, int(5 * u)), cv2.LINE_AA)
    _text_lines(canvas, int(100 * u), int(180 * u), int(width * 0.42), 6, 1.0 * u, rng)
    x0, y0, x1, y1 = int(width * 0.55), int(250 * u), int(width * 0.93), int(900 * u)
    cv2.line(canvas, (x0, y1), (x1, y1), (60, 60, 60), max(1, int(3 * u)))
    cv2.line(canvas, (x0, y0), (x0, y1), (60, 60, 60), max(1, int(3 * u)))
    bars = 6
    bw = (x1 - x0) // (bars * 2)
    for i in range(bars):
        top = int(y1 - (y1 - y0) * rng.uniform(0.3, 0.95))
        bx = x0 + bw // 2 + i * 2 * bw
        cv2.rectangle(canvas, (bx, top), (bx + bw, y1 - 2), DISCS[i % len(DISCS)], -1)
    return Screen(canvas, None)


def document(size: tuple[int, int] = (1920, 1080), seed: int = 0) -> Screen:
    """A document editor: a grey window, a white page of paragraphs, a toolbar. No gallery."""
    width, height = size
    rng = np.random.default_rng(seed)
    canvas = np.full((height, width, 3), 232, np.uint8)
    canvas[: int(height * 0.08)] = (250, 250, 250)
    for i in range(12):
        cv2.rectangle(canvas, (20 + i * 50, 20), (50 + i * 50, 50), (120, 120, 120), 1)
    px0, px1 = int(width * 0.25), int(width * 0.75)
    canvas[int(height * 0.11):, px0:px1] = 255
    y = int(height * 0.15)
    for _ in range(4):
        y = _text_lines(canvas, px0 + 60, y, px1 - px0 - 120, int(rng.integers(2, 6)), 0.6 * height / 1080, rng)
    return Screen(canvas, None)


def photo() -> Screen:
    """A group photo (tests/data/group1.jpg) as it is. No gallery."""
    return Screen(cv2.imread(str(DATA / "group1.jpg")), None)


def webcam(size: tuple[int, int] = (1280, 720)) -> Screen:
    """A webcam-like picture: tests/data/obama.jpg filling ``size``. No gallery."""
    return Screen(_cover(cv2.imread(str(DATA / "obama.jpg")), *size), None)


def covered(screen: Screen, share: float = 0.35) -> np.ndarray:
    """The screen's image with a document window over its right ``share`` (a window in front)."""
    image = screen.image.copy()
    h, w = image.shape[:2]
    x0 = int(w * (1 - share))
    image[int(h * 0.1):int(h * 0.8), x0:] = document((w - x0, int(h * 0.8) - int(h * 0.1))).image
    return image
