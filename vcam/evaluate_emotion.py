"""Measure the emotion models on labelled photos: ``vcam eval emotion --labels DIR [--json OUT]``.

``DIR`` holds one folder per class, named as :data:`vcam.types.EMOTIONS` (``happy/``, ``sad/``, …); a
class may be missing. Each photo's largest face is found as the live pipeline finds it (vcam's detect
stage, then the landmarks stage, which puts the box around the 478 points: :func:`vcam.enroll.still_faces`),
and every model classifies that same box, cut as its manifest entry says (:meth:`Emotion.classify`).

Per model, and for ``ensemble`` (the mean of the models' probabilities, when there are two or more):

- **accuracy**: the share of faces whose top class is their label;
- **macro_recall**: the mean, over the classes present in ``DIR``, of each class's recall (so a class
  with many photos does not outweigh one with few);
- **recall**: per present class; **confusion**: counts ``(7, 7)``, rows the label, columns the top
  class, in EMOTIONS order (accuracy is its trace over its total);
- **ms**: milliseconds per face, crop and model, one face per call on one thread: the median over
  ``runs`` calls of each face, then the median over faces (the ensemble's is the sum of its models').

Per pair of those rows, **paired**: on the same faces, how many only the first got right, how many only
the second, and McNemar's exact two-sided p (:func:`mcnemar_p`: the binomial test of those two counts
against an even split). A small p says the difference in accuracy is not luck of the faces; with a
handful of disagreements no p can be small, and a set that small cannot tell the models apart.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vcam.enroll import read_image, still_faces
from vcam.errors import ConfigError, GalleryError
from vcam.evaluate import IMAGE_SUFFIXES
from vcam.types import EMOTIONS

if TYPE_CHECKING:
    from vcam.pipeline.detect import Detect
    from vcam.pipeline.emotion import Emotion
    from vcam.pipeline.landmarks import Landmarks

log = logging.getLogger(__name__)

ENSEMBLE = "ensemble"
"""The name under which the mean of the models' probabilities is reported."""


@dataclass(frozen=True)
class LabelledFace:
    """One photo's face to classify: the photo, its label, the image and the face box."""

    path: Path
    label: str
    image: np.ndarray  # (H, W, 3) uint8 BGR
    bbox: np.ndarray   # (4,) float32 [x, y, w, h] pixels


def labelled_photos(root: str | Path) -> list[tuple[Path, str]]:
    """``(photo, label)`` for every image in ``root``'s class folders; ConfigError for a folder of no class."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"--labels must be a folder with one sub-folder per class, got {str(root)!r}")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    unknown = [p.name for p in folders if p.name not in EMOTIONS]
    if unknown or not folders:
        raise ConfigError(f"--labels {root}: expected sub-folders named from {', '.join(EMOTIONS)}; "
                          f"found {', '.join(unknown) or 'none'}; rename or remove them")
    return [(p, folder.name) for folder in folders for p in sorted(folder.iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES]


def find_faces(photos: Sequence[tuple[Path, str]], detect: Detect | None = None,
               landmarks: Landmarks | None = None) -> tuple[list[LabelledFace], list[dict]]:
    """Each photo's largest face, and ``{"image", "reason"}`` for each photo skipped (unreadable, no face).

    ``detect`` and ``landmarks`` (stages to reuse) default to fresh ones per photo (:func:`still_faces`).
    """
    faces, skipped = [], []
    for path, label in photos:
        try:
            image = read_image(path)
        except GalleryError as err:
            skipped.append({"image": str(path), "reason": str(err)})
            continue
        found = still_faces(image, detect, landmarks)
        if len(found) == 0:
            skipped.append({"image": str(path), "reason": "no face found"})
            continue
        k = int(np.argmax(found.bbox[:, 2] * found.bbox[:, 3]))
        faces.append(LabelledFace(path, label, image, found.bbox[k].astype(np.float32)))
    return faces, skipped


def classify(stage: Emotion, faces: Sequence[LabelledFace], runs: int) -> tuple[np.ndarray, float]:
    """``(N, 7)`` probabilities in EMOTIONS order from ``stage``, and its ms per face (see the module docstring)."""
    probs, ms = [], []
    for face in faces:
        times = []
        for _ in range(max(1, runs)):
            start = time.perf_counter()
            out = stage.classify(face.image, face.bbox[None])
            times.append((time.perf_counter() - start) * 1000.0)
        probs.append(out[0])
        ms.append(statistics.median(times))
    return np.array(probs, np.float32).reshape(-1, len(EMOTIONS)), statistics.median(ms) if ms else 0.0


def score(labels: Sequence[str], probs: np.ndarray, ms: float) -> dict:
    """accuracy, macro_recall, recall per present class, confusion (rows label, columns top class) and ms."""
    truth = np.array([EMOTIONS.index(label) for label in labels], int)
    said = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    confusion = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
    np.add.at(confusion, (truth, said), 1)
    present = [i for i in range(len(EMOTIONS)) if confusion[i].sum()]
    recall = {EMOTIONS[i]: float(confusion[i, i] / confusion[i].sum()) for i in present}
    return {"n": int(len(truth)), "accuracy": float(np.trace(confusion) / max(1, len(truth))),
            "macro_recall": float(np.mean(list(recall.values()))) if recall else 0.0,
            "recall": recall, "confusion": confusion.tolist(), "ms": round(ms, 3)}


def mcnemar_p(only_first: int, only_second: int) -> float:
    """McNemar's exact two-sided p for paired right/wrong answers: ``only_first`` faces right by the first
    model alone, ``only_second`` by the second alone (binomial test against 1/2; 1.0 when they never differ)."""
    n, k = only_first + only_second, min(only_first, only_second)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2.0 * tail)


def paired(labels: Sequence[str], probs: dict[str, np.ndarray]) -> list[dict]:
    """Per pair of ``probs``' rows (in order): ``{"first", "second", "only_first", "only_second", "p"}``."""
    truth = np.array([EMOTIONS.index(label) for label in labels], int)
    right = {name: p.argmax(axis=1) == truth for name, p in probs.items()}
    names, pairs = list(probs), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            only_a, only_b = int((right[a] & ~right[b]).sum()), int((right[b] & ~right[a]).sum())
            pairs.append({"first": a, "second": b, "only_first": only_a, "only_second": only_b,
                          "p": round(mcnemar_p(only_a, only_b), 4)})
    return pairs


def evaluate_emotion(labels_dir: str | Path, models: Sequence[str] | None = None, runs: int = 3) -> dict:
    """The report: ``{"labels_dir", "counts", "skipped", "runs", "models": {name: score}, "paired": [...],
    "faces": [...]}``.

    ``models`` default to every emotion model of the manifest (:func:`vcam.manifest.emotion_models`);
    ``"ensemble"`` is added when there are two or more. ``faces`` holds each face's image, label, box
    and, per model, its top class and probabilities.
    """
    from vcam.manifest import emotion_models
    from vcam.pipeline.emotion import Emotion

    models = list(models or emotion_models())
    faces, skipped = _find_all(labelled_photos(labels_dir))
    labels = [f.label for f in faces]
    probs, report = {}, {"labels_dir": str(labels_dir), "counts": _counts(labels), "skipped": skipped,
                         "runs": runs, "models": {}}
    for name in models:
        stage = Emotion.from_manifest(name)
        try:
            probs[name], ms = classify(stage, faces, runs)
        finally:
            stage.close()
        report["models"][name] = score(labels, probs[name], ms)
    if len(models) > 1:
        probs[ENSEMBLE] = np.mean([probs[m] for m in models], axis=0)
        report["models"][ENSEMBLE] = score(labels, probs[ENSEMBLE],
                                           sum(report["models"][m]["ms"] for m in models))
    report["paired"] = paired(labels, probs) if len(faces) else []
    report["faces"] = [_face_entry(i, face, probs) for i, face in enumerate(faces)]
    return report


def _find_all(photos: Sequence[tuple[Path, str]]) -> tuple[list[LabelledFace], list[dict]]:
    """:func:`find_faces` with one detect and one landmarks stage for every photo."""
    from vcam.pipeline.detect import Detect
    from vcam.pipeline.landmarks import Landmarks

    detect, landmarks = Detect(), Landmarks(workers=1)
    try:
        return find_faces(photos, detect, landmarks)
    finally:
        detect.close()
        landmarks.close()


def _counts(labels: Sequence[str]) -> dict[str, int]:
    return {name: labels.count(name) for name in EMOTIONS if name in labels}


def _face_entry(i: int, face: LabelledFace, probs: dict[str, np.ndarray]) -> dict:
    return {"image": str(face.path), "label": face.label, "bbox": [round(float(v), 2) for v in face.bbox],
            "said": {m: EMOTIONS[int(p[i].argmax())] for m, p in probs.items()},
            "probs": {m: [round(float(v), 4) for v in p[i]] for m, p in probs.items()}}


def format_report(report: dict) -> str:
    """The figures as printed by ``vcam eval emotion``: one line per model, then each confusion matrix."""
    present = list(report["counts"])
    counts = ", ".join(f"{name} {n}" for name, n in report["counts"].items())
    rows = [f"{sum(report['counts'].values())} faces ({counts}); {len(report['skipped'])} photos skipped; "
            f"ms per face: crop + model, 1 thread, median of {report['runs']} runs",
            f"{'model':18s} {'accuracy':>8s} {'macro rec.':>10s} {'ms':>6s}  recall per class"]
    for name, s in report["models"].items():
        recall = " ".join(f"{c} {s['recall'][c]:.0%}" for c in present)
        rows.append(f"{name:18s} {s['accuracy']:8.1%} {s['macro_recall']:10.1%} {s['ms']:6.2f}  {recall}")
    rows += ["", "paired, on the same faces (right by one model only; McNemar's exact p):"]
    rows += [f"  {p['first']} {p['only_first']} vs {p['second']} {p['only_second']}: p = {p['p']:.2f}"
             for p in report["paired"]]
    for name, s in report["models"].items():
        rows += ["", f"{name}: rows the label, columns the top class",
                 " " * 9 + "".join(f"{c[:7]:>8s}" for c in EMOTIONS)]
        rows += [f"{EMOTIONS[i]:9s}" + "".join(f"{v:8d}" for v in s["confusion"][i])
                 for i in range(len(EMOTIONS)) if EMOTIONS[i] in present]
    return "\n".join(rows)
