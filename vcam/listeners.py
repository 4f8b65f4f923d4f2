"""Who hears about each analysed frame: the daemon's snapshot listeners, the recording among them.

A listener is any ``Callable[[Snapshot], None]`` (:class:`vcam.feed.publisher.FeedPublisher`'s
``on_snapshot``, :class:`vcam.session.Recorder`'s ``on_snapshot``). They are called on the
analysis thread, one after another; one that cannot write (a SessionError) is dropped and the
others go on, so a full disk stops the recording, never the video or the feed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from vcam.errors import SessionError
from vcam.records import Snapshot
from vcam.session import Recorder, new_session_dir

log = logging.getLogger(__name__)

Listener = Callable[[Snapshot], None]


class Listeners:
    """The listeners of one run, and its recording. Methods may be called from any thread."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.recorder: Recorder | None = None
        self._lock = threading.RLock()

    def add(self, listener: Listener) -> None:
        """Hear every snapshot from now on."""
        with self._lock:
            self._listeners.append(listener)

    def tell(self, snapshot: Snapshot) -> None:
        """Hand ``snapshot`` to every listener; drop one that cannot write."""
        with self._lock:
            for listener in list(self._listeners):
                try:
                    listener(snapshot)
                except SessionError as err:
                    log.error("%s; recording stopped, the video goes on", err)
                    self._drop(listener)

    def start_recording(self, folder: str | None, *, features: tuple[str, ...], source: str) -> Path:
        """Record the session timeline to ``folder`` (None or ``"auto"``: a new folder in the user data dir).

        Raises SessionError when a recording is already running or the folder cannot be written.
        """
        with self._lock:
            if self.recorder is not None:
                raise SessionError(f"already recording to {self.recorder.folder}; stop that recording first")
            path = Path(folder) if folder not in (None, "auto") else new_session_dir()
            recorder = Recorder(path, features=features, source=source)
            recorder.open()
            self.recorder = recorder
            self._listeners.append(recorder.on_snapshot)
        return path

    def stop_recording(self) -> Path | None:
        """Stop recording and flush it to disk; returns its folder (None when not recording)."""
        with self._lock:
            recorder, self.recorder = self.recorder, None
            if recorder is None:
                return None
            self._listeners.remove(recorder.on_snapshot)
            recorder.close()
        log.info("session saved; see it with: vcam report %s --out report.html", recorder.folder)
        return recorder.folder

    def _drop(self, listener: Listener) -> None:
        """Remove a failed listener; a recorder's files are closed (it already said why it failed)."""
        self._listeners.remove(listener)
        recorder = self.recorder
        if recorder is not None and listener == recorder.on_snapshot:
            self.recorder = None
            try:
                recorder.close()
            except SessionError as err:
                log.debug("closing the failed recording: %s", err)
