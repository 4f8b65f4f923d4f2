"""``vcam batch``: analyse many recordings on Ray, on this machine or on a cluster.

::

    inputs ──find_recordings──▶ recordings ──plan──▶ jobs (not done yet with these settings)
                                                      │  Ray actors (vcam.batch_worker.Worker), one per core
                                                      ▼
                              OUT/NAME/analysis.json (+ timeline/, report.html)   ── written by the worker
                              OUT/index.json                                      ── after every recording
                              OUT/index.html  (vcam.batch_page: the recordings compared) ── at the end

By default a local Ray instance with ``--workers`` CPUs (this machine's cores) is started and
stopped; ``--address HOST:PORT`` (or ``RAY_ADDRESS``) joins a running cluster instead. Each worker is
an actor that imports the analysis stack once and analyses recording after recording; the gallery
is read once here and shared with them read-only through Ray's object store.

**Resume.** A recording is identified by the sha256 of its content and the sha256 of the settings
(:func:`settings_of`): run again, and every recording whose index entry is ``done`` with the same two
hashes (and whose analysis file is there) is skipped.

**Faults.** A worker process that dies is restarted by Ray and its recording retried
(``max_restarts``, ``max_task_retries``); a recording vcam cannot read is ``failed`` with vcam's own
message and the others go on. The index is replaced atomically after each recording.

Ray is imported only in :mod:`vcam.batch_ray`'s functions, so ``vcam run`` never pays for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import vcam
from vcam.analyze import read_gallery, write_json
from vcam.batch_page import write_page
from vcam.batch_progress import Progress, WorkerRate
from vcam.batch_ray import RaySession, dispatch, make_actors
from vcam.batch_worker import ANALYSIS_FILE, REPORT_FILE, TIMELINE_FOLDER, Job, Outcome, staged, summarise
from vcam.errors import ConfigError, VcamError
from vcam.files import sha256_file, write_text_atomic
from vcam.segments import Segment, join, plan

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv"})
"""What a folder given as input is searched for (case-insensitive); a file given by name is taken whatever its suffix."""
INDEX_FILE = "index.json"
INDEX_VERSION = "1.0"
"""The version of ``index.json``'s shape; fields are added, never renamed."""
SEGMENT_S = 300.0
"""``--segment``'s default: a recording over 1.5 × this many seconds is cut into segments this long, analysed in
parallel. Shorter spreads one recording over more workers, and adds :data:`OVERLAP_S` of work per segment."""
OVERLAP_S = 2.0
"""Seconds each segment also analyses before its start, to match its tracks with the segment before's."""


# -- what to analyse ------------------------------------------------------------------------------------------------
def find_recordings(inputs: Sequence[str | Path]) -> list[Path]:
    """The recordings of ``inputs``, absolute, in order and each once: a file as given, a folder searched
    (recursively, sorted) for files with a :data:`VIDEO_SUFFIXES` suffix.

    Raises ConfigError for an input that does not exist, or when none of them holds a video.
    """
    found: dict[Path, None] = {}
    for item in map(Path, inputs):
        if item.is_dir():
            found.update(dict.fromkeys(sorted(p.resolve() for p in item.rglob("*")
                                              if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())))
        elif item.is_file():
            found[item.resolve()] = None
        else:
            raise ConfigError(f"batch input not found: {item}; give video files or folders that hold them")
    if not found:
        raise ConfigError(f"no video files in {', '.join(map(str, inputs))}: looked for "
                          f"{', '.join(sorted(VIDEO_SUFFIXES))}")
    return list(found)


def folder_names(paths: Sequence[Path]) -> dict[Path, str]:
    """Each recording's folder name under ``--out``: its file name without the suffix, or, when two share
    that, the name plus 8 hex digits of its path's hash (the same name for the same path in every run)."""
    stems = [p.stem or p.name for p in paths]
    return {p: stem if stems.count(stem) == 1 else f"{stem}-{hashlib.sha256(str(p).encode()).hexdigest()[:8]}"
            for p, stem in zip(paths, stems)}


def people_hash(people: Mapping[str, np.ndarray] | None) -> str | None:
    """The sha256 of the enrolled people (names and descriptors, in name order), None without identity."""
    if people is None:
        return None
    digest = hashlib.sha256()
    for name in sorted(people):
        digest.update(name.encode("utf-8") + b"\0" + np.ascontiguousarray(people[name], np.float32).tobytes())
    return digest.hexdigest()


def settings_of(features: Iterable[str], sample: str, *, timeline: bool, report: bool,
                people: Mapping[str, np.ndarray] | None, segment: float = 0.0) -> dict:
    """The settings a result depends on, as stored in the index: the features on, the sampling, the
    outputs asked for, the segment length, the gallery's hash (with identity) and vcam's version (a new one
    may analyse differently)."""
    return {"features": sorted(features), "sample": sample, "timeline": timeline, "report": report,
            "segment": segment, "gallery": people_hash(people), "vcam": vcam.__version__}


def settings_hash(settings: Mapping) -> str:
    """The sha256 of ``settings`` written as canonical JSON."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# -- the index ------------------------------------------------------------------------------------------------------
@dataclass
class Index:
    """``OUT/index.json``: one entry per recording folder under ``OUT``, by name.

    Each entry: ``name``, ``path``, ``size`` (bytes), ``sha256``, ``settings``, ``settings_hash``,
    ``status`` (``done`` / ``failed``), ``error``, ``frames``, ``analysed``, ``duration_s``, ``people``,
    ``tracks``, ``attention``, ``engagement``, ``wall_s``, ``worker``, ``cpu_s`` and ``outputs`` (paths relative
    to OUT).
    """

    out: Path
    entries: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> Index:
        """The index in ``out``, or an empty one when there is none. A damaged index is set aside, not trusted."""
        path = out / INDEX_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return cls(out, {e["name"]: e for e in document["recordings"]})
        except FileNotFoundError:
            return cls(out)
        except (ValueError, KeyError, TypeError) as err:
            log.warning("%s cannot be read (%s): every recording is analysed again", path, err)
            return cls(out)

    def is_done(self, name: str, sha256: str, settings_digest: str) -> bool:
        """Whether ``name`` was analysed from this content with these settings, and its analysis is still there."""
        entry = self.entries.get(name)
        return (entry is not None and entry["status"] == "done" and entry["sha256"] == sha256
                and entry["settings_hash"] == settings_digest and (self.out / name / ANALYSIS_FILE).is_file())

    def record(self, entry: dict) -> None:
        """Add or replace ``entry`` and write the index (atomically)."""
        self.entries[entry["name"]] = entry
        document = {"version": INDEX_VERSION, "generator": f"vcam {vcam.__version__}",
                    "recordings": [self.entries[name] for name in sorted(self.entries)]}
        write_text_atomic(self.out / INDEX_FILE, json.dumps(document, indent=1, ensure_ascii=False),
                          advice="choose another folder with --out")


@dataclass(frozen=True)
class Recording:
    """One input file: where it is, its folder name, size in bytes, content hash, and the frames and frame rate
    its header states (0 frames: unknown, or not a video)."""

    path: Path
    name: str
    size: int
    sha256: str
    frames: int = 0
    fps: float = 30.0

    def entry(self, settings: Mapping, outcome: Outcome) -> dict:
        """The index entry of this recording analysed with ``settings`` into ``outcome``."""
        outputs = {"analysis": f"{self.name}/{ANALYSIS_FILE}"}
        if settings["timeline"]:
            outputs["timeline"] = f"{self.name}/{TIMELINE_FOLDER}"
        if settings["report"]:
            outputs["report"] = f"{self.name}/{REPORT_FILE}"
        return {"name": self.name, "path": str(self.path), "size": self.size, "sha256": self.sha256,
                "settings": dict(settings), "settings_hash": settings_hash(settings), **outcome.as_dict(),
                "outputs": outputs if outcome.status == "done" else {}}


def recordings_of(inputs: Sequence[str | Path]) -> list[Recording]:
    """Every input recording with its folder name, size and content hash (see :func:`find_recordings`)."""
    paths = find_recordings(inputs)
    names = folder_names(paths)
    return [Recording(p, names[p], p.stat().st_size, sha256_file(p), *frames_known(p)) for p in paths]


def frames_known(path: Path) -> tuple[int, float]:
    """``(frames, fps)`` of the first video stream of ``path`` by its header, without decoding; ``(0, 30.0)``
    when it does not say or the file is no video (the worker reports why)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return int(stream.frames), float(stream.average_rate or 30.0)
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return 0, 30.0


# -- the run --------------------------------------------------------------------------------------------------------
@dataclass
class Summary:
    """What a batch did: names done now, skipped (done before), and failed with their errors; each worker's
    rate, and the seconds from Ray's start to the last recording (``seconds``; 0 when nothing ran)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerRate] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        """One line for the user, e.g. ``3 recordings: 1 done, 1 skipped (done before), 1 failed (x: why)``."""
        total = len(self.done) + len(self.skipped) + len(self.failed)
        text = f"{total} recordings: {len(self.done)} done, {len(self.skipped)} skipped (done before)"
        if self.failed:
            first, why = next(iter(self.failed.items()))
            more = f" and {len(self.failed) - 1} more" if len(self.failed) > 1 else ""
            text += f", {len(self.failed)} failed ({first}: {why}{more})"
        return text


def run_batch(inputs: Sequence[str | Path], out: str | Path, *, features: Iterable[str], sample: str = "10hz",
              gallery: str | Path | None = None, timeline: bool = False, report: bool = False,
              workers: int | None = None, address: str | None = None, progress: bool = True,
              segment: float = SEGMENT_S) -> Summary:
    """Analyse every recording of ``inputs`` into ``out`` on Ray; return what was done (see the module docstring).

    Args:
        features: the analysis features on (names of :data:`vcam.features.ANALYSIS`).
        sample: the ``--sample`` spec for every recording.
        gallery: the gallery for identity (default: the user's); read once, only with identity on.
        timeline, report: also write each recording's timeline folder and report.
        workers: how many worker actors (one CPU each); default: this machine's cores, or the cluster's CPUs.
        address: a running Ray cluster's ``HOST:PORT`` (default ``RAY_ADDRESS``; unset: a local instance).
        segment: seconds per segment of a long recording (see :func:`jobs_of`); 0: every recording whole.

    Raises ConfigError for bad inputs or settings, VcamError when Ray cannot start or be reached.
    """
    from vcam.analyze import parse_sample

    parse_sample(sample)
    if report and not timeline:
        raise ConfigError("--report needs --timeline: each recording's report is drawn from its timeline")
    if segment < 0:
        raise ConfigError(f"--segment must be 0 (never split) or more seconds, got {segment}")
    features = tuple(features)
    out = _out_folder(Path(out))
    people = read_gallery(gallery) if "identity" in features else None
    segment = 0.0 if timeline or sample == "scene" else float(segment)
    settings = settings_of(features, sample, timeline=timeline, report=report, people=people, segment=segment)
    index, summary = Index.load(out), Summary()
    todo = _plan(recordings_of(inputs), index, settings, summary)
    if todo:
        jobs = [j for r in todo for j in jobs_of(r, Job(str(r.path), r.name, str(out), features, sample, timeline,
                                                           report), segment)]
        _run(todo, jobs, index, settings, summary, people=people, workers=workers, address=address,
             progress=progress)
    write_page(out, index.entries)
    return summary


def _out_folder(out: Path) -> Path:
    """``out`` made (0700) and cleared of the staging folders an interrupted batch left."""
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise VcamError(f"cannot make the --out folder {out}: {err.strerror}; choose another folder") from err
    for stale in [*out.glob(".*.partial-*"), *out.glob(".*.old-*")]:
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    return out.resolve()


def _plan(recordings: list[Recording], index: Index, settings: Mapping, summary: Summary) -> list[Recording]:
    """The recordings not done yet with ``settings``; the others are counted as skipped."""
    digest = settings_hash(settings)
    todo = []
    for r in recordings:
        if index.is_done(r.name, r.sha256, digest):
            summary.skipped.append(r.name)
        else:
            todo.append(r)
    log.info("batch: %d recordings, %d to analyse, %d done before", len(recordings), len(todo), len(summary.skipped))
    return todo


def jobs_of(recording: Recording, whole: Job, segment: float) -> list[Job]:
    """The jobs of ``recording``: ``whole``, or when it is longer than 1.5 × ``segment`` seconds, one per
    :class:`vcam.segments.Segment` (:data:`OVERLAP_S` of overlap, at most half a segment), run in parallel
    and joined by the driver.

    Not with ``--timeline`` (a session timeline is recorded in one run) or ``--sample scene`` (it compares each
    frame with the last analysed one): ``run_batch`` passes ``segment`` 0 then.
    """
    parts = plan(recording.frames, recording.fps, segment, min(OVERLAP_S, segment / 2)) if segment else []
    if len(parts) < 2:
        return [whole]
    return [replace(whole, segment=(p.start, p.keep, p.stop)) for p in parts]


def _run(todo: list[Recording], jobs: list[Job], index: Index, settings: Mapping, summary: Summary, *,
         people: Mapping[str, np.ndarray] | None, workers: int | None, address: str | None, progress: bool) -> None:
    """Start (or join) Ray, analyse ``jobs`` on its actors and record each recording's outcome as it comes."""
    by_name = {r.name: r for r in todo}
    parts = Parts(jobs)
    with RaySession(workers, address) as cpus:
        bar = Progress(sum(r.frames for r in todo), len(todo), progress)
        try:
            for job, outcome in dispatch(make_actors(min(cpus, len(jobs)), people), jobs):
                bar.part(outcome)
                if (outcome := parts.add(job, outcome)) is not None:
                    index.record(by_name[outcome.name].entry(settings, outcome))
                    _count(outcome, summary)
                    bar.recording(outcome, by_name[outcome.name].frames)
        finally:
            summary.seconds = bar.close()
            summary.workers = list(bar.workers.values())


class Parts:
    """The segments of each recording analysed in parts, kept until its last one is back, then joined.

    Args:
        jobs: every job of the batch; those with a ``segment`` are parts.
    """

    def __init__(self, jobs: Sequence[Job]) -> None:
        self._expected = Counter(job.name for job in jobs if job.segment is not None)
        self._got: dict[str, list[tuple[Job, Outcome]]] = {}

    def add(self, job: Job, outcome: Outcome) -> Outcome | None:
        """The recording's outcome: ``outcome`` of a whole one; for a part, None until the last part is back, then
        the joined document written into ``OUT/NAME`` (or the first failure of its parts)."""
        if job.segment is None:
            return outcome
        got = self._got.setdefault(job.name, [])
        got.append((job, outcome))
        if len(got) < self._expected[job.name]:
            return None
        return _joined(job, sorted(got, key=lambda part: part[0].segment))


def _joined(job: Job, parts: list[tuple[Job, Outcome]]) -> Outcome:
    """The outcome of a recording from its ``parts`` (in order): their document joined and written, or the first
    part's failure."""
    wall = sum(o.wall_s for _, o in parts)
    worker = ",".join(sorted({o.worker for _, o in parts}))
    failed = next((o for _, o in parts if o.status != "done"), None)
    if failed is not None:
        return Outcome(job.name, "failed", failed.error, wall_s=round(wall, 3), worker=worker)
    document = join([(Segment(*j.segment), o.document) for j, o in parts])

    def write(stage: Path) -> dict:
        write_json(document, stage / ANALYSIS_FILE)
        return document

    try:
        staged(Path(job.out), job.name, write)
    except (VcamError, OSError) as err:  # the others go on; an OSError's text names the path
        return Outcome(job.name, "failed", str(err), wall_s=round(wall, 3), worker=worker)
    return replace(summarise(job.name, document, wall), worker=worker, cpu_s=round(sum(o.cpu_s for _, o in parts), 3))


def _count(outcome: Outcome, summary: Summary) -> None:
    if outcome.status == "done":
        summary.done.append(outcome.name)
        log.info("batch: %s done: %d frames, %d people, in %.1f s on %s", outcome.name, outcome.frames,
                 outcome.people, outcome.wall_s, outcome.worker)
    else:
        summary.failed[outcome.name] = outcome.error or "unknown error"
        log.warning("batch: %s failed: %s", outcome.name, outcome.error)
