"""The live feed of a running vcam: snapshots in, events out to every dashboard.

:class:`FeedPublisher` is one of the daemon's listeners (like the session recorder): it turns
each :class:`~vcam.records.Snapshot` into events with a :class:`~vcam.feed.events.FeedBuilder`
and publishes them through a :class:`~vcam.feed.server.FeedServer`. It also says what changed
(a ``hello`` when a switch or the source changes) and how the daemon is (``status``).
"""

from __future__ import annotations

import logging
import threading
import time

from vcam.errors import VcamError
from vcam.feed import remove_dashboard_url, write_dashboard_url
from vcam.feed.events import FeedBuilder
from vcam.feed.server import FeedServer
from vcam.records import Privacy, Snapshot

log = logging.getLogger(__name__)

DEFAULT_FEED_PORT = 8765
"""The feed's port when none is configured (another free one when it is taken)."""


class FeedPublisher:
    """Feed events for one run, on 127.0.0.1. Its methods may be called from any thread.

    Args:
        features: the analysis features published at start.
        privacy: the privacy switches at start.
        source: the source spec at start.
        port: the port to serve on; None: :data:`DEFAULT_FEED_PORT`, else any free one; 0: any free one.

    Raises VcamError when the port asked for by number is taken, or when something that is not vcam's
    regular file (a planted link) is where the dashboard address goes.
    """

    def __init__(self, features: tuple[str, ...], privacy: Privacy, source: str, port: int | None) -> None:
        self.builder = FeedBuilder(features, privacy, source=source)
        self.server = _serve(port)
        self._lock = threading.Lock()  # one builder, driven from the analysis thread and the controls
        try:
            write_dashboard_url(self.server.url)
        except VcamError:
            self.server.stop()
            raise
        self.server.publish(self.builder.hello())
        log.info("dashboard: %s (or run 'vcam dashboard')", self.server.url)

    @property
    def url(self) -> str:
        """The dashboard's address, with its token."""
        return self.server.url

    def on_snapshot(self, snapshot: Snapshot) -> None:
        """Publish the events of one snapshot (a listener, on the analysis thread)."""
        with self._lock:
            events = self.builder.on_snapshot(snapshot)
        for event in events:
            self.server.publish(event)

    def announce(self, privacy: Privacy, source: str) -> None:
        """Send every client a ``hello`` with the privacy switches and the source as they are now."""
        with self._lock:
            self.builder.privacy, self.builder.source = privacy, source
            event = self.builder.hello()
        self.server.publish(event)

    def status(self, state: str, source: str, *, source_lost: int, stage_errors: int, message: str | None) -> None:
        """Publish the daemon's ``status`` when it changed (see :meth:`FeedBuilder.status`)."""
        with self._lock:
            event = self.builder.status(time.monotonic() - self.builder.started, state, source,
                                        source_lost=source_lost, stage_errors=stage_errors, message=message)
        if event is not None:
            self.server.publish(event)

    def stop(self) -> None:
        """Stop serving and forget the dashboard address."""
        self.server.stop()
        remove_dashboard_url(self.server.url)


def _serve(port: int | None) -> FeedServer:
    """The started feed server on ``port``; with None, :data:`DEFAULT_FEED_PORT` or else any free one."""
    try:
        return FeedServer(port=DEFAULT_FEED_PORT if port is None else port).start()
    except VcamError as err:
        if port is not None:
            raise
        log.warning("%s; using another free port", err)
        return FeedServer(port=0).start()
