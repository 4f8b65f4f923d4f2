"""``vcam analyze``: run the pipeline over a recording and describe every frame.

The JSON it writes is a contract (``vcam/schemas/analyze.schema.json``): later
versions add fields, never rename them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

import vcam
from vcam.errors import ConfigError, VcamError
from vcam.files import write_text_atomic
from vcam.features import Switches
from vcam.pipeline import Analyzer
from vcam.records import Person, Records, Snapshot, number, published
from vcam.session import Recorder
from vcam.sources.video import VideoSource
from vcam.threads import prefetched
from vcam.types import EMOTIONS, Frame

log = logging.getLogger(__name__)

SCHEMA_PATH = resources.files("vcam.schemas") / "analyze.schema.json"
"""The committed JSON Schema of the document :func:`analyze` returns."""
SCHEMA_VERSION: str = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]["version"]["const"]
"""The document's version, as the schema states it. 1.2 added each face's attention, expression,
engagement and emotion confidence, each frame's room, and each track's attention and engagement; 1.3 each
face's participant name, shared-tile mark and tile, and each track's participant."""

FACE_FORMATTED = ("track_id", "bbox", "yaw", "pitch", "roll", "looking", "h_ratio", "v_ratio", "looking_confidence",
                  "name", "identity_distance", "emotion", "emotion_probs", "valence", "arousal")
"""Person fields a face carries in its own (1.0) shape; every other published field follows flat."""
FACE_EXTRA = tuple(published(exclude=FACE_FORMATTED))
"""The Person fields a face carries under their own names (since 1.2)."""


def face_record(p: Person, features: tuple[str, ...]) -> dict:
    """One face of a frame (see the schema's ``face``); ``identity`` and ``emotion`` are null when that
    feature was off, ``emotion`` also before the face was first classified."""
    return {
        "track_id": p.track_id,
        "bbox": list(p.bbox),
        "head_pose": {"yaw": p.yaw, "pitch": p.pitch, "roll": p.roll},
        "gaze": {"on_screen": bool(p.looking), "h_ratio": p.h_ratio, "v_ratio": p.v_ratio,
                 "confidence": p.looking_confidence},
        "identity": {"name": p.name, "distance": p.identity_distance} if "identity" in features else None,
        "emotion": _emotion(p),
        **{key: p.value(key) for key in FACE_EXTRA},
    }


def _emotion(p: Person) -> dict | None:
    if p.emotion_probs is None:
        return None  # off, or not classified yet (emotion runs round-robin within a time budget)
    return {"label": p.emotion, "probs": dict(zip(EMOTIONS, p.emotion_probs)), "valence": p.valence,
            "arousal": p.arousal, "estimated": True}


def frame_record(snapshot: Snapshot) -> dict:
    """One analysed frame: its index, media time, faces and room."""
    return {"index": snapshot.frame_index, "t": round(snapshot.media_t, 3),
            "faces": [face_record(p, snapshot.features) for p in snapshot.people],
            "room": snapshot.room.published() if snapshot.room is not None else None}


class TrackSummary:
    """Accumulates per-track totals: first/last time seen, frames, share of frames on screen, mean attention
    and engagement, the name and the participant name most often given, and the share of classified frames in
    each emotion. It reads the frame records (:func:`frame_record`), so a document joined from parts (``vcam
    batch``'s segments) is summed up exactly as one run is."""

    def __init__(self) -> None:
        self._tracks: dict[int, dict] = {}

    def add(self, record: dict) -> None:
        """Count every face of one analysed frame's record."""
        for face in record["faces"]:
            track = self._tracks.setdefault(face["track_id"], {
                "track_id": face["track_id"], "first_t": record["t"], "frames": 0, "on": 0, "names": Counter(),
                "participants": Counter(), "emotions": Counter(), "attention": [], "engagement": []})
            track["last_t"] = record["t"]
            track["frames"] += 1
            track["on"] += bool(face["gaze"]["on_screen"])
            for key in ("attention", "engagement"):
                if face.get(key) is not None:
                    track[key].append(face[key])
            for key, value in (("names", (face["identity"] or {}).get("name")),
                               ("participants", face.get("participant")),
                               ("emotions", (face["emotion"] or {}).get("label"))):
                if value is not None:
                    track[key][value] += 1

    def records(self) -> list[dict]:
        """One JSON-ready dict per track, by id."""
        return [self._record(t) for t in sorted(self._tracks.values(), key=lambda t: t["track_id"])]

    @staticmethod
    def _record(t: dict) -> dict:
        classified = sum(t["emotions"].values())
        return {"track_id": t["track_id"], "first_t": round(t["first_t"], 3), "last_t": round(t["last_t"], 3),
                "frames": t["frames"], "on_screen_pct": round(100.0 * t["on"] / t["frames"], 1),
                "attention": _mean(t["attention"]), "engagement": _mean(t["engagement"]),
                "name": t["names"].most_common(1)[0][0] if t["names"] else None,
                "participant": t["participants"].most_common(1)[0][0] if t["participants"] else None,
                "emotion_pct": {k: round(100.0 * t["emotions"][k] / classified, 1) for k in EMOTIONS} if classified else None}


class GazeCalibrations:
    """``vcam analyze --calibrate-gaze-at``: calibrate the gaze stage once at each given media time.

    Raises ConfigError for a time that is negative or not a number, or when gaze is off.
    """

    def __init__(self, times: Sequence[float], features: Switches) -> None:
        bad = [t for t in times if not math.isfinite(t) or t < 0]
        if bad:
            raise ConfigError(f"--calibrate-gaze-at takes seconds into the recording, 0 or more; got {bad[0]}")
        if times and "gaze" not in features.on():
            raise ConfigError("--calibrate-gaze-at needs gaze: drop --no-gaze")
        self.waiting = sorted(times)

    def after(self, t: float, analyzer: Analyzer) -> None:
        """Calibrate after the analysis at media time ``t`` s when a calibration time has come."""
        due = sum(w <= t for w in self.waiting)
        if due:
            del self.waiting[:due]
            done, tracked = analyzer.stage("gaze").calibrate()
            log.info("gaze calibrated at %.1f s for %d of %d people", t, done, tracked)

    def finish(self) -> None:
        """Warn about calibration times the recording never reached."""
        if self.waiting:
            log.warning("--calibrate-gaze-at %s: after the last analysed frame, not used",
                        ", ".join(f"{t:g}" for t in self.waiting))


def _mean(values: list[float]) -> float | None:
    return number(sum(values) / len(values)) if values else None


def analyze(path: str | Path, *, progress: bool = True, features: Switches | None = None,
            gallery: str | Path | None = None, timeline: str | Path | None = None, sample: str = "all",
            emotion_model: str = "emotion-fer", people: Mapping[str, np.ndarray] | None = None,
            cores: int = 2, start: int = 0, stop: int | None = None, calibrate_gaze_at: Sequence[float] = ()) -> dict:
    """Analyse every frame of the video at ``path`` as fast as possible; return the JSON document.

    Args:
        features: which optional stages run (default: gaze only).
        gallery: the gallery identity names people from (default: the user's).
        people: the enrolled people already read, ``{name: (K, 128) float32 descriptors}`` (see
            :func:`read_gallery`); when given, ``gallery`` is not opened (``vcam batch`` reads it once).
        timeline: also record the session timeline (once per second of video) into this folder.
        sample: ``all``, ``every:N``, ``RATEhz`` or ``scene`` (see :class:`Sampler`); ``frames`` then
            lists the analysed frames only, and ``source.analysed`` counts them.
        emotion_model: the manifest's emotion model, when emotion is on.
        cores: the cores to use side by side. 2 (a laptop): the next frames decode on a thread of their own
            while one is analysed, and landmarks fit on two threads (:func:`vcam.pipeline.landmarks_for`).
            1 (a ``vcam batch`` worker, which has one core): everything on this thread, decoding with one
            FFmpeg thread.
        start, stop: analyse only frames ``start`` (0-based) to ``stop`` (excluded; None: the end), each with its
            own index and media time, sampled as in a run over the whole file (``vcam batch``'s segments);
            ``source.frames`` is then the index after the last frame read. Not with ``scene``, which needs
            the frames before.
        calibrate_gaze_at: media times in seconds at which everyone in the recording was looking at their
            screen (the presenter asked them to): the gaze stage calibrates on each person's gaze of the
            seconds before (:meth:`vcam.pipeline.gaze.Gaze.calibrate`) at the first analysed frame from each.

    Raises:
        SourceError: the file is missing or unreadable, or its frames are over :data:`vcam.limits.MAX_PIXELS`.
        GalleryError: identity is on and the gallery cannot be read.
    """
    started = time.monotonic()
    frames, summary, records = [], TrackSummary(), Records()
    features = features or Switches()
    enrolled = functools.partial(dict, people) if people is not None else _gallery(gallery, features)
    sampler = Sampler(sample)
    calibrations = GazeCalibrations(calibrate_gaze_at, features)
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(VideoSource(Path(path), realtime=False, threads=None if cores > 1 else 1))
        analyzer = stack.enter_context(Analyzer(features, people=enrolled, emotion_model=emotion_model, cores=cores))
        recorder = stack.enter_context(Recorder(timeline, features=features.on(), source=str(path))) if timeline else None
        bar = stack.enter_context(tqdm(total=source.frame_count or None, unit="frame", desc="analyzing",
                                       disable=not progress, leave=False))
        source.seek(start)
        sampler.resume(start, source.fps)
        frames_of = sampled(source, sampler, bar.update, stop)
        frames_of = stack.enter_context(contextlib.closing(prefetched(frames_of) if cores > 1 else frames_of))
        for analysis in map(analyzer.process, frames_of):
            calibrations.after(analysis.t, analyzer)
            snapshot = records.build(analysis)
            if recorder is not None:
                recorder.on_snapshot(snapshot)
            frames.append(frame_record(snapshot))
            summary.add(frames[-1])
        info = {"path": str(path), "fps": round(source.fps, 3), "width": source.size[0], "height": source.size[1],
                "frames": source.frames_read, "analysed": len(frames), "sample": sample}
        calibrations.finish()
    elapsed = time.monotonic() - started
    log.info("analysed %d of %d frames in %.1f s (%.1f frames/s)", len(frames), info["frames"], elapsed,
             len(frames) / max(elapsed, 1e-9))
    return {"schema_version": SCHEMA_VERSION, "generator": f"vcam {vcam.__version__}", "source": info,
            "frames": frames, "tracks": summary.records()}


def _gallery(gallery: str | Path | None, features: Switches) -> Callable[[], dict[str, np.ndarray]]:
    """The identity stage's gallery. With identity on it is read now, so a gallery that cannot be read is its own
    GalleryError before any frame (in a stage it would be a stage failure); with it off, never."""
    if "identity" not in features:
        return functools.partial(read_gallery, gallery)
    people = read_gallery(gallery)
    return lambda: people


def read_gallery(gallery: str | Path | None) -> dict[str, np.ndarray]:
    """The enrolled people of ``gallery`` (default: the user's), ``{name: (K, 128) float32 descriptors}``.

    Raises GalleryError when it cannot be read.
    """
    from vcam.gallery import Gallery

    with Gallery(gallery) as g:
        return g.people()


class Sampler:
    """Which frames of a long recording to analyse: ``all``, ``every:N``, ``RATEhz`` or ``scene``.

    ``RATEhz`` (e.g. ``10hz``) analyses the first frame at or after each ``1/RATE`` s of media time,
    so a 30 fps file at ``10hz`` analyses every third frame and a 25 fps one frames 0, 3, 5, 8, ...;
    a rate at or above the file's frame rate analyses every frame. Tracking, attention and
    engagement all run on media time, so a lower rate trades how quickly a look away is seen
    for speed.

    ``scene`` analyses a frame when it differs from the last analysed one (mean
    absolute difference of 64×36 grey thumbnails above ``threshold`` grey levels,
    0..255) or when ``max_gap`` seconds have passed, as the seed studies did with
    scene-change keyframes. A higher threshold skips more and may miss short
    looks away; ``max_gap`` bounds how stale the tracks can get.
    """

    def __init__(self, spec: str = "all", threshold: float = 6.0, max_gap: float = 2.0) -> None:
        self.spec, self.threshold, self.max_gap = spec, threshold, max_gap
        self.every, self.rate = parse_sample(spec)
        self._thumb: np.ndarray | None = None
        self._last_t = -np.inf
        self._slot = 0  # with a rate: the index of the next 1/rate-second slot to analyse a frame in

    @property
    def blind(self) -> bool:
        """Whether the choice needs only a frame's index and time (all but ``scene``): then :meth:`wants_at`
        decides before the frame is converted, and a frame not wanted is skipped (:meth:`VideoSource.skip`)."""
        return self.spec != "scene"

    def resume(self, index: int, fps: float) -> None:
        """Start at frame ``index`` of a ``fps`` file as a run from frame 0 would be there (a rate remembers its
        slot: the slot of frame ``index - 1`` is taken). Raises ConfigError for ``scene`` past frame 0."""
        if index > 0 and not self.blind:
            raise ConfigError("--sample scene cannot start in the middle of a recording: it compares each frame with "
                              "the last analysed one; analyse it whole (no --segment)")
        if index > 0 and self.rate is not None:
            self._slot = 0
            self._on_time((index - 1) / fps)

    def wants(self, frame: Frame) -> bool:
        """Whether to analyse ``frame``."""
        return self._changed(frame) if self.spec == "scene" else self.wants_at(frame.index, frame.t)

    def wants_at(self, index: int, t: float) -> bool:
        """Whether to analyse the frame ``index`` at media time ``t`` (seconds); only for a :attr:`blind` spec.
        Ask once per frame, in order: a rate remembers its last slot."""
        if self.rate is not None:
            return self._on_time(t)
        return index % self.every == 0

    def _on_time(self, t: float) -> bool:
        """The first frame at or after the next slot's start; 1 µs of slack for times like 3/30 s."""
        if t * self.rate + 1e-6 < self._slot:
            return False
        self._slot = int(t * self.rate + 1e-6) + 1
        return True

    def _changed(self, frame: Frame) -> bool:
        thumb = cv2.cvtColor(cv2.resize(frame.image, (64, 36), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        changed = self._thumb is None or float(cv2.absdiff(thumb, self._thumb).mean()) > self.threshold
        if changed or frame.t - self._last_t >= self.max_gap:
            self._thumb, self._last_t = thumb, frame.t
            return True
        return False


MAX_SAMPLE_HZ = 1000.0
"""The highest ``RATEhz`` accepted: far above any recording's frame rate (above it, every frame is analysed anyway)."""


def parse_sample(spec: str) -> tuple[int, float | None]:
    """``(every, rate)`` of a ``--sample`` spec: ``every`` frames for ``all``/``scene``/``every:N`` (rate None),
    ``(1, RATE)`` in frames per second of media time for ``RATEhz``.

    Raises ConfigError naming the spec and the forms allowed.
    """
    if spec in ("all", "scene"):
        return 1, None
    if spec.lower().endswith("hz"):
        return 1, _rate(spec)
    kind, _, n = spec.partition(":")
    if kind != "every" or not (n.isascii() and n.isdigit()) or int(n) < 1:  # isdigit alone takes "²"
        raise ConfigError(f"bad --sample {spec!r}: {SAMPLE_FORMS}")
    return int(n), None


SAMPLE_FORMS = "expected all, scene, every:N with N >= 1 (e.g. every:5) or RATEhz with 0 < RATE <= 1000 (e.g. 10hz)"


def _rate(spec: str) -> float:
    text = spec[:-2]
    try:
        rate = float(text) if text.isascii() and text.replace(".", "", 1).isdigit() else math.nan
    except ValueError:
        rate = math.nan
    if not 0 < rate <= MAX_SAMPLE_HZ:  # NaN fails both
        raise ConfigError(f"bad --sample {spec!r}: {SAMPLE_FORMS}")
    return rate


def sampled(source: VideoSource, sampler: Sampler, passed: Callable[[int], object] = lambda n: None,
            stop: int | None = None) -> Iterator[Frame]:
    """The frames of ``source`` that ``sampler`` wants, in order, up to frame ``stop`` (excluded; None: the end).
    With a :attr:`Sampler.blind` spec the others are skipped before they are converted (:meth:`VideoSource.skip`).
    ``passed(1)`` is called for every frame of the file, analysed or not (a progress bar's ``update``)."""
    while stop is None or source.upcoming()[0] < stop:
        if sampler.blind and not sampler.wants_at(*source.upcoming()):
            if not source.skip():
                return
            passed(1)
            continue
        frame = source.read()
        if frame is None:
            return
        passed(1)
        if sampler.blind or sampler.wants(frame):
            yield frame


def write_json(document: dict, path: str | Path) -> None:
    """Write ``document`` to ``path`` atomically: a crash leaves the old file or the new one, never half."""
    try:
        write_text_atomic(path, json.dumps(document, separators=(",", ":")), advice="choose a file path for --json")
    except OSError as err:
        raise VcamError(f"cannot write {path}: {err.strerror}; choose a writable location with --json") from err
