"""``OUT/index.html``: one self-contained page comparing the recordings of a ``vcam batch``.

Made from ``OUT/index.json`` and each done recording's ``analysis.json`` after the batch, and replaced
atomically. The plots are the session report's (matplotlib PNGs inlined as ``data:`` URIs,
:mod:`vcam.session.report_parts`), so the page opens offline and can be mailed. Sections:

- **Recordings**: one row each, status (a failed one with vcam's error), length, people, mean attention
  and engagement, and links to its own analysis and report.
- **Over each recording**: the room's attention (%) and engagement (× 100) at every analysed frame, one
  small plot per recording, the moments attention fell shaded.
- **People across recordings**: each person by participant name (read from the meeting's tiles) or
  enrolled name, and their mean attention in each recording they were seen in; unnamed faces are counted.
- **When attention fell**: every span where a recording's room attention stayed under
  :data:`vcam.records.LOW_ATTENTION_PCT` for :data:`vcam.records.LOW_FOR_S` or more (the dashboard's and the
  report's rule).

Every name (a recording's, a person's, an error) is HTML-escaped, and drawn literally in plots.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcam.files import write_text_atomic
from vcam.records import LOW_ATTENTION_PCT, LOW_FOR_S
from vcam.session.report import low_attention_moments
from vcam.session.report_parts import PAGE_STYLE, clock, img, png, section

log = logging.getLogger(__name__)

PAGE_FILE = "index.html"


@dataclass(frozen=True)
class Curve:
    """One done recording's room over time: ``t`` ``(F,)`` seconds of the analysed frames, ``attention`` ``(F,)``
    percent and ``engagement`` ``(F,)`` 0..1 (NaN where nobody was there), and its people: ``{label: mean
    attention 0..1 or None}`` by participant or enrolled name, plus how many tracks had no name."""

    t: np.ndarray
    attention: np.ndarray
    engagement: np.ndarray
    people: dict[str, float | None]
    unnamed: int

    @classmethod
    def of(cls, document: Mapping) -> Curve:
        """The curve of an analyze ``document`` (``vcam/schemas/analyze.schema.json``)."""
        rooms = [(f["t"], f.get("room") or {}) for f in document["frames"]]
        t = np.array([ti for ti, _ in rooms], float)
        attention = np.array([_nan(r.get("attention_pct")) for _, r in rooms], float)
        engagement = np.array([_nan(r.get("engagement")) for _, r in rooms], float)
        people: dict[str, list[float]] = {}
        unnamed = 0
        for track in document["tracks"]:
            label = track.get("participant") or track.get("name")
            if label is None:
                unnamed += 1
                continue
            people.setdefault(label, []).extend([] if track.get("attention") is None else [track["attention"]])
        return cls(t, attention, engagement, {k: float(np.mean(v)) if v else None for k, v in people.items()}, unnamed)

    def moments(self) -> list[tuple[float, float, float]]:
        """``(start, end, lowest %)`` of each span attention stayed low (see the module docstring)."""
        step = float(np.median(np.diff(self.t))) if len(self.t) > 1 else 1.0
        return low_attention_moments(self.t, self.attention, every=step)


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def write_page(out: Path, entries: Mapping[str, dict]) -> Path:
    """Write ``out/index.html`` for the index ``entries`` (by name) atomically (0600) and return its path.

    A done recording whose analysis cannot be read is shown without its plots, with a note.
    """
    curves = {name: _curve(out, e) for name, e in sorted(entries.items()) if e["status"] == "done"}
    sections = [_recordings(entries, curves), _over_time(curves), _people(curves), _moments(curves)]
    page = _PAGE.format(title=html.escape(f"vcam batch: {len(entries)} recordings"), sections="\n".join(sections),
                        style=PAGE_STYLE)
    path = out / PAGE_FILE
    write_text_atomic(path, page, advice="choose another folder with --out")
    log.info("batch: wrote %s", path)
    return path


def _curve(out: Path, entry: dict) -> Curve | None:
    try:
        return Curve.of(json.loads((out / entry["outputs"]["analysis"]).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("batch page: the analysis of %s cannot be read (%s); it is shown without plots", entry["name"], err)
        return None


def _recordings(entries: Mapping[str, dict], curves: Mapping[str, Curve | None]) -> str:
    rows = "".join(_row(entries[name], name in curves and curves[name] is None) for name in sorted(entries))
    table = ("<table><tr><th>recording</th><th>status</th><th>length</th><th>people</th><th>attention</th>"
             f"<th>engagement</th><th>outputs</th></tr>{rows}</table>")
    return section("recordings", "Recordings", table)


def _row(e: dict, unreadable: bool) -> str:
    name = html.escape(e["name"])
    if e["status"] != "done":
        return (f'<tr class="failed"><th>{name}</th><td>failed</td>'
                f'<td colspan="5" class="error">{html.escape(e.get("error") or "unknown error")}</td></tr>')
    links = " ".join(f'<a href="{html.escape(path, quote=True)}">{kind}</a>' for kind, path in e["outputs"].items())
    note = ' <span class="note">(its analysis cannot be read)</span>' if unreadable else ""
    return (f'<tr class="done"><th>{name}</th><td>done{note}</td><td>{clock(e["duration_s"])}</td>'
            f"<td>{e['people']}</td><td>{_pct(e.get('attention'))}</td><td>{_pct(e.get('engagement'))}</td>"
            f"<td>{links}</td></tr>")


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f}%"


def _over_time(curves: Mapping[str, Curve | None]) -> str:
    drawn = [(name, c) for name, c in curves.items() if c is not None]
    if not drawn:
        return section("over-time", "Over each recording", '<p class="note">No recording was analysed.</p>')
    body = "".join(f"<h3>{html.escape(name)}</h3>" + img(png(lambda ax, c=c: _draw(ax, c), 2.2),
                                                        f"attention and engagement over {name}")
                   for name, c in drawn)
    note = ('<p class="note">Blue: the room\'s attention (% of the people present, each over their last 10 s); '
            f"green: its engagement × 100; shaded: attention under {LOW_ATTENTION_PCT:.0f}% for "
            f"{LOW_FOR_S:.0f} s or more.</p>")
    return section("over-time", "Over each recording", note + body)


def _draw(ax, c: Curve) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.plot(c.t, c.attention, color="#1f77b4", lw=1.2, label="attention %")
    ax.plot(c.t, 100 * c.engagement, color="#2ca02c", lw=1.0, alpha=0.8, label="engagement × 100")
    for start, end, _ in c.moments():
        ax.axvspan(start, end, color="#d62728", alpha=0.2)
    ax.set_ylim(0, 102)
    ax.set_xlim(0, max(float(c.t[-1]) if len(c.t) else 0.0, 1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock(max(x, 0))))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")


def _people(curves: Mapping[str, Curve | None]) -> str:
    drawn = {name: c for name, c in curves.items() if c is not None}
    everyone = sorted({p for c in drawn.values() for p in c.people}, key=lambda p: (-_seen_in(p, drawn), p))
    if not everyone:
        return section("people", "People across recordings",
                       '<p class="note">No one was named (participant names off or unreadable, identity off).</p>')
    head = "".join(f"<th>{html.escape(name)}</th>" for name in drawn)
    rows = "".join(f"<tr><th>{html.escape(p)}</th><td>{_seen_in(p, drawn)}</td>"
                   + "".join(f"<td>{_cell(c, p)}</td>" for c in drawn.values()) + "</tr>" for p in everyone)
    unnamed = "".join(f"<td>{c.unnamed or ''}</td>" for c in drawn.values())
    table = (f"<table><tr><th>person</th><th>recordings</th>{head}</tr>{rows}"
             f'<tr class="note"><th>unnamed faces</th><td></td>{unnamed}</tr></table>')
    return section("people", "People across recordings",
                   '<p class="note">Each cell: the person\'s mean attention in that recording.</p>' + table)


def _seen_in(person: str, curves: Mapping[str, Curve]) -> int:
    return sum(person in c.people for c in curves.values())


def _cell(c: Curve, person: str) -> str:
    return _pct(c.people[person]) if person in c.people else ""


def _moments(curves: Mapping[str, Curve | None]) -> str:
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{clock(s)}</td><td>{clock(e)}</td><td>{e - s:.0f} s</td>"
                   f"<td>{low:.0f}%</td></tr>"
                   for name, c in curves.items() if c is not None for s, e, low in c.moments())
    rule = f"under {LOW_ATTENTION_PCT:.0f}% for {LOW_FOR_S:.0f} s or more"
    if not rows:
        return section("attention-dips", "When attention fell",
                       f'<p class="note">In no recording did the room\'s attention stay {html.escape(rule)}.</p>')
    return section("attention-dips", "When attention fell",
                   f"<p>Each span where the room's attention stayed {html.escape(rule)}.</p>"
                   "<table><tr><th>recording</th><th>from</th><th>to</th><th>lasted</th><th>lowest</th></tr>"
                   f"{rows}</table>")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
{style}
tr.failed {{ color: #a40; }} .error {{ text-align: left; }}
</style></head><body>
<h1>{title}</h1>
{sections}
</body></html>
"""
