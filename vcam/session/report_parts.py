"""The parts every HTML page of a session is made of: the page, its sections, and matplotlib plots as PNGs.

The session report (:mod:`vcam.session.report`, :mod:`vcam.session.report_away`) and the batch page
(:mod:`vcam.batch_page`) use them. matplotlib is imported only when a plot is drawn, on its Agg canvas
(no pyplot, no global state); each PNG is embedded as a base64 ``data:`` URI.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable


PAGE_STYLE = """body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
  color: #222; }
img { max-width: 100%; } table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: .3rem .7rem; text-align: right; }
.note { color: #666; font-style: italic; } .warn { color: #a40; }"""
"""The CSS of the report's page (the batch page's too)."""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
{style}
</style></head><body>
<h1>{title}</h1>
{summary}
{sections}
</body></html>
"""


def clock(seconds: float) -> str:
    """``seconds`` as ``m:ss`` (or ``h:mm:ss``)."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def section(ident: str, heading: str, body: str) -> str:
    """A <section> with an escaped <h2> ``heading`` over ``body`` (HTML)."""
    return f'<section id="{ident}"><h2>{html.escape(heading)}</h2>\n{body}\n</section>'


def img(png: str, alt: str) -> str:
    """An <img> of a base64 PNG, its ``alt`` escaped."""
    return f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt)}">'


def plot_label(text: str) -> str:
    """``text`` as matplotlib shows it literally: a ``$`` would start mathtext (and a stray one fails the plot)."""
    return text.replace("$", r"\$")


def _figure(height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("the session report needs matplotlib; install it with `pip install matplotlib`") from err
    fig = Figure(figsize=(9, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(draw: Callable, height: float = 3.5) -> str:
    """``draw(ax)`` on a new 9-inch-wide figure ``height`` inches high (100 dpi), as a base64 PNG."""
    fig = _figure(height)
    draw(fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")
