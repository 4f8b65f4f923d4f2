"""Enrollment: the descriptors of the one face in each photo or frame, ready for the gallery.

Finds the one face in each photo or frame with vcam's own detect and landmarks
stages (:func:`still_faces`), aligns it (:func:`vcam.pipeline.descriptor.face_chip`),
and adds a few augmented variants of each chip (:class:`Augment`) so one photo
covers a little more of the light and alignment a live camera will show. The
results are ``(M, 128) float32`` descriptors with one source string each, which
:meth:`vcam.gallery.Gallery.add` stores; this module never touches the store.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vcam.errors import GalleryError
from vcam.gallery import DESCRIPTOR_SIZE
from vcam.limits import MAX_PIXELS, check_pixels
from vcam.types import Faces, Frame

if TYPE_CHECKING:
    from vcam.pipeline.detect import Detect
    from vcam.pipeline.landmarks import Landmarks

log = logging.getLogger(__name__)


def still_faces(image: np.ndarray, detect: Detect | None = None, landmarks: Landmarks | None = None) -> Faces:
    """Every face in a still ``(H, W, 3) uint8`` BGR image, with 478 landmarks each (frame pixels).

    Runs vcam's own detect stage (every region) and a landmarks stage with no tracking state carried
    over between photos: a fresh one, or ``landmarks`` made to forget every track first. Pass a
    ``Detect`` and a ``Landmarks`` to reuse them over many photos.
    """
    from vcam.pipeline.detect import Detect
    from vcam.pipeline.landmarks import Landmarks

    own_detect, own_landmarks = detect is None, landmarks is None
    detect = detect or Detect()
    try:
        boxes = detect.find(image)
    finally:
        if own_detect:
            detect.close()
    if len(boxes) == 0:
        return boxes
    landmarks = landmarks or Landmarks(workers=1)
    landmarks.forget(set())
    try:
        return landmarks(Frame(image, 0, 0.0), boxes.replace(track_id=np.arange(1, len(boxes) + 1)))
    finally:
        if own_landmarks:
            landmarks.close()


AUGMENTATIONS = ("flip", "light", "rotate", "blur", "scale")


@dataclass(frozen=True)
class Augment:
    """How many augmented variants each enrolled face adds, and of which kinds.

    Applied to the aligned 150×150 chip, not the photo: it is cheaper (no new
    detection) and rotation and scale about the chip centre are exactly the
    alignment jitter a live chip shows. Variant ``i`` uses kind ``kinds[i %
    len(kinds)]`` with parameters drawn from a generator seeded by ``seed``, so
    enrollment is repeatable. Each variant is one more descriptor, with a source
    such as ``"me.jpg #rotate(-6.2deg)"``.

    Attributes:
        count: variants per image; 0 turns augmentation off.
        kinds: from ``flip`` (mirror), ``light`` (brightness ± ``brightness`` of
            full scale and contrast × 1 ± ``contrast``), ``rotate`` (± ``rotation``
            degrees), ``blur`` (Gaussian, sigma up to ``blur``), ``scale`` (zoom in ``scale``).
        More variants cover more conditions and also pull a person's descriptors
        apart; big ranges make variants that look like nobody.
    """

    count: int = 5
    kinds: tuple[str, ...] = AUGMENTATIONS
    brightness: float = 0.15
    contrast: float = 0.25
    rotation: float = 10.0
    blur: float = 1.5
    scale: tuple[float, float] = (0.8, 1.2)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(AUGMENTATIONS)
        if self.count < 0 or unknown or (self.count and not self.kinds):
            raise ValueError(f"Augment needs count >= 0 and kinds from {AUGMENTATIONS}; got count={self.count}, "
                             f"kinds={self.kinds}")

    def variants(self, chip: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """``[(label, chip)]``: ``count`` augmented copies of a ``(150, 150, 3) uint8`` chip."""
        rng = np.random.default_rng(self.seed)
        return [self._one(self.kinds[i % len(self.kinds)], chip, rng) for i in range(self.count)]

    def _one(self, kind: str, chip: np.ndarray, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        size = chip.shape[1], chip.shape[0]
        centre = (size[0] / 2.0, size[1] / 2.0)
        if kind == "flip":
            return "flip", np.ascontiguousarray(chip[:, ::-1])
        if kind == "light":
            b, c = rng.uniform(-self.brightness, self.brightness), rng.uniform(1 - self.contrast, 1 + self.contrast)
            out = (chip.astype(np.float32) - 128.0) * c + 128.0 + 255.0 * b
            return f"light(b{b:+.2f},c{c:.2f})", np.clip(out, 0, 255).astype(np.uint8)
        if kind == "blur":
            sigma = rng.uniform(0.5, max(self.blur, 0.5))
            return f"blur({sigma:.1f})", cv2.GaussianBlur(chip, (0, 0), sigma)
        angle = rng.uniform(-self.rotation, self.rotation) if kind == "rotate" else 0.0
        zoom = rng.uniform(*self.scale) if kind == "scale" else 1.0
        m = cv2.getRotationMatrix2D(centre, angle, zoom)
        out = cv2.warpAffine(chip, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return (f"rotate({angle:+.1f}deg)" if kind == "rotate" else f"scale({zoom:.2f})"), out


NO_AUGMENT = Augment(count=0)


def read_image(path: Path) -> np.ndarray:
    """The photo at ``path`` as ``(H, W, 3) uint8`` BGR.

    Its size is read from the file's header first (:func:`image_size`) and a photo over
    :data:`vcam.limits.MAX_PIXELS` is refused before anything is decoded: a small file can hold a huge image.
    Raises GalleryError naming the file when it is missing, not an image, or too large.
    """
    width, height = image_size(path)
    check_pixels(width, height, f"the photo {path}", GalleryError)
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as err:
        raise GalleryError(f"cannot read {path}: {err.strerror}; check the path") from err
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None or image.shape[0] * image.shape[1] != width * height:  # its header told another size
        raise GalleryError(f"cannot read {path} as an image; use a JPEG or PNG photo")
    return image


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the image at ``path`` in pixels, from its header only (Pillow's lazy open).

    Raises GalleryError naming the file when it is missing, not an image Pillow knows, or so large that
    Pillow itself refuses to open it (over about 179 megapixels).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as header:
                return header.size
    except Image.DecompressionBombError as err:
        claimed = re.search(r"\((\d+) pixels\)", str(err))  # Pillow names the pixels, not the width and height
        size = f"{int(claimed[1]) / 1e6:.1f} megapixels" if claimed else "over 179 megapixels"
        raise GalleryError(f"the photo {path} is {size}; vcam reads images of at most {MAX_PIXELS / 1e6:g} megapixels: "
                           "scale it down (e.g. to 4000×3000) and try again") from None
    except UnidentifiedImageError:
        raise GalleryError(f"cannot read {path} as an image; use a JPEG or PNG photo") from None
    except OSError as err:
        raise GalleryError(f"cannot read {path}: {err.strerror or err}; check the path") from None


def one_face(faces: Faces, what: str) -> np.ndarray:
    """The ``(478, 3)`` landmarks of the only face, or GalleryError naming ``what``."""
    if len(faces) == 0:
        raise GalleryError(f"no face found in {what}; use a photo where the face is clearly visible")
    if len(faces) > 1:
        raise GalleryError(f"{len(faces)} faces in {what}; crop it to the one person")
    return faces.landmarks[0]


def _describe(descriptor, chips: list[np.ndarray]) -> np.ndarray:
    if descriptor is None:
        from vcam.pipeline.descriptor import Descriptor

        descriptor = Descriptor()
    return np.asarray(descriptor(np.stack(chips)), np.float32).reshape(len(chips), DESCRIPTOR_SIZE)


def _chips_of(image: np.ndarray, landmarks: np.ndarray, label: str, augment: Augment | None
              ) -> tuple[list[np.ndarray], list[str]]:
    from vcam.pipeline.descriptor import face_chip

    chip = face_chip(image, landmarks)
    variants = (augment or NO_AUGMENT).variants(chip)
    return [chip, *(c for _, c in variants)], [label, *(f"{label} #{name}" for name, _ in variants)]


def enroll_images(paths: Iterable[str | Path], descriptor: Callable[[np.ndarray], np.ndarray] | None = None,
                  detect_landmarks: Callable[[np.ndarray], Faces] = still_faces,
                  augment: Augment | None = Augment()) -> tuple[np.ndarray, list[str]]:
    """Descriptors of the one face in each photo, plus its augmented variants.

    Args:
        paths: photos, each holding exactly one face.
        descriptor: chips ``(B, 150, 150, 3)`` → ``(B, 128)``; default an in-process
            :class:`vcam.pipeline.descriptor.Descriptor`.
        detect_landmarks: image → Faces with landmarks; default :func:`still_faces`.
        augment: variants per photo; None or ``Augment(count=0)`` for none.

    Returns ``((M, 128) float32, M source strings)``, M = photos × (1 + count).
    Raises GalleryError naming the file for an unreadable photo, one without a
    face, or one with several.
    """
    chips, sources = [], []
    for path in map(Path, paths):
        image = read_image(path)
        more, labels = _chips_of(image, one_face(detect_landmarks(image), str(path)), str(path), augment)
        chips += more
        sources += labels
    if not chips:
        raise GalleryError("no photos given; name at least one image file")
    return _describe(descriptor, chips), sources


def enroll_from_frames(frames: Iterable[Frame], n: int, descriptor: Callable[[np.ndarray], np.ndarray] | None = None,
                       detect_landmarks: Callable[[np.ndarray], Faces] = still_faces,
                       augment: Augment | None = None, *, every: int = 5,
                       limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Descriptors from ``n`` frames that show exactly one face (``vcam enroll NAME --from SRC --frames N``).

    Args:
        frames: e.g. an open source.
        n: frames to collect.
        every: look at every ``every``-th frame only, so the frames differ a little.
        limit: frames looked at before giving up (default ``20 × n``).
        augment: variants per collected frame (default none: live frames vary already).

    Frames with no face or with several are skipped and counted. Raises
    GalleryError when fewer than ``n`` good frames came within ``limit``.
    """
    if n < 1 or every < 1:
        raise GalleryError(f"need --frames >= 1 (got {n}) and every >= 1 (got {every})")
    limit = limit or 20 * n
    chips, sources, looked, got, skipped = [], [], 0, 0, {"none": 0, "several": 0}
    for i, frame in enumerate(frames):
        if got >= n or looked >= limit:
            break
        if i % every:
            continue
        looked += 1
        faces = detect_landmarks(frame.image)
        if len(faces) != 1:
            skipped["none" if len(faces) == 0 else "several"] += 1
            continue
        label = f"{frame.source or 'frames'} frame {frame.index}"
        more, labels = _chips_of(frame.image, faces.landmarks[0], label, augment)
        chips, sources, got = chips + more, sources + labels, got + 1
    if got < n:
        raise GalleryError(f"got {got} of {n} frames with exactly one face in {looked} frames looked at "
                           f"({skipped['none']} had no face, {skipped['several']} had several); make sure only the "
                           "person to enroll is in view, facing the camera, and try again")
    log.info("enrollment: %d frames used, %d without a face, %d with several", got, *skipped.values())
    return _describe(descriptor, chips), sources
