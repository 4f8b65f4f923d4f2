"""Matching a face descriptor to the gallery, and voting names per track so that they do not flicker.

:func:`match` gives the nearest enrolled person under the threshold (or None): the Euclidean
distance from a ``(128,)`` descriptor to each person's ``(K, 128)`` descriptors, aggregated per
person by :func:`aggregate`. :class:`TrackVotes` keeps each track's last results and settles
one name. Pure code, no I/O and no threads: :class:`~vcam.pipeline.identity.Identity` calls
:func:`match` on its worker thread and :class:`TrackVotes` on the analysis thread, and
``vcam.evaluate`` measures the thresholds with :func:`aggregate`.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vcam.pipeline.descriptor import DESCRIPTOR_SIZE

DEFAULT_THRESHOLD = 0.5
"""Largest aggregated distance still given a name (Euclidean, descriptor units).

dlib's usual cut is 0.6 (its LFW figure). Raising it names more photos of
enrolled people (recall) and also names more strangers as someone (false names);
lowering it calls more enrolled people "unknown" and names a stranger less often.
In a meeting a wrong name is worse than none, so we sit below 0.6.

Measured with ``vcam.evaluate.evaluate_identity`` on the tests/data portraits:
Obama enrolled from obama.jpg, Biden from biden.jpg (his only photo, so he has no
probes), each with ``Augment()``'s 5 variants; 4 Obama probes (obama2, obama3,
obama_partial_face, obama_partial_face2); 23 impostor faces (grace_hopper,
astronaut and every face of group1-6). Every aggregation gave precision, recall
and F1 1.00 (4 TP, 0 FP, 0 FN) for thresholds 0.44-0.80 (``max`` 0.46-0.84):
the Obama probes lay at 0.22-0.44 (obama2, speaking with an open mouth, the
farthest) and the nearest impostor at 0.82. The set is small and easy, so 0.5
is chosen by reasoning inside that measured range: it keeps every probe with
room to spare and stays well under dlib's 0.6, where other studies report
different people of similar looks starting to match.
"""

DEFAULT_AGGREGATION = "top3"
"""How one person's K per-image distances become one distance (see :func:`aggregate`).

On the set described under :data:`DEFAULT_THRESHOLD` all four aggregations tied
(F1 1.00). Their margins (nearest impostor minus farthest Obama probe) were
within 0.01 of each other: max 0.396, mean 0.395, median 0.391, top3 0.387. So
the data does not decide, and ``top3`` (the mean of the 3 nearest) is chosen by
reasoning: with augmentation each photo gives 6 descriptors, and people enroll
photos taken in different light. ``max`` lets the one least-alike variant or
photo veto a match, and ``median``/``mean`` drift with that spread. ``top3``
follows the nearest photo and its closest variants, and averaging 3 is steadier
than trusting one lookalike descriptor (``top1``).
"""

_TOP = re.compile(r"top(\d+)")


def aggregate(dists: np.ndarray, aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION) -> float:
    """One distance from one person's ``(K,)`` per-image distances.

    ``aggregation``: ``"median"``, ``"max"``, ``"mean"``, ``"topN"`` (the mean of the
    N smallest, e.g. ``"top3"``; all K when K < N), or a callable ``(K,) -> float``.
    ``max`` demands that every enrolled image look alike (strict, hurt by one odd
    photo); ``top1`` trusts the single nearest (lenient, hurt by one lookalike).
    """
    d = np.asarray(dists, np.float64)
    if callable(aggregation):
        return float(aggregation(d))
    if aggregation in ("median", "max", "mean"):
        return float(getattr(np, aggregation)(d))
    top = _TOP.fullmatch(str(aggregation))
    if top and int(top.group(1)) >= 1:
        return float(np.sort(d)[: int(top.group(1))].mean())
    raise ValueError(f"aggregation must be 'median', 'max', 'mean', 'topN' (N >= 1) or a callable, got {aggregation!r}")


def distances(descriptor: np.ndarray, people: dict[str, np.ndarray],
              aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION) -> dict[str, float]:
    """Aggregated Euclidean distance from a ``(128,)`` descriptor to each person's ``(K, 128)`` descriptors."""
    d = np.asarray(descriptor, np.float32).reshape(DESCRIPTOR_SIZE)
    return {name: aggregate(np.linalg.norm(np.asarray(known, np.float32).reshape(-1, DESCRIPTOR_SIZE) - d, axis=1),
                            aggregation)
            for name, known in people.items() if len(known)}


def match(descriptor: np.ndarray, people: dict[str, np.ndarray], threshold: float = DEFAULT_THRESHOLD,
          aggregation: str | Callable[[np.ndarray], float] = DEFAULT_AGGREGATION) -> tuple[str | None, float]:
    """``(name, distance)`` of the nearest person, or ``(None, distance to the nearest)`` when over ``threshold``.

    With nobody enrolled: ``(None, nan)``. See :data:`DEFAULT_THRESHOLD` for the trade-off.
    """
    found = distances(descriptor, people, aggregation)
    if not found:
        return None, float("nan")
    name = min(found, key=found.__getitem__)
    return (name if found[name] <= threshold else None), found[name]



@dataclass(frozen=True)
class Vote:
    """A settled identity: ``name`` (None = unknown) and the mean distance of the votes for it."""

    name: str | None
    distance: float


class TrackVotes:
    """Per track, the last ``votes`` match results and the name they settle on.

    A name (or "unknown") settles when it has at least ``agree`` of the last
    ``votes`` results and strictly more than any other; otherwise the track keeps
    what it had settled before (nothing, at first). So one outlier neither flips a
    settled name nor settles one. The one exception is a track's very first
    result when it is a clear match (distance at most ``sure``): it settles at
    once, so a known face is named within one descriptor (~0.15 s) instead of
    two; later results can still overturn it by agreeing. Lives on the analysis
    thread (no lock).

    Args:
        votes: results kept per track. More is steadier and slower to follow a
            real change (a person walking in front of another).
        agree: results that must agree before a name settles (>= 2).
        sure: a first match at or under this distance settles alone. dlib's
            same-person distances on the test portraits were 0.22-0.44 and the
            nearest other person 0.82; 0.4 keeps a wide margin. 0 turns it off.
    """

    def __init__(self, votes: int = 5, agree: int = 2, sure: float = 0.4) -> None:
        if votes < 1 or not 2 <= agree <= max(votes, 2):
            raise ValueError(f"need votes >= 1 and 2 <= agree <= votes; got votes={votes}, agree={agree}")
        self.votes, self.agree, self.sure = votes, agree, sure
        self._history: dict[int, deque[tuple[str | None, float]]] = {}
        self._settled: dict[int, Vote] = {}

    def add(self, track_id: int, name: str | None, distance: float) -> Vote | None:
        """Record one result for ``track_id``; returns its settled vote."""
        history = self._history.setdefault(track_id, deque(maxlen=self.votes))
        history.append((name, distance))
        if len(history) == 1 and name is not None and distance <= self.sure:
            self._settled[track_id] = Vote(name, float(distance))
        ranked = Counter(n for n, _ in history).most_common(2)
        (best, count), runner_up = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0)
        if count >= self.agree and count > runner_up:
            self._settled[track_id] = Vote(best, float(np.mean([d for n, d in history if n == best])))
        return self._settled.get(track_id)

    def settled(self, track_id: int) -> Vote | None:
        """The settled vote of ``track_id``, or None while it has not settled."""
        return self._settled.get(track_id)

    def results(self, track_id: int) -> int:
        """How many results ``track_id`` has (0 before its first look; at most ``votes``)."""
        return len(self._history.get(track_id, ()))

    def forget(self, live: set[int]) -> None:
        """Drop the tracks not in ``live``."""
        for tid in [t for t in self._history if t not in live]:
            self._history.pop(tid, None)
            self._settled.pop(tid, None)

    def clear(self) -> None:
        """Forget every track (the gallery changed)."""
        self.forget(set())
