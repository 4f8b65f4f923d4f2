"""Measure "looking at the screen" on labelled faces: ``vcam eval gaze --labels FILE [--json OUT]``.

``FILE`` (JSON or CSV) lists rows, each one face in a photo or a range of frames of a clip:

- **source**: the photo or clip, relative to ``FILE``;
- **label**: ``looking`` (at the lens or a screen), ``away`` or ``eyes-closed``;
- **frames** (clips): an inclusive range ``[first, last]`` of frame numbers (CSV: ``first-last``);
- **at** (optional): a pixel ``[x, y]`` on the face meant (CSV: columns ``x``, ``y``); else the largest face;
- **yaw**, **pitch** (optional): the true gaze direction in degrees, head pose's sign convention.

JSON is ``{"rows": [...]}`` (or the list alone); CSV has a header naming those columns.

Each source runs through a fresh :class:`~vcam.pipeline.Analyzer` with gaze on, as ``vcam analyze``
would: a clip frame by frame at its own rate, so baselines and the eyes-closed timer see its
history; a photo as a still video of ``still_s`` seconds at ``fps`` (eyes shut for that long are
closed, not a blink), judged on its last frame.

Scores (``looking`` is the positive class; ``away`` and ``eyes-closed`` are both "not looking"):

- **accuracy**: the share of labelled frames judged right;
- **recall** per label: the share of its frames judged right (looking for ``looking``, not looking
  for the others); **balanced**: their mean, so the clip's many frames do not outweigh the photos;
- **confusion**: rows the label, columns the judgement (looking, not looking, no face found);
- **angle error**: the mean absolute yaw and pitch error in degrees over rows with known angles
  (when the gaze stage publishes angles).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcam.errors import ConfigError
from vcam.evaluate import IMAGE_SUFFIXES
from vcam.types import Faces, Frame

log = logging.getLogger(__name__)

LABELS = ("looking", "away", "eyes-closed")
"""The labels a row may carry, in the report's order."""
JUDGED = ("looking", "not looking", "no face")
"""The confusion matrix's columns."""


@dataclass(frozen=True)
class Row:
    """One labelled face: a photo's, or a clip's over ``frames`` (inclusive); ``at`` a pixel on it."""

    source: Path
    label: str
    frames: tuple[int, int] | None = None
    at: tuple[float, float] | None = None
    yaw: float | None = None
    pitch: float | None = None

    def covers(self, index: int) -> bool:
        """Whether frame ``index`` of the source is labelled by this row (a photo's one frame always is)."""
        return self.frames is None or self.frames[0] <= index <= self.frames[1]


@dataclass(frozen=True)
class Judgement:
    """What the pipeline said about one labelled frame."""

    row: Row
    frame: int
    looking: bool | None  # None: no face at the row's point
    angles: tuple[float, float] | None = None  # (yaw, pitch) degrees, when the stage publishes them


def read_labels(path: str | Path) -> list[Row]:
    """The rows of a labels file (JSON or CSV, see the module docstring); ConfigError naming a bad row."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--labels must be a JSON or CSV file of labelled faces, got {str(path)!r}")
    raw = _csv_rows(path) if path.suffix.lower() == ".csv" else _json_rows(path)
    return [_row(path.parent, i, r) for i, r in enumerate(raw, 1)]


def _json_rows(path: Path) -> list[dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc["rows"] if isinstance(doc, dict) else doc


def _csv_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if r.get("frames"):
            r["frames"] = [int(v) for v in r["frames"].split("-")]
        if r.get("x") and r.get("y"):
            r["at"] = [float(r["x"]), float(r["y"])]
    return rows


def _row(folder: Path, n: int, r: dict) -> Row:
    label = r.get("label")
    if label not in LABELS or not r.get("source"):
        raise ConfigError(f"labels row {n}: needs a source and a label from {', '.join(LABELS)}; got {r!r}")
    frames = tuple(int(v) for v in r["frames"]) if r.get("frames") else None
    if frames is not None and (len(frames) != 2 or frames[0] > frames[1]):
        raise ConfigError(f"labels row {n}: frames must be [first, last] with first <= last, got {r['frames']!r}")
    at = tuple(float(v) for v in r["at"]) if r.get("at") else None
    return Row(folder / r["source"], label, frames, at, _number(r.get("yaw")), _number(r.get("pitch")))


def _number(value: object) -> float | None:
    return None if value in (None, "") else float(value)


# -- running the pipeline ------------------------------------------------------------------------------------------
def _still(path: Path, seconds: float, fps: float) -> Iterator[Frame]:
    image = cv2.imread(str(path))
    if image is None:
        raise ConfigError(f"cannot read the photo {path}; give a JPEG or PNG")
    for i in range(max(1, round(seconds * fps))):
        yield Frame(image, i, i / fps)


def _clip(path: Path) -> Iterator[Frame]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ConfigError(f"cannot open the clip {path}; give a video file OpenCV reads")
    fps, i = capture.get(cv2.CAP_PROP_FPS) or 25.0, 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield Frame(image, i, i / fps)
            i += 1
    finally:
        capture.release()


def face_at(faces: Faces, at: tuple[float, float] | None) -> int | None:
    """The row of the face whose box holds ``at`` (the largest such), or the largest face; None if none."""
    if len(faces) == 0:
        return None
    area = faces.bbox[:, 2] * faces.bbox[:, 3]
    if at is not None:
        x, y, w, h = faces.bbox.T
        inside = (x <= at[0]) & (at[0] <= x + w) & (y <= at[1]) & (at[1] <= y + h)
        area = np.where(inside, area, -1.0)
    k = int(np.argmax(area))
    return k if area[k] >= 0 else None


def _judge(row: Row, frame: int, faces: Faces) -> Judgement:
    k = face_at(faces, row.at)
    if k is None:
        return Judgement(row, frame, None)
    angles = getattr(faces, "gaze_angles", None)
    seen = tuple(float(v) for v in angles[k]) if angles is not None and np.isfinite(angles[k]).all() else None
    return Judgement(row, frame, bool(faces.on_screen[k]), seen)


def is_photo(source: Path) -> bool:
    """Whether ``source`` is a photo (judged on the last frame of a still video), not a clip."""
    return source.suffix.lower() in IMAGE_SUFFIXES


def frames_of(source: Path, still_s: float = 1.0, fps: float = 10.0) -> Iterator[Frame]:
    """The frames the eval runs of ``source``: a photo as ``still_s`` seconds of still video at ``fps``, a clip's own."""
    return _still(source, still_s, fps) if is_photo(source) else _clip(source)


def judge_source(source: Path, rows: Sequence[Row], still_s: float = 1.0, fps: float = 10.0) -> list[Judgement]:
    """Run one photo or clip through a fresh Analyzer; a Judgement per labelled frame of ``rows``."""
    from vcam.pipeline import Analyzer

    photo, frames = is_photo(source), frames_of(source, still_s, fps)
    out: list[Judgement] = []
    with Analyzer(("gaze",)) as analyzer:
        faces, last = None, None
        for frame in frames:
            faces, last = analyzer.process(frame).faces, frame.index
            if not photo:
                out += [_judge(r, frame.index, faces) for r in rows if r.covers(frame.index)]
    if photo and faces is not None:
        out = [_judge(r, last, faces) for r in rows]
    return out


# -- scoring ---------------------------------------------------------------------------------------------------------
def score(judgements: Iterable[Judgement]) -> dict:
    """accuracy, recall per label, balanced recall, confusion (rows LABELS, columns JUDGED), angle error."""
    judgements = list(judgements)
    confusion = np.zeros((len(LABELS), len(JUDGED)), int)
    for j in judgements:
        col = 2 if j.looking is None else (0 if j.looking else 1)
        confusion[LABELS.index(j.row.label), col] += 1
    right = [confusion[0, 0]] + [confusion[i, 1] for i in range(1, len(LABELS))]
    recall = {LABELS[i]: float(right[i] / confusion[i].sum()) for i in range(len(LABELS)) if confusion[i].sum()}
    return {"n": len(judgements), "accuracy": float(sum(right) / max(1, len(judgements))),
            "balanced": float(np.mean(list(recall.values()))) if recall else 0.0,
            "recall": recall, "confusion": confusion.tolist(), "angle_error": angle_error(judgements)}


def angle_error(judgements: Iterable[Judgement]) -> dict | None:
    """``{"n", "yaw", "pitch"}``: mean absolute errors in degrees over rows with known and published angles."""
    pairs = [(j.angles, (j.row.yaw, j.row.pitch)) for j in judgements
             if j.angles is not None and j.row.yaw is not None and j.row.pitch is not None]
    if not pairs:
        return None
    seen, truth = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    yaw, pitch = np.abs(seen - truth).mean(axis=0)
    return {"n": len(pairs), "yaw": round(float(yaw), 2), "pitch": round(float(pitch), 2)}


def evaluate_gaze(labels: str | Path, still_s: float = 1.0, fps: float = 10.0) -> dict:
    """The report: ``{"labels", "all": score, "photos": score, "clips": score, "frames": [...]}``."""
    rows = read_labels(labels)
    sources = list(dict.fromkeys(r.source for r in rows))
    judgements = [j for s in sources for j in judge_source(s, [r for r in rows if r.source == s], still_s, fps)]
    photos = [j for j in judgements if j.row.frames is None]
    clips = [j for j in judgements if j.row.frames is not None]
    return {"labels": str(labels), "still_s": still_s, "fps": fps, "all": score(judgements),
            "photos": score(photos), "clips": score(clips), "frames": [_entry(j) for j in judgements]}


def _entry(j: Judgement) -> dict:
    return {"source": str(j.row.source), "frame": j.frame, "label": j.row.label, "looking": j.looking,
            "angles": None if j.angles is None else [round(a, 2) for a in j.angles]}


def format_report(report: dict) -> str:
    """The figures as printed by ``vcam eval gaze``: a line per subset, then the confusion matrix."""
    lines = [f"{'subset':8s} {'frames':>6s} {'accuracy':>8s} {'balanced':>8s}  recall per label"]
    for name in ("photos", "clips", "all"):
        s = report[name]
        recall = "  ".join(f"{k} {v:.0%}" for k, v in s["recall"].items())
        lines.append(f"{name:8s} {s['n']:6d} {s['accuracy']:8.1%} {s['balanced']:8.1%}  {recall}")
    lines += ["", "all: rows the label, columns the judgement", " " * 12 + "".join(f"{c:>12s}" for c in JUDGED)]
    lines += [f"{label:12s}" + "".join(f"{v:12d}" for v in row) for label, row in zip(LABELS, report["all"]["confusion"])]
    error = report["all"]["angle_error"]
    lines.append(f"\nangle error over {error['n']} frames: yaw {error['yaw']:.1f}°, pitch {error['pitch']:.1f}°"
                 if error else "\nangle error: no rows with known angles (or no angles published)")
    return "\n".join(lines)
