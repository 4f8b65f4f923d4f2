"""``vcam batch``'s progress: one bar in frames for the whole batch, and each worker's rate at the end.

The bar counts frames of video done of the frames known (each recording's frame count, read from its
header before the batch starts), and shows the recordings done and failed beside it. Frames count when
a worker returns a recording or a segment of one; a failed recording counts its known frames as passed,
so the bar ends full.

The rates say what one core does here, the figure a cluster is sized from (README, "Batch"): seconds
of video per second of a worker's time (the real-time factor) and analysed frames per second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tqdm import tqdm

from vcam.batch_worker import Outcome

log = logging.getLogger(__name__)


@dataclass
class WorkerRate:
    """What one worker did in a batch.

    Attributes:
        worker: ``host:pid``.
        recordings: jobs it returned (whole recordings or segments; done or failed).
        video_s: seconds of video it analysed (done recordings only).
        analysed: frames it analysed.
        busy_s: seconds it spent on its recordings (each recording's ``wall_s``).
        cpu_s: CPU seconds it spent on them; ``cpu_s / busy_s`` is the share of a core it got (1 on an idle
            machine: a worker keeps to one core).
    """

    worker: str
    recordings: int = 0
    video_s: float = 0.0
    analysed: int = 0
    busy_s: float = 0.0
    cpu_s: float = 0.0

    def line(self) -> str:
        """One log line: what it did, its rate in wall time and in CPU time (see the attributes)."""
        busy = max(self.busy_s, 1e-9)
        return (f"{self.worker} analysed {self.recordings} recordings, {self.video_s:.1f} s of video in "
                f"{self.busy_s:.1f} s: {self.video_s / busy:.2f}× real time, {self.analysed / busy:.1f} frames/s; "
                f"{self.cpu_s:.1f} s of CPU ({self.cpu_s / busy:.2f} of a core), "
                f"{self.video_s / max(self.cpu_s, 1e-9):.2f}× real time per CPU second")


class Progress:
    """The bar of one batch (disabled: counts only) and the per-worker totals.

    Args:
        frames: frames known across the batch's recordings (0 when no header states a count).
        recordings: recordings to analyse.
        enabled: draw the bar (``--no-progress`` turns it off).
    """

    def __init__(self, frames: int, recordings: int, enabled: bool = True) -> None:
        self.recordings, self.done, self.failed = recordings, 0, 0
        self.workers: dict[str, WorkerRate] = {}
        self._counted: dict[str, int] = {}  # frames counted so far, by recording
        self.started = time.monotonic()
        self._bar = tqdm(total=frames or None, unit="frame", desc="batch", disable=not enabled)
        self._bar.set_postfix(recordings=f"0/{recordings}", failed=0)

    def part(self, outcome: Outcome) -> None:
        """Count one job's outcome (a whole recording, or one segment of one): its frames and its worker's time."""
        rate = self.workers.setdefault(outcome.worker or "unknown", WorkerRate(outcome.worker or "unknown"))
        rate.recordings += 1
        rate.busy_s += outcome.wall_s
        rate.cpu_s += outcome.cpu_s
        if outcome.status == "done":
            rate.video_s += outcome.duration_s
            rate.analysed += outcome.analysed
            self._advance(outcome.name, outcome.frames)

    def recording(self, outcome: Outcome, known_frames: int) -> None:
        """Count one recording as done or failed; a failed one's frames not counted yet (of ``known_frames``)
        pass, so the bar ends full."""
        self.done += outcome.status == "done"
        self.failed += outcome.status != "done"
        if outcome.status != "done":
            self._advance(outcome.name, max(known_frames - self._counted.get(outcome.name, 0), 0))
        self._bar.set_postfix(recordings=f"{self.done + self.failed}/{self.recordings}", failed=self.failed)

    @property
    def frames_done(self) -> int:
        """Frames counted so far (what the bar shows, drawn or not)."""
        return sum(self._counted.values())

    def _advance(self, name: str, frames: int) -> None:
        self._counted[name] = self._counted.get(name, 0) + frames
        self._bar.update(frames)

    def close(self) -> float:
        """Close the bar, log each worker's rate and the whole batch's; return the seconds since the start."""
        self._bar.close()
        elapsed = time.monotonic() - self.started
        for rate in sorted(self.workers.values(), key=lambda r: r.worker):
            log.info("batch: worker %s", rate.line())
        video = sum(r.video_s for r in self.workers.values())
        log.info("batch: %.1f s of video in %.1f s on %d workers: %.2f× real time", video, elapsed,
                 len(self.workers), video / max(elapsed, 1e-9))
        return elapsed
