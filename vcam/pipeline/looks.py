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
SUB = 2
"""Samples per cell side, averaged into the cell's colour."""
SMALL = 270
"""The frame is sampled shrunk to about this many pixels high (every 4th pixel of 1080p), then blurred 3 × 3:
a cell of a 60 px face is then about 4 samples wide. A finer frame costs more per analysis for the same look."""
MIN_CELLS = GRID * GRID // 4
"""Fewest cells two looks must share to be compared; fewer (a face at a tile's corner) is no look."""


def look(image: np.ndarray, box: np.ndarray, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The look of one face ``box`` ``(4,)`` in its ``tile`` ``(4,)`` of ``image``: :func:`looks_of` for one."""
    colours, valid = looks_of(image, np.reshape(box, (1, 4)), np.reshape(tile, (1, 4)))
    return colours[0], valid[0]


def looks_of(image: np.ndarray, boxes: np.ndarray, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The looks of ``N`` faces, all at once (one pass over the frame, whatever ``N``).

    Args:
        image: ``(H, W, 3) uint8`` BGR frame.
        boxes: ``(N, 4)`` ``[x, y, w, h]`` face boxes, frame pixels.
        tiles: ``(N, 4)`` ``[x, y, w, h]`` of each face's tile, frame pixels.

    Returns:
        ``(N, GRID * GRID, 3) float32`` CIELAB colours (L 0..100, a and b about -128..127), each the mean
        of :data:`SUB` × :data:`SUB` samples of a frame shrunk to about :data:`SMALL` px high and blurred,
        and ``(N, GRID * GRID) bool``: the cells whose centre is inside the face's tile and the frame.
    """
    boxes, tiles = np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(tiles, np.float32).reshape(-1, 4)
    h, w = image.shape[:2]
    step = max(1, round(min(h, w) / SMALL))
    small = cv2.blur(image[::step, ::step], (3, 3))
    cx, cy = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    unit = (np.arange(GRID * SUB, dtype=np.float32) + 0.5) / (GRID * SUB)  # sample centres, 0..1
    xs = (cx - REGION * boxes[:, 2])[:, None] + unit[None, :] * (2 * REGION * boxes[:, 2])[:, None]
    ys = (cy - ABOVE * boxes[:, 3])[:, None] + unit[None, :] * ((ABOVE + BELOW) * boxes[:, 3])[:, None]
    sx = np.clip((xs / step).astype(np.int64), 0, small.shape[1] - 1)
    sy = np.clip((ys / step).astype(np.int64), 0, small.shape[0] - 1)
    samples = small[sy[:, :, None], sx[:, None, :]].astype(np.float32)  # (N, G*SUB, G*SUB, 3)
    n = len(boxes)
    cells = samples.reshape(n, GRID, SUB, GRID, SUB, 3).mean(axis=(2, 4)) / 255.0
    lab = cv2.cvtColor(cells.reshape(-1, 1, 3), cv2.COLOR_BGR2LAB).reshape(n, GRID * GRID, 3)
    centre_x = xs.reshape(n, GRID, SUB).mean(axis=2)
    centre_y = ys.reshape(n, GRID, SUB).mean(axis=2)
    left, top = np.maximum(tiles[:, 0], 0)[:, None], np.maximum(tiles[:, 1], 0)[:, None]
    right, bottom = np.minimum(tiles[:, 0] + tiles[:, 2], w)[:, None], np.minimum(tiles[:, 1] + tiles[:, 3], h)[:, None]
    inside_x, inside_y = (centre_x >= left) & (centre_x < right), (centre_y >= top) & (centre_y < bottom)
    return lab, (inside_y[:, :, None] & inside_x[:, None, :]).reshape(n, GRID * GRID)


def distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """How unlike two looks are: the median CIELAB distance (ΔE76) over the cells both hold; inf when they
    share fewer than :data:`MIN_CELLS`. Same person, moments apart: a few units; another person: tens."""
    return float(distances(a[0][None], a[1][None], b[0][None], b[1][None])[0, 0])


def distances(a_colours: np.ndarray, a_valid: np.ndarray, b_colours: np.ndarray, b_valid: np.ndarray) -> np.ndarray:
    """``(U, C)`` :func:`distance` of every look ``a`` (``(U, K, 3)`` colours, ``(U, K)`` valid cells) to every
    look ``b`` (``(C, K, 3)``, ``(C, K)``)."""
    diff = a_colours[:, None] - b_colours[None]
    cell = np.sqrt((diff * diff).sum(axis=-1))  # (U, C, K)
    both = a_valid[:, None] & b_valid[None]
    return _median_where(cell, both)


def row_distances(a_colours: np.ndarray, a_valid: np.ndarray, b_colours: np.ndarray, b_valid: np.ndarray) -> np.ndarray:
    """``(N,)`` :func:`distance` of look ``a[i]`` to look ``b[i]`` (both ``(N, K, 3)`` colours, ``(N, K)`` valid)."""
    diff = a_colours - b_colours
    return _median_where(np.sqrt((diff * diff).sum(axis=-1)), a_valid & b_valid)


def _median_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The median of ``values`` along the last axis where ``mask``; inf where fewer than MIN_CELLS are."""
    count = mask.sum(axis=-1)
    ranked = np.sort(np.where(mask, values, np.inf), axis=-1)
    lower = np.take_along_axis(ranked, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    upper = np.take_along_axis(ranked, np.maximum(count // 2, 0)[..., None], axis=-1)[..., 0]
    return np.where(count >= MIN_CELLS, (lower + upper) / 2, np.inf)


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
    cost = distances(np.stack([f[0] for f in faces]), np.stack([f[1] for f in faces]),
                     np.stack([t[0] for t in tracks]), np.stack([t[1] for t in tracks]))
    allowed = cost < SAME
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
    result = [-1] * len(faces)
    for r, c in zip(rows, cols):
        if allowed[r, c]:
            result[r] = int(c)
    return result
