"""track: give every face a track id that survives motion and short occlusion.

The tracker remembers each live track's last box. It takes three steps of each
frame (see :func:`vcam.pipeline.default_stages`):

1. :attr:`Track.start` (``tracks``) hands the live tracks to the detect stage;
2. :meth:`Track.__call__` (``track``) drops tracks unseen for ``max_age`` seconds, matches
   fresh detections (``track_id == -1``) to live tracks by box overlap
   (Hungarian assignment on the larger of IoU and the share of the detection
   inside the track's box, so a face cut by a tile edge still matches), and
   gives unmatched detections new ids;
3. after landmarks, :attr:`Track.confirm` (``observe``, :meth:`Track.observe`)
   records which tracks were seen with their landmark-fitted boxes, and merges
   two tracks that ended on one face.

4. in a meeting gallery, after the names are read, :attr:`Track.relabel` (``relabel``,
   :meth:`Track.follow`) gives each face labelled with a participant name the track that
   name was on (:meth:`Track.follow_names`), and each face without a name the track whose tile
   looked like its own (:meth:`Track.follow_looks`, :mod:`vcam.pipeline.looks`): when the meeting
   app re-orders its tiles (someone joins, speaks or leaves), the boxes no longer follow the people,
   and the names and the looks do. An ended track's look is remembered for :data:`GONE_S` seconds.

A face that leaves and comes back within ``max_age`` at about the same place
keeps its id. Matching by enrolled identity is not done: a face match does not bring an old id back.
"""

from __future__ import annotations

import itertools
import logging
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from vcam.pipeline import looks
from vcam.pipeline.looks import Look
from vcam.pipeline.stage import Step
from vcam.types import Faces, Frame, Layout

log = logging.getLogger(__name__)


GONE_S = 30.0
"""Seconds an ended track's look (and participant name) is remembered, so that a person whose tile
moved, or who dropped out and came back, takes their old id again. Longer brings back people who
rejoin later; shorter forgets sooner (the look is a few hundred numbers, kept in memory only)."""


@dataclass
class _Live:
    box: np.ndarray  # (4,) [x, y, w, h] pixels
    last_seen: float  # frame time, seconds
    seen_now: bool = True


@dataclass
class _Gone:
    look: Look | None  # the track's last look (None: it had none, e.g. in a shared tile)
    label: str | None  # the participant name the track had
    ended: float  # frame time, seconds


def overlap_matrices(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(IoU, intersection / area of a)``, each ``(len(a), len(b))``, of ``[x, y, w, h]`` boxes ``a (N, 4)``, ``b (M, 4)``."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2) - np.maximum(a[:, None, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2) - np.maximum(a[:, None, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] * a[:, 3])[:, None]
    union = area_a + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-9), inter / np.maximum(area_a, 1e-9)


def fold(name: str | None) -> str | None:
    """``name`` as tracks compare it: without accents, case and repeated spaces ("Zoë  Müller" -> "zoe muller").
    Not fuzzier: a meeting may hold "José Alvarez" and "Josefina Alvarez", or "François" and "Françoise"."""
    if name is None:
        return None
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of ``[x, y, w, h]`` boxes ``a (N, 4)`` and ``b (M, 4)``."""
    return overlap_matrices(a, b)[0]


class Track:
    """The track stage.

    Args:
        min_iou: a detection joins a track only above this overlap (0..1). Higher
            splits fast-moving faces into new ids; lower can swap neighbours.
        merge_iou: two tracks whose fitted boxes overlap more than this are one face;
            the younger id is dropped.
        max_age: seconds a track outlives its last sighting. Longer survives longer
            occlusions; shorter frees ids sooner when people leave.
        layout: the meeting layout of the frame being analysed, or None (no gallery: no looks are taken).
        on_move: told ``{old id: new id}`` of the faces :meth:`follow` put on other tracks, for stages that
            ran before it in the frame and keep state per track (the landmarks' last points: the next
            frame's search region of a track must be its own face's).
    """

    name = "track"
    feature = None

    def __init__(self, min_iou: float = 0.3, max_age: float = 2.0, merge_iou: float = 0.5,
                 layout: Callable[[], Layout | None] = lambda: None,
                 on_move: Callable[[dict[int, int]], None] = lambda moves: None) -> None:
        self.min_iou, self.max_age, self.merge_iou = min_iou, max_age, merge_iou
        self._layout, self._on_move = layout, on_move
        self._live: dict[int, _Live] = {}
        self._ids = itertools.count(1)
        self.start = Step("tracks", lambda frame, faces: self.tracks())
        """The first step of a frame: the live tracks, whatever came in."""
        self.confirm = Step("observe", lambda frame, faces: self.observe(frame.t, faces))
        """The step after landmarks: :meth:`observe` at the frame's time."""
        self.relabel = Step("relabel", self.follow)
        """The step after the names are read: :meth:`follow`."""
        self._label: dict[int, str] = {}
        self._look: dict[int, Look] = {}  # live tracks' looks at their last analysis
        self._gone: dict[int, _Gone] = {}

    def live_ids(self) -> set[int]:
        """The ids of the live tracks: every other track's state can be forgotten."""
        return set(self._live)

    def forget(self, track_ids: set[int]) -> None:
        """Nothing: the tracker decides which tracks live."""

    def close(self) -> None:
        """Nothing to free."""

    def tracks(self) -> Faces:
        """The live tracks as faces; ``score`` is 1 if seen last frame, else 0."""
        ids = list(self._live)
        boxes = np.array([self._live[i].box for i in ids], np.float32).reshape(-1, 4)
        seen = np.array([float(self._live[i].seen_now) for i in ids], np.float32)
        return Faces.from_boxes(boxes, seen).replace(track_id=np.array(ids, np.int64))

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        self._expire(frame.t)
        fresh = faces.track_id < 0
        tracked = faces.select(~fresh & np.isin(faces.track_id, list(self._live)))
        detections = faces.select(fresh)
        boxes = dict(zip(tracked.track_id.tolist(), tracked.bbox))
        for det, tid in zip(detections.bbox, self._assign(tracked, detections)):
            if tid < 0:
                tid = next(self._ids)
                log.debug("new track %d at %s", tid, det)
                self._live[tid] = _Live(det.copy(), frame.t, seen_now=False)
            if not self._live[tid].seen_now:  # a fitted box from last frame beats a fresh detection
                boxes[tid] = det
        ids = list(boxes)
        out = np.array([boxes[i] for i in ids], np.float32).reshape(-1, 4)
        return Faces.from_boxes(out).replace(track_id=np.array(ids, np.int64))

    def _assign(self, tracked: Faces, detections: Faces) -> list[int]:
        """Track id for each detection, -1 for a new face."""
        result = [-1] * len(detections)
        if len(tracked) == 0 or len(detections) == 0:
            return result
        iou, inside = overlap_matrices(detections.bbox, tracked.bbox)
        similarity = np.maximum(iou, inside)
        rows, cols = linear_sum_assignment(-similarity)
        for r, c in zip(rows, cols):
            if similarity[r, c] >= self.min_iou:
                result[r] = int(tracked.track_id[c])
        return result

    def _expire(self, t: float) -> None:
        for tid in [i for i, live in self._live.items() if t - live.last_seen > self.max_age or t < live.last_seen]:
            log.debug("track %d ended", tid)
            self._end(tid, t)
        for tid in [i for i, gone in self._gone.items() if not 0 <= t - gone.ended <= GONE_S]:
            del self._gone[tid]

    def _end(self, tid: int, t: float) -> None:
        """End track ``tid`` at frame time ``t``, remembering its look and name for :data:`GONE_S`."""
        self._live.pop(tid, None)
        label, look = self._label.pop(tid, None), self._look.pop(tid, None)
        if look is not None or label is not None:
            self._gone[tid] = _Gone(look, label, t)

    def follow(self, frame: Frame, faces: Faces) -> Faces:
        """``faces`` on the tracks of their participant names (:meth:`follow_names`), then, in a meeting
        gallery, of their looks (:meth:`follow_looks`)."""
        faces = self.follow_names(frame.t, faces)
        layout = self._layout()
        return faces if layout is None else self.follow_looks(frame, faces, layout)

    def follow_names(self, t: float, faces: Faces) -> Faces:
        """``faces`` with each face that carries a participant name on the live track that name was seen on.

        A track takes the first participant name seen on it. Names are compared :func:`fold`-ed (an accent
        or a capital read differently is the same name). A named face on a track of another name
        moves to the track of its own name (a live one, or one ended in the last :data:`GONE_S` seconds),
        or to a new track when that name was never seen (a tile that re-flowed onto someone else's place).
        Faces in a shared tile (two people, one name), faces whose name is on another tile of the frame too
        (two "iPhone"s) and faces without a name keep the ids the boxes gave them (and their looks follow
        them in a gallery). Tracks left without a face are ended.
        """
        owner: dict[str, int] = {}
        for tid in sorted(self._label):
            owner.setdefault(fold(self._label[tid]), tid)
        for tid, gone in sorted(self._gone.items(), key=lambda item: -item[1].ended):  # the latest first
            if gone.label is not None:
                owner.setdefault(fold(gone.label), tid)
        ids = faces.track_id.copy()
        shown = Counter(fold(n) for n, s in zip(faces.participant, faces.shared) if isinstance(n, str) and not s)
        for j, (tid, name) in enumerate(zip(faces.track_id.tolist(), faces.participant)):
            if not isinstance(name, str) or faces.shared[j] or fold(self._label.get(tid)) == fold(name):
                continue
            if shown[fold(name)] > 1:  # on two tiles at once ("iPhone", two Johns): it names nobody in particular
                continue
            want = owner.get(fold(name))
            if want is None and tid not in self._label:
                self._label[tid] = name
                owner[fold(name)] = tid
                continue
            ids[j] = want if want is not None else -1
        if np.array_equal(ids, faces.track_id):
            return faces
        return faces.replace(track_id=self._moved(t, faces, ids))

    def _moved(self, t: float, faces: Faces, ids: np.ndarray) -> np.ndarray:
        """Apply the ids :meth:`follow_names` chose (-1: new): a clash goes to a new track, tracks that lost
        their face end, and the moved tracks take their face's box."""
        seen: set[int] = set()
        for j, tid in enumerate(ids.tolist()):
            if tid < 0 or tid in seen:
                ids[j] = next(self._ids)
            seen.add(int(ids[j]))
        for old in set(faces.track_id.tolist()) - seen:
            log.debug("track %d ended: its face moved to another track", old)
            self._end(old, t)
        moves = {}
        for j, (old, new) in enumerate(zip(faces.track_id.tolist(), ids.tolist())):
            if old != new:
                log.debug("track %d is now %d (%s)", old, new, faces.participant[j])
                moves[old] = new
                self._revive(new)
                self._live[new] = _Live(faces.bbox[j].copy(), t, True)
                if isinstance(faces.participant[j], str) and not faces.shared[j]:
                    self._label.setdefault(new, faces.participant[j])
        self._on_move(moves)
        return ids

    def _revive(self, tid: int) -> None:
        """Bring back ended track ``tid``'s participant name, if it is one :data:`GONE_S` remembers."""
        gone = self._gone.pop(tid, None)
        if gone is not None and gone.label is not None:
            self._label.setdefault(tid, gone.label)

    def follow_looks(self, frame: Frame, faces: Faces, layout: Layout) -> Faces:
        """``faces`` with each unnamed face alone in a tile of ``layout`` on the track that looked like it.

        A face keeps its track while its look stays close to the track's last one (:data:`looks.CHANGED`).
        The others (new tracks, and faces whose tile now shows someone else) are paired with the tracks
        that may have lost their person: those of the changed faces, live tracks without a face, and tracks
        ended in the last :data:`GONE_S` seconds (:func:`looks.pair`). A changed face that pairs with no
        track keeps its own unless another face took it or its look is clearly another person's
        (:data:`looks.OTHER`): then it starts a new track.
        """
        seen = self._looks_of(frame, faces, layout)
        ids = faces.track_id.copy()
        unnamed = [j for j in seen if not isinstance(faces.participant[j], str)]
        unsettled = [j for j, same in zip(unnamed, self._same([int(ids[j]) for j in unnamed],
                                                              [seen[j] for j in unnamed])) if not same]
        if unsettled:
            self._pair(unsettled, seen, ids)
        if not np.array_equal(ids, faces.track_id):
            faces = faces.replace(track_id=self._moved(frame.t, faces, ids))
        for j, lk in seen.items():
            self._look[int(faces.track_id[j])] = lk
        return faces

    def _looks_of(self, frame: Frame, faces: Faces, layout: Layout) -> dict[int, Look]:
        """The look of each face alone in a tile of ``layout``, by row."""
        rows = [j for j, tile in enumerate(faces.tile.tolist()) if 0 <= tile < len(layout) and not faces.shared[j]]
        if not rows:
            return {}
        colours, valid = looks.looks_of(frame.image, faces.bbox[rows], layout.tiles[faces.tile[rows]])
        return {j: (colours[k], valid[k]) for k, j in enumerate(rows)}

    def _same(self, tids: list[int], seen: list[Look]) -> list[bool]:
        """Per face, whether its look ``seen`` is still its track ``tids``'s person (False for a track with
        no look yet)."""
        known = [k for k, tid in enumerate(tids) if tid in self._look]
        same = [False] * len(tids)
        if known:
            d = looks.row_distances(np.stack([seen[k][0] for k in known]), np.stack([seen[k][1] for k in known]),
                                    np.stack([self._look[tids[k]][0] for k in known]),
                                    np.stack([self._look[tids[k]][1] for k in known]))
            for k, dist in zip(known, d.tolist()):
                same[k] = dist <= looks.CHANGED
        return same

    def _pair(self, unsettled: list[int], seen: dict[int, Look], ids: np.ndarray) -> None:
        """Set ``ids`` of the ``unsettled`` rows to the tracks they look like (-1: a new track)."""
        held = set(ids.tolist())
        gone = [tid for tid, g in self._gone.items() if g.look is not None]
        candidates = list(dict.fromkeys([int(ids[j]) for j in unsettled if int(ids[j]) in self._look]
                                        + [tid for tid in self._look if tid not in held] + gone))
        pairs = looks.pair([seen[j] for j in unsettled],
                           [self._look[c] if c in self._look else self._gone[c].look for c in candidates])
        taken = {candidates[k] for k in pairs if k >= 0}
        for j, k in zip(unsettled, pairs):
            own = int(ids[j])
            if k >= 0:
                ids[j] = candidates[k]
            elif own in taken or (own in self._look and looks.distance(seen[j], self._look[own]) > looks.OTHER):
                ids[j] = -1

    def observe(self, t: float, faces: Faces) -> Faces:
        """Record the faces seen at frame time ``t`` (seconds) with their fitted boxes.

        Returns ``faces`` without tracks that duplicate an older track on the same face.
        """
        faces = self._merge(faces)
        for live in self._live.values():
            live.seen_now = False
        for tid, box in zip(faces.track_id.tolist(), faces.bbox):
            if tid in self._live:
                self._live[tid] = _Live(box.copy(), t, True)
        return faces

    def _merge(self, faces: Faces) -> Faces:
        iou = iou_matrix(faces.bbox, faces.bbox)
        order = np.argsort(faces.track_id)  # older (smaller) ids first
        keep: list[int] = []
        for i in order:
            if all(iou[i, k] <= self.merge_iou for k in keep):
                keep.append(int(i))
            else:
                log.debug("track %d duplicates another face; merged", faces.track_id[i])
                self._live.pop(int(faces.track_id[i]), None)
                self._look.pop(int(faces.track_id[i]), None)
        return faces.select(sorted(keep))
