"""Measure identity on folders of photos: precision, recall and F1 per aggregation and threshold.

``vcam eval identity --gallery DIR --probes DIR --impostors DIR --json OUT``::

    gallery/<person>/*.jpg     photos to enroll (augmented as enrollment does)
    probes/<person>/*.jpg      other photos of enrolled people
    impostors/*.jpg            photos of people who are NOT enrolled (every face counts)

Scoring, per aggregation and threshold (the seed design's test sessions):

- a probe given its own name: true positive (TP);
- a probe given someone else's name, or an impostor given any name: false positive (FP);
- a probe called unknown: false negative (FN).

precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean (0
when undefined). The best threshold of an aggregation is the one with the
highest F1; among equals, the middle of the run of equal thresholds (the most
room on both sides). The overall choice is the aggregation with the best F1,
then the widest ``margin`` (smallest distance of a wrong answer minus largest
distance of a right one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vcam.enroll import Augment, enroll_images, read_image, still_faces
from vcam.errors import GalleryError
from vcam.pipeline.descriptor import face_chip
from vcam.pipeline.matching import aggregate

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
DEFAULT_THRESHOLDS = tuple(np.round(np.arange(0.30, 0.9001, 0.02), 2).tolist())
METRICS = ("euclidean", "cosine")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _metric(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if name == "euclidean":
        return lambda known, d: np.linalg.norm(known - d, axis=1)
    if name == "cosine":
        return lambda known, d: 1.0 - known @ d / (np.linalg.norm(known, axis=1) * np.linalg.norm(d) + 1e-12)
    raise ValueError(f"metric must be one of {METRICS}, got {name!r}")


def _enroll(gallery_dir: Path, descriptor, detect_landmarks, augment, skipped: list[dict]) -> dict[str, np.ndarray]:
    people = {}
    for folder in sorted(p for p in gallery_dir.iterdir() if p.is_dir()):
        vectors = []
        for path in _images(folder):
            try:
                vectors.append(enroll_images([path], descriptor, detect_landmarks, augment)[0])
            except GalleryError as err:
                skipped.append({"image": str(path), "role": "gallery", "reason": str(err)})
        if vectors:
            people[folder.name] = np.concatenate(vectors)
    if not people:
        raise GalleryError(f"no one could be enrolled from {gallery_dir}; it needs one folder of photos per person")
    return people


def _faces(paths: list[tuple[Path, str | None]], descriptor, detect_landmarks, all_faces: bool,
           skipped: list[dict]) -> list[dict]:
    """One entry per face: image, face index, truth (None = impostor), descriptor."""
    out = []
    for path, truth in paths:
        image = read_image(path)
        faces = detect_landmarks(image)
        if len(faces) == 0:
            skipped.append({"image": str(path), "role": "probe" if truth else "impostor", "reason": "no face found"})
            continue
        order = np.argsort(-faces.bbox[:, 2] * faces.bbox[:, 3])  # largest face first
        for k in order if all_faces else order[:1]:
            chip = face_chip(image, faces.landmarks[k])
            out.append({"image": str(path), "face": int(k), "truth": truth,
                        "descriptor": np.asarray(descriptor(chip), np.float32).reshape(-1)})
    return out


def _score(decisions: list[tuple[str | None, str | None]]) -> dict:
    tp = sum(1 for truth, said in decisions if truth is not None and said == truth)
    fp = sum(1 for truth, said in decisions if said is not None and said != truth)
    fn = sum(1 for truth, said in decisions if truth is not None and said is None)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(f1, 4)}


def _best(rows: list[dict]) -> dict:
    top = max(r["f1"] for r in rows)
    tied = [r for r in rows if r["f1"] == top]
    return tied[(len(tied) - 1) // 2]


def evaluate_identity(gallery_dir: str | Path, probes_dir: str | Path, impostors_dir: str | Path, *,
                      thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                      aggregations: Sequence[str] = ("median", "max", "mean", "top3"), metric: str = "euclidean",
                      augment: Augment | None = Augment(), descriptor: Callable[[np.ndarray], np.ndarray] | None = None,
                      detect_landmarks: Callable | None = None) -> dict:
    """Enroll ``gallery_dir``, then score every probe and impostor face; a JSON-ready dict.

    Args:
        thresholds: distances to try (units of ``metric``).
        aggregations: names for :func:`vcam.pipeline.matching.aggregate`.
        metric: ``"euclidean"`` (dlib's, as the stage uses) or ``"cosine"`` (1 - cosine similarity).
        augment: enrollment augmentation, as ``vcam enroll`` does; None for none.
        descriptor, detect_landmarks: defaults: an in-process Descriptor and
            :func:`vcam.enroll.still_faces` with one shared detector.

    Returns ``{"metric", "people": {name: descriptor count}, "counts", "skipped",
    "aggregations": {agg: {"table": [{threshold, tp, fp, fn, precision, recall, f1}],
    "best": row, "margin", "decisions": [per face at the best threshold]}}, "chosen": {...}}``.
    """
    distance = _metric(metric)
    own_detect = None
    if descriptor is None:
        from vcam.pipeline.descriptor import Descriptor

        descriptor = Descriptor()
    if detect_landmarks is None:
        from vcam.pipeline.detect import Detect

        own_detect = Detect()
        detect_landmarks = lambda image: still_faces(image, own_detect)  # noqa: E731
    try:
        skipped: list[dict] = []
        people = _enroll(Path(gallery_dir), descriptor, detect_landmarks, augment, skipped)
        probes = [(p, folder.name) for folder in sorted(Path(probes_dir).iterdir()) if folder.is_dir()
                  for p in _images(folder)]
        faces = (_faces(probes, descriptor, detect_landmarks, False, skipped)
                 + _faces([(p, None) for p in _images(Path(impostors_dir))], descriptor, detect_landmarks, True,
                          skipped))
    finally:
        if own_detect is not None:
            own_detect.close()
    report = {"metric": metric, "people": {n: len(v) for n, v in people.items()},
              "counts": {"probes": sum(f["truth"] is not None for f in faces),
                         "impostors": sum(f["truth"] is None for f in faces)},
              "skipped": skipped, "aggregations": {}}
    for agg in aggregations:
        report["aggregations"][agg] = _evaluate_one(people, faces, agg, distance, thresholds)
    name = max(report["aggregations"], key=lambda a: _rank(report["aggregations"][a]))
    report["chosen"] = {"aggregation": name, **report["aggregations"][name]["best"]}
    return report


def _rank(result: dict) -> tuple[float, float]:
    margin = result["margin"]
    return result["best"]["f1"], float("inf") if margin is None else margin


def _evaluate_one(people: dict[str, np.ndarray], faces: list[dict], agg: str, distance, thresholds) -> dict:
    nearest = []
    for face in faces:
        found = {n: aggregate(distance(v, face["descriptor"]), agg) for n, v in people.items()}
        name = min(found, key=found.__getitem__)
        nearest.append((name, found[name], found))
    table = []
    for t in thresholds:
        said = [(f["truth"], n if d <= t else None) for f, (n, d, _) in zip(faces, nearest)]
        table.append({"threshold": float(t), **_score(said)})
    best = _best(table)
    right = [d for f, (n, d, _) in zip(faces, nearest) if f["truth"] == n]
    wrong = [d for f, (n, d, _) in zip(faces, nearest) if f["truth"] != n]
    margin = (min(wrong) if wrong else np.inf) - (max(right) if right else 0.0)
    decisions = [{"image": f["image"], "face": f["face"], "truth": f["truth"], "nearest": n,
                  "distance": round(d, 4), "distances": {k: round(v, 4) for k, v in found.items()},
                  "decision": n if d <= best["threshold"] else None,
                  "outcome": _outcome(f["truth"], n if d <= best["threshold"] else None)}
                 for f, (n, d, found) in zip(faces, nearest)]
    return {"table": table, "best": best, "margin": round(float(margin), 4) if np.isfinite(margin) else None,
            "decisions": decisions}


def _outcome(truth: str | None, said: str | None) -> str:
    if said is None:
        return "FN" if truth is not None else "TN"
    return "TP" if said == truth else "FP"
