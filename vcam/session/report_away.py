"""Why people looked away, in the session report: per person and for the room, their away time split by reason.

Each timeline row is one person for one slot (``every`` seconds, 1 by default). A row is *away* when its
``looking`` is 0; its ``away_reason`` (since timeline 1.4) says why, in the gaze stage's words
(:mod:`vcam.pipeline.gaze`): eyes closed, looking down, up or aside, head turned, or no gaze (no eyes
could be read). Sessions from before 1.4 have no reasons: their away time is "not recorded".
Since 1.5 a row's ``gaze_calibrated`` says the presenter calibrated that person's gaze on request (the
tray's Gaze calibration); the section says how many people were and when it first happened.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from vcam.session.report_parts import clock, img, plot_label, png, section

REASONS = ("eyes closed", "looking down", "looking up", "looking aside", "head turned", "no gaze", "other",
           "not recorded")
"""The reasons the report tells apart, in its order; any other word the stage may give later is "other"."""
_ALIASES = {"no gaze yet": "no gaze", "": "not recorded"}
_COLOURS = dict(zip(REASONS, ("#7f3c8d", "#3969ac", "#11a579", "#f2b701", "#e73f74", "#a5aa99", "#80ba5a",
                              "#d9d9d9")))


@dataclass(frozen=True)
class Away:
    """One row of the section: who, the slots with a gaze read, and of them the slots away, per reason.

    Attributes:
        label: the person, "others (N people)" or "room".
        read: slots with ``looking`` known (0 or 1).
        away: slots of those with ``looking`` 0.
        by_reason: slots away per reason of :data:`REASONS` (every reason present, 0 when none).
    """

    label: str
    read: int
    away: int
    by_reason: dict[str, int]

    def away_pct(self) -> float:
        """Percent of the slots with a gaze read spent away; 0 with none read."""
        return 100.0 * self.away / self.read if self.read else 0.0

    def reason_pct(self, reason: str) -> float:
        """Percent of the away slots spent away for ``reason``; 0 when never away."""
        return 100.0 * self.by_reason[reason] / self.away if self.away else 0.0


def reason_of(word: object) -> str:
    """The report's reason for a timeline's ``away_reason`` cell: itself when known, else an alias or "other"."""
    word = word if isinstance(word, str) else ""
    return word if word in REASONS else _ALIASES.get(word, "other")


def tally(label: str, looking: np.ndarray, reasons: np.ndarray) -> Away:
    """The :class:`Away` of ``(R,)`` float ``looking`` (1, 0 or NaN) and ``(R,)`` str ``reasons`` of the same rows."""
    read = np.isfinite(looking)
    away = read & (looking == 0)
    words = [reason_of(w) for w in reasons[away].tolist()]
    return Away(label, int(read.sum()), int(away.sum()), {r: words.count(r) for r in REASONS})


def calibrations(timeline: dict[str, np.ndarray]) -> tuple[int, float] | None:
    """``(people, first t s)`` whose gaze was calibrated on request in a timeline, or None (never, or before 1.5)."""
    calibrated = np.asarray(timeline.get("gaze_calibrated", np.zeros(0)), np.float64) == 1
    if not calibrated.any():
        return None
    return len(set(timeline["track_id"][calibrated].tolist())), float(timeline["t"][calibrated].min())


def away_section(rows: list[Away], every: float, gaze_on: bool, calibrated: tuple[int, float] | None = None) -> str:
    """The report's "Why people looked away" section of ``rows`` (the room first), slots of ``every`` seconds;
    ``calibrated`` (:func:`calibrations`) adds a line on the gaze calibrations asked for."""
    heading = "Why people looked away"
    if not gaze_on:
        return section("away", heading, '<p class="note">Gaze was off for this session, so nobody was judged '
                                        "looking or away.</p>")
    said = "" if calibrated is None else (
        f'<p class="note">Gaze was calibrated on request for {calibrated[0]} '
        f'{"person" if calibrated[0] == 1 else "people"} (first at {clock(calibrated[1])}): from then on their '
        "looking was judged against the screen they were looking at when the presenter asked.</p>")
    if not any(a.away for a in rows):
        return section("away", heading, '<p class="note">Nobody was seen looking away in this session.</p>' + said)
    shown = [r for r in REASONS if rows[0].by_reason[r]]
    body = img(png(lambda ax: _draw(ax, rows, shown), 1.8 + 0.35 * len(rows)), "away time by reason") + (
        '<p class="note">Each bar is one person\'s time away from the screen, split by why (the room: everyone '
        "together). The table gives the same shares, and how much of their time each person was away.</p>"
        + _table(rows, shown, every)) + said
    return section("away", heading, body)


def _draw(ax, rows: list[Away], shown: list[str]) -> None:
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    for reason in shown:
        widths = np.array([a.reason_pct(reason) for a in rows])
        ax.barh(y, widths, left=left, color=_COLOURS[reason], label=reason)
        left += widths
    ax.set_yticks(y, [plot_label(f"{a.label} (away {a.away_pct():.0f}%)") for a in rows])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the time away from the screen")
    ax.legend(fontsize="small", ncols=min(len(shown), 6), loc="upper center", bbox_to_anchor=(0.5, -0.18))


def _table(rows: list[Away], shown: list[str], every: float) -> str:
    head = "".join(f"<th>{html.escape(r)}</th>" for r in shown)
    body = "".join(
        f"<tr><th>{html.escape(a.label)}</th><td>{a.away_pct():.0f}% ({clock(a.away * every)})</td>"
        + "".join(f"<td>{a.reason_pct(r):.0f}%</td>" for r in shown) + "</tr>" for a in rows)
    return (f'<table class="away"><tr><th>who</th><th>away (of their time)</th>{head}</tr>{body}</table>'
            '<p class="note">Reasons in % of each row\'s time away.</p>')
