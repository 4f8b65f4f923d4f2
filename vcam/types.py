"""vcam's vocabulary: `Frame`, the columnar `Faces`, the meeting's `Layout`, and `Analysis`.

Every stage, the overlay, the outputs and the tests speak these types.

Images are always ``(H, W, 3) uint8`` BGR, the OpenCV convention. Sources turn
grey and BGRA input into that with :func:`as_bgr`, so nothing downstream checks
channel counts again.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

N_LANDMARKS = 478
"""Points per face from MediaPipe FaceMesh with irises (468 mesh + 2 × 5 iris)."""

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The emotion classes, in the order of ``Faces.emotion`` columns (FER2013's order)."""

ENGAGEMENT_WEIGHTS = (0.75, 0.25)
"""The engagement formula's default ``(attention, expression)`` weights (see :mod:`vcam.pipeline.engagement`)."""


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a contiguous ``(H, W, 3) uint8`` BGR array.

    Accepts ``(H, W)`` or ``(H, W, 1)`` grey, ``(H, W, 3)`` BGR and ``(H, W, 4)``
    BGRA. Raises TypeError for a non-uint8 dtype and ValueError for any other shape.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = getattr(image, "dtype", type(image).__name__)
        raise TypeError(f"frame image must be a uint8 numpy array, got {got}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(f"frame image must be (H, W), (H, W, 1|3|4) with H, W > 0; got shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class Frame:
    """One captured image.

    Attributes:
        image: ``(H, W, 3) uint8`` BGR.
        index: 0-based position in the source's stream.
        t: seconds since the source started (media time for files).
        source: the spec of the source that produced it, e.g. ``"demo"``.
        captured: ``time.monotonic()`` when it was captured; latency is measured from here.
    """

    image: np.ndarray
    index: int
    t: float
    source: str = ""
    captured: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
            raise TypeError(f"Frame.image must be uint8, got {getattr(img, 'dtype', type(img).__name__)}; use as_bgr()")
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"Frame.image must be (H, W, 3) BGR, got {img.shape}; use as_bgr()")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


# name -> (shape after the leading N, dtype, fill value for "not computed")
_COLUMNS: dict[str, tuple[tuple[int, ...], type, object]] = {
    "track_id": ((), np.int64, -1),
    "bbox": ((4,), np.float32, np.nan),
    "score": ((), np.float32, np.nan),
    "landmarks": ((N_LANDMARKS, 3), np.float32, np.nan),
    "pose": ((3,), np.float32, np.nan),
    "gaze": ((2,), np.float32, np.nan),
    "eye_openness": ((), np.float32, np.nan),
    "eye_open": ((2,), np.float32, np.nan),
    "gaze_angles": ((2,), np.float32, np.nan),
    "eyes_closed": ((), np.bool_, False),
    "on_screen": ((), np.bool_, False),
    "on_screen_conf": ((), np.float32, np.nan),
    "away_reason": ((), np.object_, None),
    "gaze_calibrated": ((), np.bool_, False),
    "name": ((), np.object_, None),
    "identity_distance": ((), np.float32, np.nan),
    "emotion": ((len(EMOTIONS),), np.float32, np.nan),
    "valence": ((), np.float32, np.nan),
    "arousal": ((), np.float32, np.nan),
    "attention": ((), np.float32, np.nan),
    "expression": ((), np.float32, np.nan),
    "engagement": ((), np.float32, np.nan),
    "tile": ((), np.int64, -1),
    "participant": ((), np.object_, None),
    "shared": ((), np.bool_, False),
}


@dataclass(frozen=True)
class Faces:
    """Every face in one frame, as parallel arrays with one row per face.

    Columns (N = number of faces; NaN or -1 means "not computed"):
        track_id: ``(N,) int64``; -1 until the tracker assigns one.
        bbox: ``(N, 4) float32`` ``[x, y, w, h]`` in frame pixels.
        score: ``(N,) float32`` detection or landmark confidence, 0..1.
        landmarks: ``(N, 478, 3) float32``; x, y in frame pixels, z in the same
            scale as x, negative towards the camera (MediaPipe's convention).
        pose: ``(N, 3) float32`` ``[yaw, pitch, roll]`` in degrees; see
            :mod:`vcam.pipeline.pose` for the sign convention.
        gaze: ``(N, 2) float32`` ``[h_ratio, v_ratio]``: the iris centre inside the
            eye, 0 = outer-left/top, 0.5 = centre, 1 = right/bottom, averaged over
            both eyes, in image directions.
        eye_openness: ``(N,) float32``: lid gap / eye width, the mean of ``eye_open`` (about
            0.25-0.4 open, under 0.12 shut: see :data:`vcam.pipeline.gaze_geometry.CLOSED_EYE`).
        eye_open: ``(N, 2) float32``: each eye's lid gap / width, ``[right eye, left eye]`` (the person's).
        gaze_angles: ``(N, 2) float32`` ``[yaw, pitch]`` degrees of the gaze ray, head pose's sign
            convention (0, 0 into the lens); NaN with both eyes shut or no pose.
        eyes_closed: ``(N,) bool``: both eyes shut for longer than a blink.
        on_screen: ``(N,) bool``: the person is looking at their screen.
        on_screen_conf: ``(N,) float32``: confidence of ``on_screen``, 0..1.
        away_reason: ``(N,) object``: why not on screen (str: ``eyes closed``, ``looking up``,
            ``looking down``, ``looking aside``, ``head turned``), or None.
        gaze_calibrated: ``(N,) bool``: the person's screen region was calibrated on request
            (:meth:`vcam.pipeline.gaze.Gaze.calibrate`), not only learnt.
        name: ``(N,) object``: the enrolled person's name (str), or None when
            unknown or identity is off.
        identity_distance: ``(N,) float32``: descriptor distance to the matched
            person (or to the nearest one when unknown); lower is more alike.
        emotion: ``(N, 7) float32``: smoothed class probabilities in
            :data:`EMOTIONS` order, summing to 1.
        valence, arousal: ``(N,) float32``: estimates in -1..1 derived from
            ``emotion`` (see :mod:`vcam.pipeline.emotion`); not measured.
        attention: ``(N,) float32``: share of the person's recent window spent
            looking at their screen, 0..1 (see :mod:`vcam.pipeline.engagement`).
        expression: ``(N,) float32``: the expression component of engagement, 0..1.
        engagement: ``(N,) float32``: the engagement score, 0..1, from attention and expression.
        tile: ``(N,) int64``: the index of the meeting tile (in :attr:`Layout.tiles`) the face is in;
            -1 when no layout was found or the face is in none.
        participant: ``(N,) object``: the name printed on that tile (str, as read), or None. The
            meeting's label, not a biometric match (that is ``name``); they may disagree.
        shared: ``(N,) bool``: another face is in the same tile (a shared room camera).

    Shapes and dtypes are checked on creation: a wrong shape raises ValueError
    naming the column, the expected shape and the shape that arrived.
    """

    track_id: np.ndarray
    bbox: np.ndarray
    score: np.ndarray
    landmarks: np.ndarray
    pose: np.ndarray
    gaze: np.ndarray
    eye_openness: np.ndarray
    eye_open: np.ndarray
    gaze_angles: np.ndarray
    eyes_closed: np.ndarray
    on_screen: np.ndarray
    on_screen_conf: np.ndarray
    away_reason: np.ndarray
    gaze_calibrated: np.ndarray
    name: np.ndarray
    identity_distance: np.ndarray
    emotion: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    attention: np.ndarray
    expression: np.ndarray
    engagement: np.ndarray
    tile: np.ndarray
    participant: np.ndarray
    shared: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.bbox)
        for name, (shape, dtype, _) in _COLUMNS.items():
            arr = np.asarray(getattr(self, name), dtype=dtype)
            if arr.shape != (n, *shape):
                raise ValueError(f"Faces.{name} must have shape {(n, *shape)} for {n} faces, got {arr.shape}")
            object.__setattr__(self, name, arr)

    @classmethod
    def empty(cls) -> Faces:
        """No faces."""
        return cls.from_boxes(np.zeros((0, 4), np.float32))

    @classmethod
    def from_boxes(cls, bbox: np.ndarray, score: np.ndarray | None = None) -> Faces:
        """Faces with only boxes ``(N, 4)`` ``[x, y, w, h]`` and scores ``(N,)`` set."""
        n = len(bbox)
        cols = {name: np.full((n, *shape), fill, dtype) for name, (shape, dtype, fill) in _COLUMNS.items()}
        cols["bbox"] = bbox
        if score is not None:
            cols["score"] = score
        return cls(**cols)

    @classmethod
    def concat(cls, parts: list[Faces]) -> Faces:
        """All rows of ``parts`` in order."""
        if not parts:
            return cls.empty()
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in _COLUMNS})

    def __len__(self) -> int:
        return len(self.bbox)

    def replace(self, **columns: np.ndarray) -> Faces:
        """A copy with some columns replaced (checked like a new Faces)."""
        return dataclasses.replace(self, **columns)

    def select(self, index: np.ndarray | list[int]) -> Faces:
        """The rows at ``index`` (integer indices or a boolean mask)."""
        return Faces(**{name: getattr(self, name)[index] for name in _COLUMNS})


LAYOUT_KINDS = ("grid", "speaker", "strip")
"""What a :class:`Layout` is: a gallery ``grid``; a ``speaker`` view (one large tile and a filmstrip);
a ``strip`` of thumbnails beside shared content."""


@dataclass(frozen=True)
class Layout:
    """The meeting's tiles found in one frame (see :mod:`vcam.pipeline.layout`).

    Attributes:
        kind: one of :data:`LAYOUT_KINDS`.
        tiles: ``(T, 4) float32`` ``[x, y, w, h]`` of each tile in frame pixels, in reading order
            (top to bottom, then left to right).
        labels: ``(T, 4) float32`` ``[x, y, w, h]``: where each tile's name label is searched (its
            bottom band), frame pixels.
        participant: ``(T,) object``: the name read from each tile's label (str), or None.
        camera_off: ``(T,) bool``: the tile shows an avatar or initials, not a camera.
        found_at: ``Frame.t`` (seconds) of the frame the tiles were found in.
    """

    kind: str
    tiles: np.ndarray
    labels: np.ndarray
    participant: np.ndarray
    camera_off: np.ndarray
    found_at: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in LAYOUT_KINDS:
            raise ValueError(f"Layout.kind must be one of {LAYOUT_KINDS}, got {self.kind!r}")
        n = len(self.tiles)
        for name, shape, dtype in (("tiles", (n, 4), np.float32), ("labels", (n, 4), np.float32),
                                   ("participant", (n,), np.object_), ("camera_off", (n,), np.bool_)):
            arr = np.asarray(getattr(self, name), dtype=dtype)
            if arr.shape != shape:
                raise ValueError(f"Layout.{name} must have shape {shape} for {n} tiles, got {arr.shape}")
            object.__setattr__(self, name, arr)

    @classmethod
    def of(cls, kind: str, tiles: np.ndarray, labels: np.ndarray | None = None, found_at: float = 0.0) -> Layout:
        """A layout of ``(T, 4)`` ``tiles`` with no names read and every camera on.

        ``labels`` default to each tile's bottom fifth.
        """
        tiles = np.asarray(tiles, np.float32).reshape(-1, 4)
        if labels is None:
            labels = tiles.copy()
            labels[:, 1] += tiles[:, 3] * 0.8
            labels[:, 3] = tiles[:, 3] * 0.2
        n = len(tiles)
        return cls(kind, tiles, labels, np.full(n, None, object), np.zeros(n, bool), found_at)

    def __len__(self) -> int:
        return len(self.tiles)

    def replace(self, **fields: object) -> Layout:
        """A copy with some fields replaced (checked like a new Layout)."""
        return dataclasses.replace(self, **fields)

    def tile_of(self, points: np.ndarray) -> np.ndarray:
        """``(N,) int64``: the index of the tile holding each ``(N, 2)`` ``[x, y]`` point, -1 for none."""
        points = np.asarray(points, np.float32).reshape(-1, 2)
        x0, y0 = self.tiles[:, 0], self.tiles[:, 1]
        inside = ((points[:, None, 0] >= x0) & (points[:, None, 0] < x0 + self.tiles[:, 2])
                  & (points[:, None, 1] >= y0) & (points[:, None, 1] < y0 + self.tiles[:, 3]))
        return np.where(inside.any(axis=1), inside.argmax(axis=1), -1).astype(np.int64)


@dataclass(frozen=True)
class Analysis:
    """What the analyzer found in one frame.

    Attributes:
        frame_index: ``Frame.index`` of the analysed frame.
        t: ``Frame.t`` of the analysed frame, seconds.
        size: ``(width, height)`` of the analysed frame in pixels.
        faces: the faces found.
        captured: ``Frame.captured`` (monotonic seconds).
        finished: ``time.monotonic()`` when analysis ended.
        timings: milliseconds spent per stage for this frame.
        features: the features that were on, e.g. ``("gaze",)``.
        engagement_weights: the effective ``(attention, expression)`` weights, summing to 1, that
            the engagement column was made with where there was an expression (the analyzer's
            engagement stage's ``weights(True)``).
        layout: the meeting's tiles, or None when the frame shows no meeting gallery.
    """

    frame_index: int
    t: float
    size: tuple[int, int]
    faces: Faces
    captured: float
    finished: float
    timings: dict[str, float] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    engagement_weights: tuple[float, float] = ENGAGEMENT_WEIGHTS
    layout: Layout | None = None

    @property
    def latency(self) -> float:
        """Seconds from capture to the end of analysis."""
        return self.finished - self.captured
