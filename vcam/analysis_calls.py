"""Calls made on the analysis thread at its next frame, answered to the thread that asked.

The stages keep per-track state that only the analysis thread touches (no locks in them). When the tray
(or a test) needs to act on that state, e.g. calibrate the gaze stage, it hands a function of the
:class:`~vcam.pipeline.Analyzer` to :meth:`AnalysisCalls.ask`; the analysis thread runs it after its
next frame (:meth:`AnalysisCalls.run`) and the asker gets the function's result or its exception.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, TypeVar

from vcam.errors import VcamError

if TYPE_CHECKING:
    from vcam.pipeline import Analyzer

T = TypeVar("T")


class AnalysisCalls:
    """A queue of ``(function of the Analyzer, Future)`` pairs, emptied by the analysis thread."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[Analyzer], object], Future]] = queue.SimpleQueue()

    def ask(self, call: Callable[[Analyzer], T], what: str, timeout: float = 3.0) -> T:
        """Run ``call(analyzer)`` on the analysis thread after its next frame; its result, or what it raised.

        Raises VcamError naming ``what`` when no frame was analysed within ``timeout`` seconds (the call
        is then dropped, never run late).
        """
        future: Future = Future()
        self._calls.put((call, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            if future.cancel():
                raise VcamError(f"{what} did not happen: no frame was analysed for {timeout:g} s; "
                                "check that the source delivers pictures (the tray's title says) and try again") from None
            return future.result()  # it started just now: wait for it

    def run(self, analyzer: Analyzer) -> None:
        """Answer every waiting call with ``analyzer`` (on the analysis thread)."""
        while True:
            try:
                call, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue  # its asker stopped waiting
            try:
                future.set_result(call(analyzer))
            except Exception as err:  # noqa: BLE001 - the asker gets it, the analysis goes on
                future.set_exception(err)
