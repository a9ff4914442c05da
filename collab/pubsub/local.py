"""In-process pub/sub: the default for one node, and a way to run several nodes in one process."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

log = logging.getLogger(__name__)


class LocalBroker:
    """Shared by every LocalPubSub that should hear each other."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._subscribers: dict[str, set[tuple[str, asyncio.Queue[bytes]]]] = {}
        self._queue_size = queue_size

    def publish(self, node_id: str, topic: str, payload: bytes) -> None:
        for owner, queue in self._subscribers.get(topic, ()):
            if owner == node_id:
                continue
            try:
                queue.put_nowait(payload)
            except asyncio.QueueFull:
                # The subscriber is stuck; CRDT catch-up from the log covers what it misses.
                log.warning("pub/sub subscriber on %s is full; message dropped", topic)

    @asynccontextmanager
    async def subscribe(self, node_id: str, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(self._queue_size)
        entry = (node_id, queue)
        self._subscribers.setdefault(topic, set()).add(entry)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            subscribers = self._subscribers[topic]
            subscribers.discard(entry)
            if not subscribers:
                del self._subscribers[topic]


class LocalPubSub:
    def __init__(self, broker: LocalBroker | None = None, node_id: str | None = None) -> None:
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self._broker = broker or LocalBroker()

    def publish(self, topic: str, payload: bytes) -> None:
        self._broker.publish(self.node_id, topic, payload)

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._broker.subscribe(self.node_id, topic)
