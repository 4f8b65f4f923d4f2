"""The demo's own gallery: its participants, enrolled from the portraits shipped with vcam.

Identity on the ``demo`` source names these portraits and never the user's own
gallery, so the demo shows names without touching anyone's biometric data.
:func:`people_for` is that rule, for any source spec.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

import cv2
import numpy as np
import platformdirs

from vcam.enroll import one_face, still_faces
from vcam.errors import VcamError
from vcam.files import write_bytes_atomic
from vcam.gallery import Gallery

log = logging.getLogger(__name__)


def people_for(source: str, gallery: str | Path | None = None) -> dict[str, np.ndarray]:
    """Who identity may name on ``source`` (a source spec): the demo's own portraits on the demo source (the
    user's gallery is never used there), else the people enrolled in ``gallery`` (None: the user's)."""
    if source.startswith("demo"):
        log.info("identity on the demo source: naming the demo's portraits (your gallery is not used)")
        return demo_people()
    with Gallery(gallery) as g:
        people = g.people()
    if not people:
        log.warning("identity is on but nobody is enrolled: everyone shows as unknown; add people with 'vcam enroll'")
    return people


def demo_people(cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """The demo gallery's participants, enrolled from the portraits shipped with vcam.

    This is what identity names on the ``demo`` source, so the demo shows names
    without touching the user's own gallery. One descriptor per portrait (the
    demo moves, tilts and turns them, so matching is still real work), computed
    in one batch (~0.1 s) and cached in the user's cache dir keyed by the
    portraits' bytes.

    Returns name -> ``(1, 128) float32``.
    """
    from vcam.sources.demo import load_portraits

    portraits = load_portraits()
    key = hashlib.sha256(b"".join(cv2.imencode(".png", image)[1].tobytes() for _, image in portraits)).hexdigest()[:16]
    cache = Path(cache_dir or platformdirs.user_cache_dir("vcam")) / f"demo-people-{key}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            return {name: stored[name] for name in stored.files}
    people = _describe_portraits(portraits)
    _store(cache, people)
    return people


def _store(cache: Path, people: dict[str, np.ndarray]) -> None:
    """Keep ``people`` in ``cache`` (0600, replaced whole); a cache that cannot be kept is only logged."""
    buffer = io.BytesIO()
    np.savez(buffer, **people)
    try:
        write_bytes_atomic(cache, buffer.getvalue(), advice="remove it so vcam can cache the demo's people there")
    except (VcamError, OSError) as err:
        log.warning("the demo's people are not cached: %s", err)


def _describe_portraits(portraits: list[tuple[str, np.ndarray]]) -> dict[str, np.ndarray]:
    from vcam.pipeline.descriptor import Descriptor, face_chip

    chips = [face_chip(image, one_face(still_faces(image), name)) for name, image in portraits]
    vectors = Descriptor()(np.stack(chips))
    return {name: vectors[i:i + 1].astype(np.float32) for i, (name, _) in enumerate(portraits)}
