"""looks: what a meeting participant's tile looks like around their face, to follow them when tiles move.

When a meeting app re-orders its gallery (someone joins, leaves or speaks), the boxes no longer follow
the people. A participant name says who moved where (:meth:`vcam.pipeline.track.Track.follow_names`);
when the name cannot be read, or name reading is off, the look of the tile around the face does: the
room behind the person, their hair and clothes, which stay the same from frame to frame and differ
between participants far more than the face alone at 50-100 px.

A look is a :data:`GRID` × :data:`GRID` grid of CIELAB colours sampled from a region in face units (from
:data:`REGION` face widths left of the face's centre to as many right, and from one face height
above it to :data:`BELOW` below), so it does not depend on the tile's size: the same person in a
larger tile after a re-flow looks the same. Cells outside the face's tile (a neighbour's video, the
gutter) are masked out.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

GRID = 8
"""Cells per side of a look. More sees finer detail but moves with every turn of the head (8, 12 and 16
compared by how well they tell people apart on the demo meetings' re-flows)."""
REGION = 1.2
"""Half the look's width in face widths: wide enough to hold the room behind the person; wider reaches
into the tile's edges, which a re-flow to another tile shape crops differently."""
ABOVE, BELOW = 1.2, 1.8
"""How far the look reaches above and below the face's centre, in face heights (hair; shoulders and clothes)."""
MIN_CELLS = GRID * GRID // 4
"""Fewest cells two looks must share to be compared; fewer (a face at a tile's corner) is no look."""


def look(image: np.ndarray, box: np.ndarray, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The look of the face ``box`` in its ``tile`` of ``image``.

    Args:
        image: ``(H, W, 3) uint8`` BGR frame.
        box: ``(4,)`` ``[x, y, w, h]`` face box, frame pixels.
        tile: ``(4,)`` ``[x, y, w, h]`` of the face's tile, frame pixels.

    Returns:
        ``(GRID * GRID, 3) float32`` CIELAB colours (L 0..100, a and b about -128..127) and
        ``(GRID * GRID,) bool``: the cells inside the tile and the frame.
    """
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x0, x1 = cx - REGION * box[2], cx + REGION * box[2]
    y0, y1 = cy - ABOVE * box[3], cy + BELOW * box[3]
    edges_x, edges_y = np.linspace(x0, x1, GRID + 1), np.linspace(y0, y1, GRID + 1)
    centres_x, centres_y = (edges_x[:-1] + edges_x[1:]) / 2, (edges_y[:-1] + edges_y[1:]) / 2
    h, w = image.shape[:2]
    left, top = max(tile[0], 0), max(tile[1], 0)
    right, bottom = min(tile[0] + tile[2], w), min(tile[1] + tile[3], h)
    valid = (((centres_x >= left) & (centres_x < right))[None, :]
             & ((centres_y >= top) & (centres_y < bottom))[:, None]).ravel()
    return _cells(image, (x0, y0, x1, y1)), valid


def _cells(image: np.ndarray, region: tuple[float, float, float, float]) -> np.ndarray:
    """The mean CIELAB colour of each of GRID × GRID cells of ``region`` ``(x0, y0, x1, y1)`` (frame pixels;
    outside the frame the edge pixels repeat: those cells are masked by the caller)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in region)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    crop = image[min(max(y0, 0), h - 1):max(min(y1, h), 1), min(max(x0, 0), w - 1):max(min(x1, w), 1)]
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_REPLICATE)
    step = max(1, min(crop.shape[:2]) // (4 * GRID))  # every step-th pixel: 4 x 4 samples per cell are plenty
    small = cv2.resize(crop[::step, ::step], (GRID, GRID), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3)


def distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """How unlike two looks are: the median CIELAB distance (ΔE76) over the cells both hold; inf when they
    share fewer than :data:`MIN_CELLS`. Same person, moments apart: a few units; another person: tens."""
    both = a[1] & b[1]
    if np.count_nonzero(both) < MIN_CELLS:
        return float("inf")
    diff = a[0][both] - b[0][both]
    return float(np.median(np.sqrt((diff * diff).sum(axis=1))))


Look = tuple[np.ndarray, np.ndarray]
"""What :func:`look` returns: ``(GRID * GRID, 3)`` colours and ``(GRID * GRID,)`` valid cells."""

CHANGED = 8.0
"""A face whose look moved more than this since the last analysis may be another person (the same
person moments apart: median 1, 99th percentile 3-4 on the demo meetings)."""
SAME = 14.0
"""Two looks under this distance can be one person (the same person 8 s and a re-flow apart: 90th
percentile 9-10; two people: 1st percentile 14)."""
OTHER = 22.0
"""A face whose look moved more than this is another person even when no track looks like them (two
people: median 34, 5th percentile 20; one person across a re-flow at most about 20)."""


def pair(faces: list[Look], tracks: list[Look]) -> list[int]:
    """For each of ``faces``, the index into ``tracks`` of the look it is, -1 for none: the assignment
    with the least total distance (Hungarian) among pairs closer than :data:`SAME`."""
    if not faces or not tracks:
        return [-1] * len(faces)
    cost = np.array([[distance(f, t) for t in tracks] for f in faces])
    allowed = cost < SAME
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
    result = [-1] * len(faces)
    for r, c in zip(rows, cols):
        if allowed[r, c]:
            result[r] = int(c)
    return result
