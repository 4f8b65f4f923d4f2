"""What the daemon does when something fails, as pure code: the clock is passed in, nothing waits.

- :class:`Backoff`: when to try to reopen a lost source again (first after ``first`` seconds,
  doubling up to ``longest``).
- :class:`StageFailures`: a stage that raised: count it, log each distinct failure once, and
  switch its feature off when its model is broken (a VcamError) or it failed ``give_up_after``
  frames in a row; say what is wrong for ``shown_for`` seconds after the last failure.

Both are unit-tested with a fake clock (tests/test_policy.py); the capture and analysis threads
use them with ``time.monotonic()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcam.errors import VcamError

RECONNECT_FIRST_S = 0.5
"""Seconds before the first attempt to reopen a lost source; doubles after each failure."""
RECONNECT_MAX_S = 10.0
"""Longest wait between attempts. Shorter finds a replugged camera sooner and costs an open attempt (a few
ms to ~1 s of a blocked capture thread, during which the placard pauses) more often."""
GIVE_UP_AFTER = 30
"""Frames in a row an optional stage may fail before it is switched off (about 1-3 s of analysis)."""
PROBLEM_SHOWN_S = 10.0
"""Seconds a stage failure keeps the daemon in the "problem" state after the last one."""


class Backoff:
    """Retry times for one lost source: ``first`` s after the loss, then doubling to ``longest``.

    Args:
        now: the time of the loss, seconds (monotonic).
        first, longest: the first and the longest wait, seconds.
    """

    def __init__(self, now: float, first: float = RECONNECT_FIRST_S, longest: float = RECONNECT_MAX_S) -> None:
        self.delay, self.longest = first, longest
        self.retry_at = now + first

    def due(self, now: float) -> bool:
        """Whether it is time to try again."""
        return now >= self.retry_at

    def failed(self, now: float) -> None:
        """An attempt at ``now`` failed: wait twice as long (at most ``longest``)."""
        self.delay = min(2 * self.delay, self.longest)
        self.retry_at = now + self.delay

    def remaining(self, now: float) -> float:
        """Seconds until the next attempt (0 when due)."""
        return max(0.0, self.retry_at - now)


@dataclass(frozen=True)
class Verdict:
    """What to do about one failed frame.

    Attributes:
        log: the failure was not seen before: log it (with its traceback) once.
        switch_off: the feature to switch off now (its stage is broken), or None.
    """

    log: bool
    switch_off: str | None


class StageFailures:
    """The stage-failure policy of one run.

    Args:
        give_up_after: failures in a row after which an optional stage's feature is switched off.
        shown_for: seconds the last failure stays the daemon's problem.
        remembered: distinct failures remembered for logging once (a bound on memory).
    """

    def __init__(self, give_up_after: int = GIVE_UP_AFTER, shown_for: float = PROBLEM_SHOWN_S,
                 remembered: int = 100) -> None:
        self.give_up_after, self.shown_for, self.remembered = give_up_after, shown_for, remembered
        self.notice: str | None = None
        """Why a feature was switched off, until a feature is switched again."""
        self._in_a_row: dict[str, int] = {}
        self._seen: set[tuple[str, str]] = set()
        self._last: tuple[float, str] | None = None

    def failed(self, stage: str, feature: str | None, cause: BaseException, now: float) -> Verdict:
        """Record that ``stage`` (switched by ``feature``, None if it always runs) raised ``cause`` at ``now``."""
        text = f"{type(cause).__name__}: {cause}"
        self._last = (now, f"stage {stage} failed: {text}")
        key = (stage, text)
        first = key not in self._seen and len(self._seen) < self.remembered
        if first:
            self._seen.add(key)
        count = self._in_a_row[stage] = self._in_a_row.get(stage, 0) + 1
        broken = isinstance(cause, VcamError) or count >= self.give_up_after
        if feature is None or not broken:
            return Verdict(first, None)
        self.notice = f"{feature} switched off: {cause}"
        return Verdict(first, feature)

    def succeeded(self) -> None:
        """A frame went through every stage: the failures in a row end."""
        self._in_a_row.clear()

    def switched(self) -> None:
        """A feature was switched by hand: what was said about a switched-off one no longer holds."""
        self.notice = None

    def problem(self, now: float) -> str | None:
        """One line on what is failing, or None: the feature switched off, else a failure of the last ``shown_for`` s."""
        if self.notice is not None:
            return self.notice
        if self._last is not None and now - self._last[0] < self.shown_for:
            return f"analysis is failing ({self._last[1]}); the video goes on unannotated"
        return None
