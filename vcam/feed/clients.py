"""One feed client's side of the fan-out: a queue bounded by kind, and the client it belongs to.

The feed server (:mod:`vcam.feed.server`) offers every event to each :class:`Client`'s
:class:`ClientQueue` on the loop thread, and one send task per client drains it. The queue is
where a slow client's backlog is bounded: stale ``audience`` snapshots are dropped, other events
are kept, and a client that lets too many of those pile up is reported as not reading.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection


class ClientQueue:
    """One client's ``asyncio.Queue`` of ``(type, json text)``, bounded by kind; used on the loop thread only.

    It holds at most ``size`` ``audience`` snapshots (a newer one replaces the
    oldest: a slow client sees fewer, fresher snapshots) and at most ``keep``
    other events (hello, alert, status), which are never dropped. Those come in
    bursts (9 people "arrive" together when a 3x3 gallery starts), so ``keep``
    is far larger than one burst; a client that lets ``keep`` of them pile up is
    not reading, and :meth:`offer` says so (the server closes it).
    """

    def __init__(self, size: int, keep: int = 64) -> None:
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # bounded by offer()
        self.size, self.keep = size, keep
        self.high_water = 0  # most snapshots ever queued at once
        self.dropped = 0
        self._snapshots = 0  # queued now, by kind
        self._others = 0

    def offer(self, kind: str, text: str) -> bool:
        """Enqueue, dropping the oldest snapshot past ``size``. False (nothing queued) past ``keep`` other events."""
        snapshot = kind == "audience"
        if not snapshot and self._others >= self.keep:
            return False
        if snapshot and self._snapshots >= self.size:
            self._drop_oldest_snapshot()
        self.queue.put_nowait((kind, text))
        self._snapshots += snapshot
        self._others += not snapshot
        self.high_water = max(self.high_water, self._snapshots)
        return True

    async def get(self) -> tuple[str, str]:
        """The next ``(type, json text)``, waiting for one."""
        kind, text = await self.queue.get()
        if kind == "audience":
            self._snapshots -= 1
        else:
            self._others -= 1
        return kind, text

    def _drop_oldest_snapshot(self) -> None:
        items = [self.queue.get_nowait() for _ in range(self.queue.qsize())]  # at most size + keep
        del items[next(i for i, (k, _) in enumerate(items) if k == "audience")]
        for item in items:
            self.queue.put_nowait(item)
        self._snapshots -= 1
        self.dropped += 1


@dataclass(eq=False)
class Client:
    """One open feed client: its connection, its queue, and the task that sends from the queue."""

    ws: ServerConnection
    queue: ClientQueue
    sender: asyncio.Task | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """``host:port`` of the client, for the log ("?" once the socket is gone)."""
        address = self.ws.remote_address
        return f"{address[0]}:{address[1]}" if address else "?"
