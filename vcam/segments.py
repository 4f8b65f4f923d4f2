"""A long recording cut into time segments analysed apart, and the parts joined into one analyze document.

::

    frames  0 ─────────────── keep₁ ────────────── keep₂ ──────────── N
    seg 0   [start₀=0 ........ stop₀)
    seg 1              [start₁ | keep₁ ......... stop₁)          start₁ = keep₁ − overlap
    seg 2                                   [start₂ | keep₂ ....... stop₂=N)

Each segment is analysed from ``start`` (a fresh Analyzer, sampled as a whole run would be:
:meth:`vcam.analyze.Sampler.resume`) and keeps its frames from ``keep`` on; the ``overlap`` frames before
``keep`` warm its trackers up and are analysed by the segment before too. :func:`join` gives each part's
tracks the ids of the whole:

1. **Overlap.** In every overlap frame both parts analysed, faces are paired by box (IoU >= :data:`MATCH_IOU`,
   best first); a track of the later part takes the id of the earlier track it was paired with most often.
2. **Name.** A track still without an id takes that of the most recent earlier track with its participant
   name (from the meeting's tile), else its enrolled name, not taken in this part already.
3. Else it is a new person, with the next free id.

The joined frames are those each part keeps, and the tracks are summed up again from them
(:class:`vcam.analyze.TrackSummary`), so the document is what one run over the file gives, up to the
per-track smoothing each part starts afresh (attention, which looks back 10 s, is its own in a part's first
seconds after the overlap). This module does no I/O and knows no Ray.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vcam.analyze import TrackSummary

log = logging.getLogger(__name__)

MATCH_IOU = 0.5
"""Least intersection over union of two boxes in the same frame to be the same face. Higher pairs only faces
that barely moved between the two analyses of a frame (they see the same pixels, so boxes agree closely)."""


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` to ``stop`` (excluded) of a recording, of which those from ``keep`` on are kept.

    Attributes:
        start: the first frame analysed (``keep - overlap``; 0 for the first segment).
        keep: the first frame kept (the previous segment's ``stop``).
        stop: one past the last frame analysed and kept.
    """

    start: int
    keep: int
    stop: int


def plan(frames: int, fps: float, seconds: float, overlap_s: float = 2.0) -> list[Segment]:
    """The segments of a recording of ``frames`` frames at ``fps``: ``seconds`` long each (the last up to 1.5 ×
    that, so no stub is left), each analysed from ``overlap_s`` seconds before it. One segment (the whole) when
    ``seconds`` is 0, the frame count is unknown (0) or the recording is no longer than 1.5 × ``seconds``.

    Raises ValueError for a negative ``seconds`` or ``overlap_s``, or an overlap not shorter than a segment.
    """
    if seconds < 0 or overlap_s < 0:
        raise ValueError(f"segment and overlap must be >= 0 seconds, got {seconds} and {overlap_s}")
    length, overlap = max(1, round(seconds * fps)), round(overlap_s * fps)
    if seconds == 0 or frames <= 1.5 * length:
        return [Segment(0, 0, frames)]
    if overlap >= length:
        raise ValueError(f"the overlap ({overlap_s} s) must be shorter than a segment ({seconds} s)")
    keeps = list(range(0, frames - length // 2, length))
    stops = keeps[1:] + [frames]
    return [Segment(max(0, k - overlap), k, s) for k, s in zip(keeps, stops)]


def join(parts: Sequence[tuple[Segment, dict]]) -> dict:
    """One analyze document from each segment's (in order), with the ids of the whole (module docstring)."""
    first = parts[0][1]
    frames: list[dict] = []
    ids_so_far: dict[int, str | None] = {}  # the whole's id -> its label
    next_id = 1
    previous: dict | None = None
    for segment, document in parts:
        ids = _ids(document, previous, segment, ids_so_far, next_id)
        next_id = max([next_id - 1, *ids.values()]) + 1
        labels = _labels(document)
        ids_so_far.update({ids[local]: labels.get(local) for local in ids})
        frames.extend(_renumbered(f, ids) for f in document["frames"] if f["index"] >= segment.keep)
        previous = {**document, "frames": [_renumbered(f, ids) for f in document["frames"]]}
    summary = TrackSummary()
    for record in frames:
        summary.add(record)
    source = {**first["source"], "frames": parts[-1][1]["source"]["frames"], "analysed": len(frames)}
    log.info("joined %d segments: %d frames analysed, %d tracks", len(parts), len(frames), len(summary.records()))
    return {**first, "source": source, "frames": frames, "tracks": summary.records()}


def _ids(document: dict, previous: dict | None, segment: Segment, known: dict[int, str | None],
         next_id: int) -> dict[int, int]:
    """``{the part's track id: the whole's}``."""
    local = sorted({face["track_id"] for f in document["frames"] for face in f["faces"]})
    if previous is None:
        return {tid: tid for tid in local}
    ids = _by_overlap(document, previous, segment)
    labels = _labels(document)
    for tid in (t for t in local if t not in ids):
        ids[tid] = _by_label(labels.get(tid), known, set(ids.values()))
        if ids[tid] is None:
            ids[tid], next_id = next_id, next_id + 1
    return ids


def _by_overlap(document: dict, previous: dict, segment: Segment) -> dict[int, int]:
    """Pairs of (the part's id, the whole's id) voted by box overlap in the frames both analysed."""
    before = {f["index"]: f["faces"] for f in previous["frames"]}
    votes: Counter = Counter()
    for f in document["frames"]:
        if f["index"] < segment.keep and f["index"] in before:
            votes.update(_pairs(f["faces"], before[f["index"]]))
    ids: dict[int, int] = {}
    for (mine, theirs), _ in votes.most_common():
        if mine not in ids and theirs not in ids.values():
            ids[mine] = theirs
    return ids


def _pairs(faces: list[dict], earlier: list[dict]) -> list[tuple[int, int]]:
    """Greedy pairs ``(track id, earlier track id)`` of one frame's faces by box IoU, best first."""
    scores = sorted(((_iou(a["bbox"], b["bbox"]), a["track_id"], b["track_id"]) for a in faces for b in earlier),
                    reverse=True)
    taken_a, taken_b, pairs = set(), set(), []
    for iou, a, b in scores:
        if iou >= MATCH_IOU and a not in taken_a and b not in taken_b:
            taken_a.add(a), taken_b.add(b), pairs.append((a, b))
    return pairs


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x, y, w, h]`` boxes (pixels)."""
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(np.add(a[:2], a[2:]), np.add(b[:2], b[2:]))
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _labels(document: dict) -> dict[int, str | None]:
    """Each track's participant name, else its enrolled name, else None."""
    return {t["track_id"]: t.get("participant") or t.get("name") for t in document["tracks"]}


def _by_label(label: str | None, known: dict[int, str | None], taken: set[int]) -> int | None:
    """The most recent (highest) id of the whole with ``label`` not in ``taken``; None without one."""
    if label is None:
        return None
    return max((tid for tid, name in known.items() if name == label and tid not in taken), default=None)


def _renumbered(frame: dict, ids: dict[int, int]) -> dict:
    return {**frame, "faces": [{**face, "track_id": ids[face["track_id"]]} for face in frame["faces"]]}
