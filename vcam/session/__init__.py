"""The session: a timeline recorded while vcam runs, and a report made from it afterwards.

:class:`Recorder` writes a session folder (see :mod:`vcam.session.recorder` for the files and
columns); :func:`load_session` reads one back (:mod:`vcam.session.reader`); :func:`write_report`
turns one into a single self-contained HTML file with plots (needs matplotlib, imported only
when a report is made).
"""

from vcam.session.reader import Session, load_session
from vcam.session.recorder import ROOM_COLUMNS, TIMELINE_COLUMNS, Recorder, SessionError, new_session_dir
from vcam.session.report import low_attention_moments, write_report

__all__ = ["ROOM_COLUMNS", "TIMELINE_COLUMNS", "Recorder", "Session", "SessionError", "load_session",
           "low_attention_moments", "new_session_dir", "write_report"]
