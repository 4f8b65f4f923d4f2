"""Names: read each participant's name from their meeting tile's label, off the analysis thread.

Zoom, Teams, Meet and Webex print each name in the bottom-left corner of the tile, 10-20 px tall.
:class:`NameReader` reads one label band with PaddleOCR's PP-OCRv4 models as shipped in the
``rapidocr-onnxruntime`` wheel (Apache-2.0), run directly with onnxruntime on one thread:

1. the detector (DBNet) on the band scaled to :data:`DETECT_HEIGHT` px finds the text boxes;
2. the boxes on the bottom-most line starting at the left are joined into the name's line;
3. the recogniser reads that line at 48 px high (greedy CTC); the mean probability of the kept
   characters is the confidence, and below ``min_confidence`` the label reads as None.

:class:`Names` is the stage. Per frame it crops each tile's label box from the layout and computes a
cheap change key: the whole band's grey thumbnail (:func:`label_key`) until the tile's text line is
known, then that line's alone (:func:`line_key`), so the face moving above the label does not count as
a change. Once a tile is named, its line's glyphs (:func:`line_thumb`, Otsu-split) are compared with a
tolerance instead: a name in a translucent box over moving video keeps its name without a read, and a
line that now shows another name (:data:`NAME_GONE`) drops the old name until it is read. Only a
key it has not read is sent to ONE worker thread (``vcam-names``, bounded queue, stale work dropped, at
most ``max_share`` of a core); the answer is the tile's even when its band changed meanwhile. A re-read
that gives the same name but for a letter or an accent (:func:`same_name`) keeps the name shown and
doubles the tile's wait before the next. Reads are cached by key, so a tile that moves keeps its
name at once. Every face gets the name of its tile (``faces.participant``), and the per-tile names go
back to the layout through ``name_tiles``. The engine and the threshold were chosen by measurement
against Tesseract 5.3: ``vcam eval names``; the cost is measured by ``bench/names_budget.py``.

The recogniser's alphabet has é, á, ü and "…" but not ø, å, ł, ñ or ç: such names read without their
accents (Søren -> Soren). Scripts it does not know (Cyrillic, Greek, Arabic, Hebrew) read below the
threshold, so as None.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from vcam.errors import ModelError
from vcam.pipeline.names_worker import (LINE_TOLERANCE, Box, Worker, crop, label_key, line_key, line_thumb,
                                       same_name)
from vcam.types import Faces, Frame, Layout

log = logging.getLogger(__name__)

NAME_GONE = 30.0
"""A named tile whose text line's glyphs moved this far (mean 0-255 difference of :func:`line_thumb`) shows
another name: its old name is dropped at once, not kept until the new one is read (which would put the
people of a re-flowed gallery on each other's tracks). Video behind a label moved it under 6 on the
Zoom-like demo, another name about 55."""
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


class Names:
    """The stage that names each face after its meeting tile's label (see the module docstring).

    Per tile and frame: once a tile's text line is known, its key is that line's (:func:`line_key`: the
    face moving beside or above the label does not change it), else the whole band's (:func:`label_key`).
    A key read before gives its name at once (a tile that moved keeps its name); an unread key is sent to
    the worker, at most once per ``retry_s`` per tile, and the tile keeps its last name until the answer
    comes (tens of ms), so a label over moving video does not flicker. A tile never read has None.

    Args:
        layout: returns the current :class:`~vcam.types.Layout`, or None when the frame shows no gallery.
        name_tiles: receives the ``(T,) object`` array of per-tile names (str or None) every frame a
            layout exists, to publish them back into the layout.
        make_reader: builds the reader, on the worker thread (default :class:`NameReader`, which loads the
            PP-OCRv4 models there). A failure (a missing model: ModelError) is raised by the next call.
        queue_size: labels waiting to be read at most; more drop the oldest. A 7×7 gallery fits whole
            at the default; smaller drops more labels when the whole gallery changes at once.
        cache_size: reads kept by key. Larger names more returning tiles at once, for ~200 bytes each.
        retry_s: seconds of frame time before a tile's changed label is sent again. Lower follows a
            renamed participant sooner; higher reads less when video behind a bare label keeps changing.
            Each re-read that gives the tile the same name doubles its wait, up to ``retry_max_s``; a
            new name sets it back (a name printed over moving video, re-read every second, cost 3.5 %
            of a core per tile on the Zoom-like demo).
        retry_max_s: the longest wait between re-reads of a tile whose label keeps changing but whose
            name does not: how late a rename on such a tile may be seen.
        max_share: the share of one core the worker may read for (it rests between reads). Lower bounds
            the cost when many labels change; higher names a new gallery sooner (49 labels take ~1.7 s
            of reading).
    """

    name = "names"
    feature = "names"

    def __init__(self, layout: Callable[[], Layout | None], name_tiles: Callable[[np.ndarray], None],
                 make_reader: Callable[[], NameReader] = NameReader, *, queue_size: int = 64,
                 cache_size: int = 1024, retry_s: float = 1.0, retry_max_s: float = 8.0,
                 max_share: float = 0.5) -> None:
        if queue_size < 1 or cache_size < 1:
            raise ValueError(f"queue_size and cache_size must be >= 1, got {queue_size} and {cache_size}")
        if not 0.0 < max_share <= 1.0 or not 0 <= retry_s <= retry_max_s:
            raise ValueError(f"max_share must be in (0, 1] and 0 <= retry_s <= retry_max_s, got {max_share}, "
                             f"{retry_s} and {retry_max_s}")
        self._layout, self._name_tiles = layout, name_tiles
        self.retry_s, self.retry_max_s = retry_s, retry_max_s
        self._wait = np.zeros(0)  # per tile: seconds before its label may be sent again
        self._asked: list[tuple[bytes, np.ndarray] | None] = []  # per tile: its label sent, not answered yet: key, band
        self._seen: list[np.ndarray | None] = []  # per tile: its line's glyphs (line_thumb) when it was named
        self._unread: list[bool] = []  # per tile: its label was read and gave no name
        self._worker: Worker | None = Worker(make_reader, queue_size, cache_size, max_share)
        self._last: list[tuple[str | None, Box | None]] = []
        self._next_try = np.zeros(0)

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        """Name the tiles of the current layout from the cache, send changed labels to the worker."""
        worker = self._running()
        layout = self._layout()
        if layout is None or len(layout) == 0:
            return faces
        names = self.tile_names(frame, layout, worker)
        self._name_tiles(names)
        tiles = np.asarray(faces.tile, np.int64)
        inside = (tiles >= 0) & (tiles < len(names))
        participant = np.full(len(faces), None, object)
        participant[inside] = names[tiles[inside]]
        return faces.replace(participant=participant)

    def tile_names(self, frame: Frame, layout: Layout, worker: Worker) -> np.ndarray:
        """``(T,) object``: each tile's name (cached, else its last one), sending unread labels to the worker."""
        if len(self._last) != len(layout):
            self._last, self._next_try = [(None, None)] * len(layout), np.full(len(layout), -np.inf)
            self._wait = np.full(len(layout), self.retry_s)
            self._asked = [None] * len(layout)
            self._seen = [None] * len(layout)
            self._unread = [False] * len(layout)
        bands = [crop(frame.image, box) for box in layout.labels]
        change = [None if b is None else self._glyph_change(i, b) for i, b in enumerate(bands)]
        for i in [i for i, c in enumerate(change) if c is not None and c >= NAME_GONE]:
            self._unname(i)  # another name is printed there now: the old one must not stand while it is read
        keys = [None if b is None or (c is not None and c < LINE_TOLERANCE) else self._key(b, self._last[i][1])
                for i, (b, c) in enumerate(zip(bands, change))]
        worker.wanted = frozenset(k for k in keys if k is not None)
        for i, (band, key) in enumerate(zip(bands, keys)):
            if key is None:
                continue
            found, read = self._answer(i, key, band, worker)
            if found is not None:
                self._asked[i] = None
                if same_name(found[0], self._last[i][0]):  # a re-read that differs by a misread letter
                    found = (self._last[i][0], found[1])  # keeps the name shown: no flicker
                else:
                    self._wait[i] = self.retry_s  # a new name: follow this tile closely again
                self._last[i] = found
                self._seen[i] = None if found[1] is None else line_thumb(read, found[1])
                self._unread[i] = found[0] is None
            elif self._may_try(i, frame.t) and worker.submit(key, band := band.copy()):  # the worker reads it
                self._asked[i] = (key, band)  # later: a copy, whatever the source does with its frame
                if self._last[i] != (None, None):  # a re-read: wait longer next time, until a new name
                    self._wait[i] = min(2 * self._wait[i], self.retry_max_s)
                self._next_try[i] = frame.t + self._wait[i]
        return np.array([name for name, _ in self._last] + [None], object)[:-1]

    def _answer(self, tile: int, key: bytes, band: np.ndarray,
                worker: Worker) -> tuple[tuple[str | None, Box | None] | None, np.ndarray]:
        """A cached read for ``tile`` showing ``band`` (None while there is none), and the band it was read from:
        ``band``'s own; else the answer to the label this tile sent (video beside the label changed its key
        meanwhile); else, once its line is known, the band's whole key (a label that moved here)."""
        found = worker.lookup(key)
        if found is None and self._asked[tile] is not None:
            sent_key, sent_band = self._asked[tile]
            found = worker.lookup(sent_key)
            if found is not None:
                return found, sent_band  # its glyphs are the ones read: a label changed since is seen as changed
        if found is None and self._last[tile][1] is not None:
            found = worker.lookup(label_key(band))
        return found, band

    def _glyph_change(self, tile: int, band: np.ndarray) -> float | None:
        """How far ``tile``'s text line is from when its name was read (mean 0-255 difference of
        :func:`line_thumb`; under :data:`LINE_TOLERANCE` it is the same), None while it is not named."""
        seen, line = self._seen[tile], self._last[tile][1]
        now = None if seen is None or line is None else line_thumb(band, line)
        return None if now is None else float(np.abs(now - seen).mean())

    def _unname(self, tile: int) -> None:
        """Drop ``tile``'s name (a re-flow printed another there) and read its label at once."""
        log.debug("tile %d's label shows another name than %r; reading it again", tile, self._last[tile][0])
        self._last[tile] = (None, self._last[tile][1])
        self._seen[tile], self._asked[tile] = None, None  # nor may an answer to its old label name it
        self._wait[tile], self._next_try[tile] = self.retry_s, -np.inf

    def _may_try(self, tile: int, t: float) -> bool:
        """Whether ``tile`` may send a label at frame time ``t`` (its wait since its last; time that went
        back, a new source, resets it)."""
        return t >= self._next_try[tile] or t < self._next_try[tile] - self._wait[tile]

    @staticmethod
    def _key(band: np.ndarray, line: Box | None) -> bytes:
        """The key a tile is looked up by: its text line's once known (see :func:`line_key`), else its band's."""
        return label_key(band) if line is None else line_key(band, line)

    def _running(self) -> Worker:
        if self._worker is None:
            raise RuntimeError("the names stage is closed")
        if self._worker.failure is not None:
            err = self._worker.failure
            raise err if isinstance(err, ModelError) else ModelError(f"the name reader could not start: {err}")
        return self._worker

    @property
    def unread(self) -> int:
        """Tiles whose label was read and gave no name: letters or a script the reader does not know, a
        label too small or hidden, or no label at all."""
        return sum(self._unread)

    def idle(self) -> bool:
        """Whether every label sent to the worker has been read."""
        return self._worker is None or self._worker.idle()

    def forget(self, track_ids: set[int]) -> None:
        """Nothing per track: names belong to tiles."""

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker (after the label it is reading, waiting up to ``timeout`` s); safe to call again."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout)
