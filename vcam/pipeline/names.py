"""Names: read each participant's name from their meeting tile's label, off the analysis thread.

:class:`Names` is the stage; :class:`~vcam.pipeline.name_reader.NameReader` (PP-OCRv4 on onnxruntime)
reads one label. Per frame the stage crops each tile's label box from the layout and computes a
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
back to the layout through ``name_tiles``; :attr:`Names.unread` counts the tiles whose label gave no
name. The cost is measured by ``bench/names_budget.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from vcam.errors import ModelError
from vcam.pipeline.name_reader import NameReader
from vcam.pipeline.names_worker import (LINE_TOLERANCE, Box, Worker, crop, label_key, line_key, line_thumb,
                                       same_name)
from vcam.types import Faces, Frame, Layout

log = logging.getLogger(__name__)

NAME_GONE = 30.0
"""A named tile whose text line's glyphs moved this far (mean 0-255 difference of :func:`line_thumb`) shows
another name: its old name is dropped at once, not kept until the new one is read (which would put the
people of a re-flowed gallery on each other's tracks). Video behind a label moved it under 6 on the
Zoom-like demo, another name about 55."""


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
