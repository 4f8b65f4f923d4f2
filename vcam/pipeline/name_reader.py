"""The name reader: one meeting tile's label band in, the participant's name (or None) out.

Zoom, Teams, Meet and Webex print each name in the bottom-left corner of the tile, 10-20 px tall.
:class:`NameReader` reads one label band with PaddleOCR's PP-OCRv4 models as shipped in the
``rapidocr-onnxruntime`` wheel (Apache-2.0), run directly with onnxruntime on one thread:

1. the detector (DBNet) on the band scaled to :data:`DETECT_HEIGHT` px finds the text boxes;
2. the boxes on the bottom-most line starting at the left are joined into the name's line;
3. the recogniser reads that line at 48 px high (greedy CTC); the mean probability of the kept
   characters is the confidence, and below ``min_confidence`` the label reads as None.

The recogniser's alphabet has é, á, ü and "…" but not ø, å, ł, ñ or ç: such names read without their
accents (Søren -> Soren). Scripts it does not know (Cyrillic, Greek, Arabic, Hebrew) read below the
threshold, so as None. The engine and the threshold were chosen by measurement against Tesseract 5.3:
``vcam eval names``. The stage that uses it, off the analysis thread, is :mod:`vcam.pipeline.names`.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from vcam.errors import ModelError
from vcam.pipeline.names_worker import Box

DETECT_HEIGHT = 64
"""The label band is scaled to this height (px) for the detector: text 10-20 px becomes ~20-40 px."""
RECOGNISE_HEIGHT = 48
"""The recogniser's input height (px), fixed by the model. The line is scaled to it bilinearly: on the demo
gallery's labels (OpenCV's Hershey font, ~8 px) bicubic read 46 of 65 right ("Groce" for Grace), area 40,
Lanczos 30, bilinear 65; on ``vcam eval names`` bilinear was as good or better too."""
MIN_CONFIDENCE = 0.85
"""Default threshold on the mean character probability (chosen on ``vcam eval names``)."""
TEXT_THRESHOLD = 0.3
"""A detector pixel above this probability is text (PaddleOCR's default)."""
UNCLIP = 1.6
"""DBNet's boxes are shrunk text cores: each is grown by its area × UNCLIP / perimeter (PaddleOCR's default)."""
BOX_THRESHOLD = 0.5
"""A text box whose mean probability is below this is dropped (PaddleOCR's default)."""
DECORATIONS = re.compile(r"\s*[(\[](host|co-?host|guest|me|you|presenter|organi[sz]er|external)[)\]]\s*$",
                         re.IGNORECASE)
"""Role tags the apps append to a name; removed from what is read."""
MODEL_FIX = ("reinstall it with `bash installer/linux/dev.sh setup` or "
             "`pip install --force-reinstall --no-deps rapidocr-onnxruntime==1.4.4`")


class Model:
    """One ONNX model on an onnxruntime CPU session with one thread; call it with its input, get output 0.

    Raises:
        ModelError: the file at ``path`` is missing or onnxruntime cannot load it (``what`` names it).
    """

    def __init__(self, path: Path, what: str) -> None:
        if not Path(path).is_file():
            raise ModelError(f"the OCR {what} model {path} is missing; {MODEL_FIX}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"the OCR {what} model {path} cannot be loaded by onnxruntime "
                             f"({type(err).__name__}: {err}); {MODEL_FIX}") from err
        self.path, self._input = Path(path), self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: x})[0]

    def charset(self) -> list[str]:
        """A recogniser's output alphabet from its metadata: ``["", *characters, " "]`` (0 is the CTC blank)."""
        chars = self.session.get_modelmeta().custom_metadata_map.get("character")
        if not chars:
            raise ModelError(f"the OCR recogniser {self.path} carries no 'character' metadata; {MODEL_FIX}")
        return ["", *chars.splitlines(), " "]


def _normalise(image: np.ndarray) -> np.ndarray:
    """``(h, w, 3) uint8`` BGR -> ``(1, 3, h, w) float32`` scaled to [-1, 1]."""
    return ((image.astype(np.float32) / 127.5) - 1.0).transpose(2, 0, 1)[None]


class NameReader:
    """Reads the name on one label band with PP-OCRv4 (see the module docstring).

    Args:
        detector, recognizer: the ONNX files (default: ``vcam.models.model_path("ocr-text-detector")`` and
            ``"ocr-text-recognizer"``, verified against their sha256).
        min_confidence: the mean character probability (0-1) below which a label reads as None. Higher
            gives fewer wrong names (a script the model does not know, a face mistaken for text) but
            more labels left unnamed.

    Raises:
        ModelError: a model file is missing, corrupt or cannot be loaded.
    """

    def __init__(self, detector: Path | None = None, recognizer: Path | None = None,
                 min_confidence: float = MIN_CONFIDENCE) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        detector, recognizer = detector or _model("ocr-text-detector"), recognizer or _model("ocr-text-recognizer")
        self.min_confidence = min_confidence
        self._detect = Model(detector, "text detector")
        self._recognise = Model(recognizer, "text recogniser")
        self._chars = self._recognise.charset()
        self.calls = 0
        """How many labels were read (a counter for tests and the eval)."""

    def read(self, label_bgr: np.ndarray) -> str | None:
        """The cleaned name on ``label_bgr`` (``(h, w, 3) uint8`` BGR label band), or None if unread."""
        return self.read_line(label_bgr)[0]

    def read_line(self, label_bgr: np.ndarray) -> tuple[str | None, Box | None]:
        """``(name or None, (x, y, w, h) of the text line read in label pixels, or None if none found)``."""
        text, confidence, line = self._read(label_bgr)
        return (clean(text) if confidence >= self.min_confidence else None), line

    def read_raw(self, label_bgr: np.ndarray) -> tuple[str, float]:
        """``(text, confidence)`` as read, uncleaned; ``("", 0.0)`` when no text line is found."""
        return self._read(label_bgr)[:2]

    def _read(self, label_bgr: np.ndarray) -> tuple[str, float, Box | None]:
        self.calls += 1
        image = _check_image(label_bgr)
        line = self.text_line(image)
        if line is None:
            return "", 0.0, None
        x, y, w, h = line
        return (*self.recognise(image[y:y + h, x:x + w]), line)

    def text_line(self, image: np.ndarray) -> Box | None:
        """``(x, y, w, h)`` in ``image`` pixels of the name's text line, or None."""
        scale = DETECT_HEIGHT / image.shape[0]
        w = max(32, int(round(image.shape[1] * scale / 32)) * 32)
        small = cv2.resize(image, (w, DETECT_HEIGHT), interpolation=cv2.INTER_LINEAR)
        prob = self._detect(_normalise(small))[0, 0]
        boxes = text_boxes(prob)
        if not boxes:
            return None
        x, y, bw, bh = name_line(boxes)
        sx, sy = image.shape[1] / w, image.shape[0] / DETECT_HEIGHT
        return _pad((x * sx, y * sy, bw * sx, bh * sy), image.shape)

    def recognise(self, line: np.ndarray) -> tuple[str, float]:
        """``(text, confidence)`` of one ``(h, w, 3) uint8`` BGR text line."""
        w = max(16, int(round(line.shape[1] * RECOGNISE_HEIGHT / line.shape[0])))
        resized = cv2.resize(line, (w, RECOGNISE_HEIGHT), interpolation=cv2.INTER_LINEAR)  # see RECOGNISE_HEIGHT
        probs = self._recognise(_normalise(resized))[0]
        return ctc_decode(probs, self._chars)


def _model(name: str) -> Path:
    from vcam.models import model_path

    return model_path(name)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"a label must be a uint8 numpy array, got {getattr(image, 'dtype', type(image))}")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 4:
        raise ValueError(f"a label must be (h, w, 3) BGR with h, w >= 4, got shape {image.shape}")
    return image


def text_boxes(prob: np.ndarray) -> list[Box]:
    """``(x, y, w, h)`` of each text region of a detector ``(H, W) float32`` probability map."""
    mask = (prob > TEXT_THRESHOLD).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    boxes = []
    for i in range(1, count):
        x, y, w, h, area = stats[i]
        if h >= 4 and w >= 4 and prob[labels == i].mean() >= BOX_THRESHOLD:
            boxes.append((int(x), int(y), int(w), int(h)))
    return boxes


def name_line(boxes: list[Box]) -> Box:
    """The union of the boxes on the name's line: the lowest line, starting with its leftmost box.

    Boxes join the line when they overlap it vertically by half their height and start within three
    line heights of its right end (a name split at a space: the detector's boxes are shrunk text cores,
    so a word gap looks about two line heights wide).
    """
    first = min(boxes, key=lambda b: (-(b[1] + b[3]) // max(1, b[3]), b[0]))
    x0, y0, x1, y1 = first[0], first[1], first[0] + first[2], first[1] + first[3]
    for x, y, w, h in sorted(boxes):
        overlap = min(y1, y + h) - max(y0, y)
        if x >= first[0] and overlap >= 0.5 * min(h, y1 - y0) and x <= x1 + 3 * (y1 - y0):
            x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x + w), max(y1, y + h)
    return x0, y0, x1 - x0, y1 - y0


def _pad(box: tuple[float, float, float, float], shape: tuple[int, ...]) -> Box:
    """``box`` grown as PaddleOCR unclips DBNet's shrunk boxes (by area × 1.6 / perimeter), clipped to ``shape``."""
    x, y, w, h = box
    grow = w * h * UNCLIP / (2 * (w + h))
    x0, y0 = max(0, int(x - grow)), max(0, int(y - grow))
    x1, y1 = min(shape[1], int(np.ceil(x + w + grow))), min(shape[0], int(np.ceil(y + h + grow)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def ctc_decode(probs: np.ndarray, chars: list[str]) -> tuple[str, float]:
    """Greedy CTC of ``(T, C)`` per-step probabilities: ``(text, mean probability of the kept steps)``."""
    best, p = probs.argmax(axis=1), probs.max(axis=1)
    keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
    if not keep.any():
        return "", 0.0
    return "".join(chars[i] for i in best[keep]), float(p[keep].mean())


def clean(text: str) -> str | None:
    """``text`` stripped, spaces collapsed, a box edge read as "[" or "|" dropped, ".." or "..." at the end as "…",
    role tags like "(Host)" dropped; None if nothing is left."""
    text = _unframe(re.sub(r"\s+", " ", text).strip())
    text = re.sub(r"\s*(\.{2,}|…)$", "…", DECORATIONS.sub("", text)).strip()
    return text if text.strip("…. ") else None


def _unframe(text: str) -> str:
    """``text`` without a label box's edge read as a bracket or bar at either end (``"[Ana"`` -> ``"Ana"``)."""
    while text and text[0] in "[|]" and not (text[0] == "[" and "]" in text):
        text = text[1:].lstrip()
    while text and text[-1] in "[|]" and not (text[-1] == "]" and "[" in text):
        text = text[:-1].rstrip()
    return text
