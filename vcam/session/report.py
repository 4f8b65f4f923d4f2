"""The post-session report: one self-contained HTML file with plots, made from a session folder.

Plots are PNGs drawn with matplotlib's Agg canvas (no pyplot, no global state) and embedded as
base64 ``data:`` URIs (:mod:`vcam.session.report_parts`), so the file opens anywhere, offline, and can be mailed
as one attachment.
Sections: engagement over time, emotion shares, attention per person, why people looked away
(:mod:`vcam.session.report_away`: the share of each one's and the room's away time by reason), and the moments the
room's attention fell (the same rule as the dashboard's ``attention_low`` alert:
:data:`vcam.records.LOW_ATTENTION_PCT` for :data:`vcam.records.LOW_FOR_S`). Attention is the
timeline's ``attention`` (see :mod:`vcam.records`). The report renders from a session cut short by a crash.
Its size does not grow with the people seen: the :data:`TOP_PEOPLE` present longest are drawn one by one, the
rest as one "others" line and row (:class:`Cast`); names are drawn as written (a ``$`` is not mathtext).
"""

from __future__ import annotations

import html
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from vcam.errors import SessionError, UnsafePathError
from vcam.files import write_text_atomic
from vcam.records import LOW_ATTENTION_PCT, LOW_FOR_S
from vcam.session.reader import Session, load_session
from vcam.session.report_away import away_section, calibrations, tally
from vcam.session.report_parts import _PAGE, PAGE_STYLE, clock, img, plot_label, png, section
from vcam.types import EMOTIONS

log = logging.getLogger(__name__)

TOP_PEOPLE = 20
"""People drawn one by one (those present the most seconds); everyone else is one "others" row or line.

A long session re-acquires faces many times, so it can hold thousands of track ids: the report's size,
time and memory grow with this cap, not with the session. Higher shows more people apart; each adds a
plot line, and 0.35 inch to the emotion and attention figures."""

_EMOTION_COLOURS = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
                    "sad": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#b0b0b0"}


def low_attention_moments(t: np.ndarray, attention_pct: np.ndarray, *, below: float = LOW_ATTENTION_PCT,
                          min_duration: float = LOW_FOR_S, every: float = 1.0) -> list[tuple[float, float, float]]:
    """Spans where the room's attention stayed under ``below`` percent for ``min_duration`` seconds or more.

    Args:
        t: ``(S,)`` seconds, ascending, one per recorded slot.
        attention_pct: ``(S,)`` the room's attention in percent; NaN (nobody there) ends a span.
        below: the threshold in percent; higher flags more, milder dips.
        min_duration: the shortest span reported, seconds; lower reports brief glances away too.
        every: the slot length in seconds; a gap over 1.5 slots (missing rows) ends a span.

    Returns ``(start, end, lowest_pct)`` per span, ``end`` being the end of its last slot.
    """
    spans, start, lowest, prev = [], None, math.inf, -math.inf
    for ti, pct in zip(np.asarray(t, float).tolist(), np.asarray(attention_pct, float).tolist()):
        low = pct < below  # False for NaN
        if start is not None and (not low or ti - prev > 1.5 * every):
            spans.append((start, prev + every, lowest))
            start = None
        if low and start is None:
            start, lowest = ti, math.inf
        if low:
            lowest = min(lowest, pct)
        prev = ti
    if start is not None:
        spans.append((start, prev + every, lowest))
    return [s for s in spans if s[1] - s[0] >= min_duration - 1e-9]


def write_report(session_folder: str | Path, out_html: str | Path, *, below: float = LOW_ATTENTION_PCT,
                 min_duration: float = LOW_FOR_S) -> Path:
    """Write the HTML report of ``session_folder`` to ``out_html`` atomically (mode 0600) and return its path.

    ``below`` and ``min_duration`` pick the low-attention moments (see :func:`low_attention_moments`).
    Raises SessionError when the session cannot be read or the report cannot be written, and an
    ImportError naming matplotlib when it is not installed.
    """
    session = load_session(session_folder)
    document = render(session, below=below, min_duration=min_duration)
    out = Path(out_html)
    try:
        write_text_atomic(out, document, advice="choose another path with --out")
    except UnsafePathError as err:
        raise SessionError(str(err)) from err
    except OSError as err:
        raise SessionError(f"cannot write the report to {out}: {err.strerror or err}; "
                           "choose a writable path with --out") from err
    log.info("wrote the report of %s to %s", session.folder, out)
    return out


def render(session: Session, *, below: float = LOW_ATTENTION_PCT, min_duration: float = LOW_FOR_S) -> str:
    """The report of ``session`` as one HTML string."""
    every = float(session.metadata.get("every", 1.0))
    moments = low_attention_moments(session.room["t"], session.room["attention_pct"], below=below,
                                    min_duration=min_duration, every=every)
    cast = Cast.of(session)
    sections = [_engagement_section(session, cast), _emotion_section(session, cast), _attention_section(session, cast),
                _away(session, cast, every), _moments_section(session, moments, below, min_duration)]
    return _PAGE.format(title=html.escape(f"vcam session report: {session.folder.name}"), summary=_summary(session),
                        sections="\n".join(sections), style=PAGE_STYLE)


@dataclass(frozen=True)
class Cast:
    """Who the report draws apart: the :data:`TOP_PEOPLE` present the most seconds, and the rest as "others".

    Attributes:
        top: track ids, most seconds present first (ties: the lower id first).
        others: ``(R,)`` bool over the timeline's rows: the rows of everyone not in ``top``.
        n_others: how many track ids that is.
    """

    top: list[int]
    others: np.ndarray
    n_others: int

    @classmethod
    def of(cls, session: Session, cap: int = TOP_PEOPLE) -> Cast:
        """The cast of ``session``, keeping at most ``cap`` people apart."""
        ids, rows = np.unique(session.timeline["track_id"], return_counts=True)
        order = np.lexsort((ids, -rows))
        top = ids[order[:cap]]
        return cls([int(t) for t in top], ~np.isin(session.timeline["track_id"], top), max(len(ids) - cap, 0))

    @property
    def others_label(self) -> str:
        """``"others (N people)"``."""
        return f"others ({self.n_others} {'person' if self.n_others == 1 else 'people'})"


def _summary(session: Session) -> str:
    meta = session.metadata
    people = len(session.track_ids)
    named = sorted({label for label in (_label(session, tid) for tid in session.track_ids) if not label.startswith("#")})
    more = f" and {len(named) - TOP_PEOPLE} more" if len(named) > TOP_PEOPLE else ""
    who = f" ({html.escape(', '.join(named[:TOP_PEOPLE]) + more)})" if named else ""
    items = [f"<li>Started: {html.escape(_when(meta.get('started')))}</li>",
             f"<li>Length: {clock(session.duration)}</li>",
             f"<li>People seen: {people}{who}</li>",
             f"<li>Features on: {html.escape(', '.join(session.features) or 'none recorded')}</li>", _meeting(session)]
    warn = ""
    if session.crashed:
        warn = ('<p class="warn">The recording stopped without closing (the app was killed or crashed); '
                "up to its last second may be missing.</p>")
    return f"<ul>{''.join(items)}</ul>{warn}"


def _meeting(session: Session) -> str:
    """A summary item for a session that watched a meeting gallery ('' for one that did not, or from before 1.3):
    its most tiles, and the most cameras off at once."""
    tiles, off = session.room["tiles"], session.room["camera_off"]
    if not np.isfinite(tiles).any():
        return ""
    most_off = int(np.nanmax(off)) if np.isfinite(off).any() else 0
    return f"<li>Meeting gallery: up to {int(np.nanmax(tiles))} tiles, up to {most_off} cameras off at once</li>"


def _when(iso: str | None) -> str:
    if not iso:
        return "unknown"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def _label(session: Session, track_id: int) -> str:
    """The participant name from the meeting tile, else the enrolled name, else ``#id``."""
    participant = session.name_of(track_id, "participant") if "names" in session.features else ""
    name = session.name_of(track_id) if "identity" in session.features else ""
    return participant or name or f"#{track_id}"


def _time_axis(ax, session: Session) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xlabel("time into the session (m:ss)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock(max(x, 0))))
    if len(session.room["t"]):
        ax.set_xlim(0, max(session.duration, 1.0))
    ax.grid(alpha=0.3)


def _no_data(ax, text: str = "no one was seen in this session") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")


def _engagement_section(session: Session, cast: Cast) -> str:
    tl = session.timeline

    def draw(ax) -> None:
        for tid in cast.top:
            at = tl["track_id"] == tid
            ax.plot(tl["t"][at], tl["engagement"][at], lw=0.8, alpha=0.6, label=plot_label(_label(session, tid)))
        if cast.n_others:
            ax.plot(*_mean_by_t(tl["t"][cast.others], tl["engagement"][cast.others]), lw=1.2, color="#888",
                    ls="--", label=cast.others_label)
        ax.plot(session.room["t"], session.room["engagement"], lw=2.5, color="black", label="room mean")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("engagement (0–1)")
        _time_axis(ax, session)
        if not cast.top:
            _no_data(ax)
        elif len(cast.top) <= 12:
            ax.legend(fontsize="small", ncols=min(len(cast.top) + 2, 7), loc="lower left")
    others = f" Dashed grey: the mean of the {cast.others_label} present least." if cast.n_others else ""
    body = img(png(draw), "engagement over time") + (
        f'<p class="note">Thick black: the room mean. Thin lines: one per person.{html.escape(others)}</p>')
    return section("engagement", "Engagement over time", body)


def _mean_by_t(t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(times, mean of the finite values at each)``, times ascending; NaN where none is finite."""
    times, slot = np.unique(t, return_inverse=True)
    finite = np.isfinite(values)
    total = np.bincount(slot, weights=np.where(finite, values, 0.0), minlength=len(times))
    count = np.bincount(slot, weights=finite, minlength=len(times))
    with np.errstate(invalid="ignore", divide="ignore"):
        return times, total / count


def _emotion_section(session: Session, cast: Cast) -> str:
    heading = "Emotion shares"
    if "emotion" not in session.features:
        return section("emotion", heading, '<p class="note">Emotion recognition was off for this session, '
                                            "so there is nothing to show here.</p>")
    rows = [("room", session.timeline["emotion"])] + _rows(session, cast, "emotion")
    shares = [_shares(labels) for _, labels in rows]

    def draw(ax) -> None:
        y = np.arange(len(rows))[::-1]
        left = np.zeros(len(rows))
        for k, emotion in enumerate(EMOTIONS):
            widths = np.array([s[k] for s in shares])
            ax.barh(y, widths, left=left, color=_EMOTION_COLOURS[emotion], label=emotion)
            left += widths
        ax.set_yticks(y, [plot_label(name) for name, _ in rows])
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of the seconds with a classified expression")
        ax.legend(fontsize="small", ncols=len(EMOTIONS), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    body = img(png(draw, 1.8 + 0.35 * len(rows)), "emotion shares") + (
        '<p class="note">Expressions are estimated from faces by a model: they show what faces looked like, '
        "not what people felt.</p>" + _valence_note(session))
    return section("emotion", heading, body)


def _shares(labels: np.ndarray) -> list[float]:
    labels = [str(v) for v in labels if v]
    return [100.0 * labels.count(e) / len(labels) if labels else 0.0 for e in EMOTIONS]


def _valence_note(session: Session) -> str:
    v, a = session.timeline["valence_est"], session.timeline["arousal_est"]
    if not np.isfinite(v).any():
        return ""
    return (f'<p class="note">Mean valence (estimate): {np.nanmean(v):+.2f}; mean arousal (estimate): '
            f"{np.nanmean(a):+.2f} (both on a −1..1 scale, derived from the expression probabilities).</p>")


def _rows(session: Session, cast: Cast, column: str) -> list[tuple[str, np.ndarray]]:
    """``[(label, the column's values)]`` for each person of the cast, then the others together."""
    tl = session.timeline
    rows = [(_label(session, tid), tl[column][tl["track_id"] == tid]) for tid in cast.top]
    return rows + ([(cast.others_label, tl[column][cast.others])] if cast.n_others else [])


def _attention_section(session: Session, cast: Cast) -> str:
    rows = _rows(session, cast, "attention")
    pct = [_mean_pct(values) for _, values in rows]

    def draw(ax) -> None:
        y = np.arange(len(rows))[::-1]
        ax.barh(y, pct, color="#1f77b4")
        for yi, p in zip(y, pct):
            inside = p > 90
            ax.text(p - 1 if inside else p + 1, yi, f"{p:.0f}%", va="center", fontsize="small",
                    ha="right" if inside else "left", color="white" if inside else "black")
        ax.set_yticks(y, [plot_label(name) for name, _ in rows])
        ax.set_xlim(0, 100)
        ax.set_xlabel("the person's mean attention (share of each last 10 s spent looking at the screen)")
        if not rows:
            _no_data(ax)
    body = img(png(draw, 1.5 + 0.35 * max(len(rows), 1)), "attention per person")
    return section("attention", "Attention per person", body)


def _away(session: Session, cast: Cast, every: float) -> str:
    """The "Why people looked away" section (:mod:`vcam.session.report_away`): the room, then the cast."""
    tl = session.timeline
    people = zip(_rows(session, cast, "looking"), _rows(session, cast, "away_reason"))
    rows = [tally("room", tl["looking"], tl["away_reason"])] + [tally(name, looking, why)
                                                                for (name, looking), (_, why) in people]
    return away_section(rows, every, "gaze" in session.features, calibrations(tl))


def _mean_pct(values: np.ndarray) -> float:
    """100 × the mean of the finite ``values``; 0 with none."""
    finite = values[np.isfinite(values)]
    return 100.0 * float(finite.mean()) if finite.size else 0.0


def _moments_section(session: Session, moments: list[tuple[float, float, float]], below: float,
                     min_duration: float) -> str:
    def draw(ax) -> None:
        ax.plot(session.room["t"], session.room["attention_pct"], color="#1f77b4", lw=1.5, drawstyle="steps-post")
        ax.axhline(below, color="#a40", lw=1, ls="--")
        for start, end, _ in moments:
            ax.axvspan(start, end, color="#d62728", alpha=0.2)
        ax.set_ylim(0, 102)
        ax.set_ylabel("room attention (%)")
        _time_axis(ax, session)
        if not len(session.room["t"]):
            _no_data(ax)
    rule = f"below {below:.0f}% for {min_duration:.0f} s or more"
    body = img(png(draw, 3.0), "room attention over time") + _moments_table(moments, rule)
    return section("attention-dips", "When the room's attention fell", body)


def _moments_table(moments: list[tuple[float, float, float]], rule: str) -> str:
    if not moments:
        return f'<p class="note">No moment where the room\'s attention stayed {html.escape(rule)}.</p>'
    rows = "".join(f"<tr><td>{clock(s)}</td><td>{clock(e)}</td><td>{e - s:.0f} s</td><td>{low:.0f}%</td></tr>"
                   for s, e, low in moments)
    return (f'<p>Shaded above: the moments the room\'s attention stayed {html.escape(rule)}.</p>'
            '<table class="moments"><tr><th>from</th><th>to</th><th>lasted</th><th>lowest</th></tr>'
            f"{rows}</table>")
