"""Measure name reading on the labelled set of :mod:`vcam.name_labels`: ``vcam eval names``.

Each engine reads every label; per size bucket and overall it reports:

- **exact**: the share of labels read exactly as the app shows them (for a script the engine cannot
  read, None counts as right: "no name" is the right answer there);
- **exact_folded**: the same after removing accents from both (Søren -> Soren), since an engine whose
  alphabet lacks ø or ñ still gives a usable name;
- **cer**: character error rate, the edit distance over the truth's length (None read = every
  character missed); over the Latin labels;
- **wrong**: the share of labels given a non-empty name that is not the truth (the brief's "garbage",
  the error that matters most: a wrong name is worse than none); **garbage** is the part of it whose
  CER is over 0.5 (not a near miss);
- **none**: the share read as None;
- **ms**: milliseconds per label, the median over ``runs`` reads of each label, one thread.

Engines (:data:`ENGINES`): ``rapidocr`` (vcam's :class:`~vcam.pipeline.name_reader.NameReader`: PP-OCRv4 from the
rapidocr-onnxruntime wheel); ``tesseract`` (Debian's ``tesseract-ocr`` 5.3 through its command line, on the whole
band) and ``tesseract-line`` (Tesseract on the line PP-OCRv4's detector found), only where Tesseract is installed:
it is not a dependency of vcam.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import subprocess
import time
import unicodedata
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from vcam.name_labels import Label, labelled_set
from vcam.pipeline.name_reader import NameReader, clean

log = logging.getLogger(__name__)

BUCKETS = {"10-12px": (10, 12), "14-16px": (14, 16), "18-20px": (18, 20)}
"""Font size buckets, inclusive, in pixels."""
ENGINES = ("rapidocr", "tesseract", "tesseract-line")
"""``rapidocr``: vcam's reader; ``tesseract``: Tesseract on the whole label band; ``tesseract-line``: Tesseract on
the text line PP-OCRv4's detector finds."""
THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
"""Confidence thresholds the sweep tries."""

Reader = Callable[[np.ndarray], tuple[str, float]]


def evaluate_names(engines: Sequence[str] = ENGINES, runs: int = 3,
                   per_name: int = 3) -> dict:
    """The report: ``{"labels": n, "engines": {engine: {"threshold", "overall", "buckets", "sweep"}}}``."""
    labels = labelled_set(per_name)
    report: dict = {"labels": len(labels), "runs": runs, "engines": {}}
    for engine in engines:
        reader, threshold = make_engine(engine)
        if reader is None:
            log.warning("engine %s is not available here; skipped", engine)
            continue
        raw, ms = read_all(reader, labels, runs)
        report["engines"][engine] = score_engine(labels, raw, ms, threshold)
    return report


def make_engine(engine: str) -> tuple[Reader | None, float]:
    """``(read_raw, its default confidence threshold)``; ``(None, 0)`` when the engine is not installed."""
    if engine == "rapidocr":
        reader = NameReader()
        return reader.read_raw, reader.min_confidence
    if engine in ("tesseract", "tesseract-line") and not shutil.which("tesseract"):
        return None, 0.0
    if engine == "tesseract":
        return tesseract_read, 0.6
    if engine == "tesseract-line":
        return tesseract_on_line(NameReader()), 0.6
    raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")


def tesseract_on_line(reader: NameReader) -> Reader:
    """Tesseract (``--psm 7``, one line) on the text line PP-OCRv4's detector finds: recognisers compared alone."""
    def read(label_bgr: np.ndarray) -> tuple[str, float]:
        line = reader.text_line(label_bgr)
        if line is None:
            return "", 0.0
        x, y, w, h = line
        return tesseract_read(np.ascontiguousarray(label_bgr[y:y + h, x:x + w]), scale=48 / h, psm=7)
    return read


def read_all(reader: Reader, labels: list[Label], runs: int) -> tuple[list[tuple[str, float]], list[float]]:
    """Each label's ``(raw text, confidence)`` and its median milliseconds over ``runs`` reads."""
    raw, ms = [], []
    for label in labels:
        times = []
        for _ in range(max(1, runs)):
            start = time.perf_counter()
            out = reader(label.image)
            times.append((time.perf_counter() - start) * 1000)
        raw.append(out)
        ms.append(statistics.median(times))
    return raw, ms


def score_engine(labels: list[Label], raw: list[tuple[str, float]], ms: list[float], threshold: float) -> dict:
    """Figures at ``threshold`` (overall and per bucket) and the threshold sweep."""
    read = [answer(text, conf, threshold) for text, conf in raw]
    buckets = {name: score(*_subset(labels, read, ms, lo, hi)) for name, (lo, hi) in BUCKETS.items()}
    sweep = {str(t): score(labels, [answer(x, c, t) for x, c in raw], ms) for t in THRESHOLDS}
    mistakes = [{"truth": l.truth, "read": r, "size": l.size, "style": l.style}
                for l, r in zip(labels, read) if not correct(l, r)]
    return {"threshold": threshold, "overall": score(labels, read, ms), "buckets": buckets,
            "sweep": {t: {k: s[k] for k in ("exact", "exact_folded", "wrong", "none")} for t, s in sweep.items()},
            "mistakes": mistakes}


def answer(text: str, confidence: float, threshold: float) -> str | None:
    """What a reader with ``threshold`` returns for a raw read."""
    return clean(text) if confidence >= threshold else None


def _subset(labels: list[Label], read: list[str | None], ms: list[float], lo: int, hi: int):
    keep = [i for i, label in enumerate(labels) if lo <= label.size <= hi]
    return [labels[i] for i in keep], [read[i] for i in keep], [ms[i] for i in keep]


def score(labels: list[Label], read: list[str | None], ms: list[float]) -> dict:
    """The figures of one set of answers (see the module docstring)."""
    n = max(1, len(labels))
    latin = [(l, r) for l, r in zip(labels, read) if l.script == "latin"]
    wrong = [(l, r) for l, r in zip(labels, read) if r is not None and not correct(l, r)]
    return {
        "n": len(labels),
        "exact": sum(correct(l, r) for l, r in zip(labels, read)) / n,
        "exact_folded": sum(correct(l, r, fold) for l, r in zip(labels, read)) / n,
        "cer": sum(cer(l.truth, r) for l, r in latin) / max(1, len(latin)),
        "wrong": len(wrong) / n,
        "garbage": sum(cer(l.truth, r) > 0.5 for l, r in wrong) / n,
        "none": sum(r is None for r in read) / n,
        "ms": statistics.median(ms) if ms else 0.0,
        "ms_p90": float(np.percentile(ms, 90)) if ms else 0.0,
    }


def fold(text: str) -> str:
    """``text`` without accents (NFKD, combining marks dropped; ø, ł, ß, İ mapped by hand)."""
    text = text.translate(str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "İ": "I", "ı": "i"}))
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def correct(label: Label, read: str | None, norm: Callable[[str], str] = lambda s: s) -> bool:
    """Whether ``read`` is right: the truth, or None for a script the engine may not know."""
    if read is None:
        return label.script != "latin"
    return norm(read) == norm(label.truth)


def cer(truth: str, read: str | None) -> float:
    """Character error rate: Levenshtein distance / ``len(truth)`` (None = all missed)."""
    return _distance(truth, read or "") / max(1, len(truth))


def _distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


# -- Tesseract, for the comparison only ----------------------------------------------------


def tesseract_read(label_bgr: np.ndarray, scale: float = 3.0, psm: int = 6) -> tuple[str, float]:
    """``(text, confidence 0-1)`` of the lowest text line Tesseract finds on a label band scaled ``scale``×.

    Tesseract wants capitals ~30 px tall, so the band is enlarged; ``--psm 6`` reads it as one block.
    """
    big = cv2.resize(label_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    png = cv2.imencode(".png", big)[1].tobytes()
    out = subprocess.run(["tesseract", "stdin", "stdout", "-l", "eng", "--psm", str(psm), "tsv"], input=png,
                         capture_output=True, check=False, env={"OMP_THREAD_LIMIT": "1"}).stdout
    return _lowest_line(out.decode("utf-8", "replace"))


def _lowest_line(tsv: str) -> tuple[str, float]:
    """The words and mean confidence (0-1) of the lowest line of Tesseract's TSV output."""
    lines: dict[tuple[str, str, str], list[tuple[int, str, float]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) == 12 and cols[0] == "5" and cols[11].strip():
            lines.setdefault((cols[2], cols[3], cols[4]), []).append((int(cols[7]), cols[11], float(cols[10])))
    if not lines:
        return "", 0.0
    words = max(lines.values(), key=lambda ws: max(top for top, _, _ in ws))
    return " ".join(w for _, w, _ in words), float(np.mean([c for _, _, c in words])) / 100


def format_report(report: dict) -> str:
    """The headline figures as a table, one row per engine and bucket."""
    head = f"{'engine':10s} {'bucket':8s} {'n':>3s} {'exact':>6s} {'folded':>6s} {'CER':>6s} {'wrong':>6s} " \
           f"{'garb.':>6s} {'none':>6s} {'ms':>6s} {'ms p90':>6s}"
    rows = [f"{report['labels']} labels, median of {report['runs']} runs per label, 1 thread", head]
    for engine, figures in report["engines"].items():
        parts = {"all": figures["overall"], **figures["buckets"]}
        for bucket, s in parts.items():
            rows.append(f"{engine:10s} {bucket:8s} {s['n']:3d} {s['exact']:6.1%} {s['exact_folded']:6.1%} "
                        f"{s['cer']:6.3f} {s['wrong']:6.1%} {s['garbage']:6.1%} {s['none']:6.1%} "
                        f"{s['ms']:6.1f} {s['ms_p90']:6.1f}")
        rows.append(f"{engine:10s} threshold {figures['threshold']}; sweep (exact/wrong/none): " + ", ".join(
            f"{t}: {s['exact']:.0%}/{s['wrong']:.0%}/{s['none']:.0%}" for t, s in figures["sweep"].items()))
    return "\n".join(rows)
