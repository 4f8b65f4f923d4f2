"""One worker of ``vcam batch``: analyses whole recordings, one at a time, and writes their folders.

``vcam.batch`` makes :class:`Worker` a Ray actor (``ray.remote``): one process that imports the
analysis stack (MediaPipe, LiteRT, onnxruntime: ~3.4 s here) once and then analyses job after job.
A worker has one CPU and keeps to one core: OpenCV with one thread, FFmpeg decoding with one, the
landmarks on the analysis thread (``analyze(cores=1)``), onnxruntime and LiteRT at one thread each
(their settings in the stages), OpenMP at one (``OMP_NUM_THREADS`` in ``vcam.batch.WORKER_ENV``).
So N workers on N cores go N times as fast as one.
Each recording gets a fresh :class:`~vcam.pipeline.Analyzer` (~0.14 s), so its tracks and ids are
exactly those ``vcam analyze`` gives the same file.

A recording's outputs are written into a staging folder beside its final one
(``OUT/.NAME.partial-XXXX``) and moved into place whole (:func:`publish`): an interrupted batch
leaves the previous complete folder or the new complete one, never half of one. The worker
writes only there, so on a cluster ``--out`` (like the recordings) must be on storage every
node sees.

This module imports no Ray: it runs the same in a test without it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from vcam.analyze import analyze, write_json
from vcam.errors import UnsafePathError, VcamError
from vcam.features import Switches
from vcam.files import describe

log = logging.getLogger(__name__)

ANALYSIS_FILE = "analysis.json"
"""The analyze JSON of one recording, inside its folder (what ``vcam analyze --json`` writes)."""
TIMELINE_FOLDER = "timeline"
"""The session timeline of one recording, inside its folder (``vcam analyze --timeline``)."""
REPORT_FILE = "report.html"
"""The session report of one recording, inside its folder (``vcam analyze --report``)."""


@dataclass(frozen=True)
class Job:
    """One recording to analyse.

    Attributes:
        path: the recording (absolute; on a cluster, a path every node sees).
        name: its folder's name under ``out``.
        out: the batch's ``--out`` folder.
        features: the analysis features on, e.g. ``("gaze", "names")``.
        sample: the ``--sample`` spec (``10hz``, ``every:3``, ...).
        timeline: also record the session timeline into ``NAME/timeline/``.
        report: also write ``NAME/report.html`` (needs ``timeline``).
        segment: ``(start, keep, stop)`` frames of a :class:`vcam.segments.Segment` to analyse alone: the
            worker writes nothing and returns the document in its Outcome (the driver joins the parts);
            None: the whole recording, written into ``out/name``.
    """

    path: str
    name: str
    out: str
    features: tuple[str, ...]
    sample: str
    timeline: bool = False
    report: bool = False
    segment: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one :class:`Job`: the index entry's results.

    Attributes:
        name: the job's name.
        status: ``done`` or ``failed``.
        error: vcam's one-line error when failed, else None.
        frames: frames the file holds (decoded); ``analysed``: how many of them were analysed.
        duration_s: the recording's length in seconds (frames / fps).
        people: the most faces seen in one analysed frame.
        tracks: the tracks the analysis followed.
        attention, engagement: the mean over every analysed face, 0..1; None with none (or gaze off).
        wall_s: seconds the worker spent on it, start-up of the analyzer included.
        worker: ``host:pid`` of the worker process (of each, for a recording analysed in segments).
        cpu_s: CPU seconds the worker process spent on it (all its threads); below ``wall_s`` when the
            machine's cores are shared with other work.
        document: a segment's analyze document, for the driver to join; None otherwise (never in the index).
    """

    name: str
    status: str
    error: str | None = None
    frames: int = 0
    analysed: int = 0
    duration_s: float = 0.0
    people: int = 0
    tracks: int = 0
    attention: float | None = None
    engagement: float | None = None
    wall_s: float = 0.0
    worker: str = ""
    cpu_s: float = 0.0
    document: dict | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict, without ``document``."""
        return {k: v for k, v in asdict(self).items() if k != "document"}


def whoami() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Analyses one recording per :meth:`analyse` call (a Ray actor in ``vcam batch``).

    Args:
        people: the enrolled people for identity, ``{name: (K, 128) float32}``, read once by the
            driver from ``--gallery`` and shared read-only through Ray's object store; None when
            identity is off.
    """

    def __init__(self, people: Mapping[str, np.ndarray] | None = None) -> None:
        import cv2

        cv2.setNumThreads(1)  # this process has one core (see the module docstring)
        self.people = people
        log.info("batch worker %s ready", whoami())

    def analyse(self, job: Job) -> Outcome:
        """Analyse ``job`` and publish its folder. A recording vcam cannot read is a ``failed`` Outcome with
        vcam's own message; anything else (a bug) raises, and the driver reports it."""
        cpu = time.process_time()
        outcome = self._analyse(job, time.monotonic())
        return replace(outcome, cpu_s=round(time.process_time() - cpu, 3))

    def _analyse(self, job: Job, started: float) -> Outcome:
        try:
            if job.segment is not None:
                return self._segment(job, started)
            document = analyse_into(job, self.people)
        except VcamError as err:
            log.info("batch: %s failed: %s", job.name, err)
            return Outcome(job.name, "failed", str(err), wall_s=round(time.monotonic() - started, 3),
                           worker=whoami())
        return summarise(job.name, document, time.monotonic() - started)

    def _segment(self, job: Job, started: float) -> Outcome:
        """Analyse one segment of ``job.path`` and return its document, writing nothing."""
        start, keep, stop = job.segment
        document = analyze(job.path, progress=False, features=Switches(job.features), sample=job.sample,
                           people=self.people, cores=1, start=start, stop=stop)
        fps = document["source"]["fps"] or 30.0
        kept = sum(f["index"] >= keep for f in document["frames"])
        return Outcome(job.name, "done", None, stop - keep, kept, round((stop - keep) / fps, 3),
                       wall_s=round(time.monotonic() - started, 3), worker=whoami(), document=document)

    def ping(self) -> str:
        """``host:pid`` of the worker (tests find and kill it by this)."""
        return whoami()


def analyse_into(job: Job, people: Mapping[str, np.ndarray] | None) -> dict:
    """Analyse ``job.path`` into a staging folder, then :func:`publish` it as ``out/name``; return the document.

    Raises what :func:`vcam.analyze.analyze` raises; the staging folder is removed on any failure.
    """
    from vcam.session import write_report

    def make(stage: Path) -> dict:
        timeline = stage / TIMELINE_FOLDER if job.timeline else None
        document = analyze(job.path, progress=False, features=Switches(job.features), timeline=timeline,
                           sample=job.sample, people=people, cores=1)
        write_json(document, stage / ANALYSIS_FILE)
        if job.report:
            write_report(timeline, stage / REPORT_FILE)
        return document

    return staged(Path(job.out), job.name, make)


def staged(out: Path, name: str, make: Callable[[Path], dict]) -> dict:
    """``make(stage)`` writes a recording's outputs into a new staging folder, then :func:`publish` puts it at
    ``out/name``; return what ``make`` returned. The staging folder is removed on any failure."""
    stage = out / f".{name}.partial-{secrets.token_hex(4)}"
    stage.mkdir(mode=0o700)
    try:
        document = make(stage)
        publish(stage, out / name)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return document


def publish(stage: Path, final: Path) -> None:
    """Put the complete folder ``stage`` at ``final``, replacing a previous result whole.

    Two renames in one folder: the old result moves aside, the new one takes its name, and the old
    one is removed. ``final`` must be missing or a folder (a link or a file is refused with
    UnsafePathError).
    """
    found = describe(final)
    if found not in ("nothing", "a folder"):
        raise UnsafePathError(f"refusing to replace {final}: it is {found}, and vcam batch replaces only its own "
                              "result folders; move it away and run again")
    old = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
    if found == "a folder":
        os.replace(final, old)
    os.replace(stage, final)
    shutil.rmtree(old, ignore_errors=True)


def summarise(name: str, document: dict, wall_s: float) -> Outcome:
    """The ``done`` Outcome of an analyze ``document`` (see :class:`Outcome` for each number)."""
    source, frames = document["source"], document["frames"]
    faces = [face for frame in frames for face in frame["faces"]]
    return Outcome(name, "done", None, source["frames"], source["analysed"],
                   round(source["frames"] / source["fps"], 3) if source["fps"] else 0.0,
                   max((len(frame["faces"]) for frame in frames), default=0), len(document["tracks"]),
                   _mean(face.get("attention") for face in faces), _mean(face.get("engagement") for face in faces),
                   round(wall_s, 3), whoami())


def _mean(values) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known else None
